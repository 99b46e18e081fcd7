"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import { EDIT_WINDOW_SECONDS } from "@/lib/config";
import { lastEditable } from "@/lib/messages";
import * as api from "@/lib/api";
import { chatTitle, typingText } from "@/lib/chats";
import type { UiMessage } from "@/lib/types";
import { describeError } from "@/lib/errors";
import { pluralize } from "@/lib/utils";
import { useConversation } from "@/hooks/use-conversation";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime, useSocketEvent } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button, IconButton } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { ArrowLeftIcon, BellOffIcon, InfoIcon, SearchIcon } from "@/components/ui/icons";
import { Spinner } from "@/components/ui/spinner";
import { ChatSearchPanel } from "@/components/search/chat-search-panel";
import { useBlockState } from "@/hooks/use-block-state";
import { onJumpRequest, takeJump } from "@/lib/jump";
import { isMuted } from "@/lib/mute";
import { BlockedNotice } from "./blocked-notice";
import { ChatDetailsPanel } from "./chat-details";
import { ChatMenu } from "./chat-menu";
import { Composer } from "./composer";
import { Lightbox, type LightboxImage } from "./lightbox";
import { MessageList } from "./message-list";
import { TypingIndicator } from "./typing-indicator";

export interface ConversationProps {
  chatId: string;
  onBack: () => void;
  /** After leaving the group. */
  onLeft: () => void;
}

export function Conversation({ chatId, onBack, onLeft }: ConversationProps) {
  const { user } = useSession();
  const { chats, typing, people, rememberPeople, patchChat } = useChats();
  const { online, epoch } = useRealtime();
  const convo = useConversation(chatId);
  const [details, setDetails] = useState<api.ChatDetails | null>(null);
  const [showDetails, setShowDetails] = useState(false);
  const [lightbox, setLightbox] = useState<LightboxImage | null>(null);
  const [replyTo, setReplyTo] = useState<UiMessage | null>(null);
  const [editing, setEditing] = useState<UiMessage | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<UiMessage | null>(null);
  const [deleting, setDeleting] = useState(false);
  const [searching, setSearching] = useState(false);
  const [confirmBlock, setConfirmBlock] = useState(false);
  const [highlightId, setHighlightId] = useState<string | null>(null);
  /** A short note for what just happened ("Copied", or why an action failed). */
  const [notice, setNotice] = useState<string | null>(null);
  const noticeTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const highlightTimer = useRef<ReturnType<typeof setTimeout> | null>(null);

  const entry = chats.find((e) => e.chat._id === chatId) ?? null;
  // Counted before opening the chat marks its messages seen: where the unread divider goes.
  const [unreadAtOpen] = useState(() => entry?.chat.unseenCount ?? 0);
  // More unread than one page: older pages load first, so the divider marks the first of them.
  const [unreadLoaded, setUnreadLoaded] = useState(unreadAtOpen === 0);
  const { status: loadStatus, ensureUnreadLoaded } = convo;
  useEffect(() => {
    if (unreadLoaded || loadStatus !== "ready") return;
    let live = true;
    void ensureUnreadLoaded(unreadAtOpen).finally(() => {
      if (live) setUnreadLoaded(true);
    });
    return () => {
      live = false;
    };
  }, [unreadLoaded, loadStatus, ensureUnreadLoaded, unreadAtOpen]);

  const loadDetails = useCallback(async () => {
    try {
      const result = await api.getChat(chatId);
      setDetails(result);
      rememberPeople(result.members ?? []);
    } catch {
      // The message view reports access problems; details stay as they were.
    }
  }, [chatId, rememberPeople]);

  useEffect(() => {
    if (!convo.removed) void loadDetails();
    // A removal is final for this view; only a reconnect or a change reloads the details.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [loadDetails, epoch]);

  useSocketEvent("chatUpdated", (event) => {
    if (event?.chatId === chatId && !convo.removed) void loadDetails();
  });

  useEffect(
    () => () => {
      if (noticeTimer.current) clearTimeout(noticeTimer.current);
      if (highlightTimer.current) clearTimeout(highlightTimer.current);
    },
    [],
  );

  const say = useCallback((text: string) => {
    setNotice(text);
    if (noticeTimer.current) clearTimeout(noticeTimer.current);
    noticeTimer.current = setTimeout(() => setNotice(null), 4000);
  }, []);

  // Removed from the group (or left it in another tab): the history stays readable, nothing else.
  useEffect(() => {
    if (!convo.removed) return;
    setReplyTo(null);
    setEditing(null);
    setConfirmDelete(null);
    setShowDetails(false);
  }, [convo.removed]);

  const isGroup = details?.chat.isGroup ?? entry?.chat.isGroup ?? false;
  const members = details?.members ?? [];
  const other = isGroup ? null : (entry?.user ?? members.find((m) => m._id !== user._id) ?? null);
  const title = entry
    ? chatTitle(entry)
    : details
      ? chatTitle({ chat: details.chat, user: other })
      : "";
  const seed = isGroup ? chatId : (other?._id ?? chatId);
  const block = useBlockState(isGroup ? null : (other?._id ?? null), epoch);
  const blocked = !isGroup && (block.blocking || block.blockedBy);
  const muted = isMuted(entry?.chat.mutedUntil);
  // A send refused because of a block: the composer gives way to the notice.
  const refusedSends = convo.messages.filter(
    (m) => m.status === "failed" && m.failedStatus === 403,
  ).length;
  const recheckBlock = block.refresh;
  useEffect(() => {
    if (refusedSends > 0) void recheckBlock();
  }, [refusedSends, recheckBlock]);

  const typingIds = typing[chatId] ?? [];
  const typingNames: Record<string, string> = {};
  for (const id of typingIds)
    typingNames[id] = people.get(id)?.name ?? (other?._id === id ? other.name : "Someone");
  const typingLine = typingText(typingIds, typingNames, isGroup);

  const otherOnline = Boolean(other && online.has(other._id));
  const onlineMembers = members.filter((m) => m._id !== user._id && online.has(m._id)).length;
  const subtitle = isGroup
    ? members.length
      ? `${pluralize(members.length, "member", "members")}${onlineMembers ? `, ${onlineMembers} online` : ""}`
      : "Group"
    : otherOnline
      ? "Online"
      : (other?.email ?? "");

  const openImage = useCallback(
    (message: UiMessage) => {
      if (!message.image?.url) return;
      const who =
        message.sender === user._id ? "you" : (people.get(message.sender)?.name ?? "someone");
      setLightbox({
        url: message.image.url,
        alt: message.text || `Image from ${who}`,
        caption: message.text || undefined,
      });
    },
    [people, user._id],
  );

  const nameOf = useCallback(
    (id: string) => (id === user._id ? "You" : (people.get(id)?.name ?? "Someone")),
    [people, user._id],
  );
  const isAdmin = Boolean(details?.chat.admins?.includes(user._id));

  const onReply = useCallback((message: UiMessage) => {
    setEditing(null);
    setReplyTo(message);
  }, []);
  const onEdit = useCallback((message: UiMessage) => {
    setReplyTo(null);
    setEditing(message);
  }, []);
  const onDelete = useCallback((message: UiMessage) => setConfirmDelete(message), []);
  const { react, edit, remove, ensureLoaded, send } = convo;
  const onReact = useCallback(
    (message: UiMessage, emoji: string, on: boolean) => {
      void react(message._id, emoji, on).then((problem) => problem && say(problem));
    },
    [react, say],
  );
  const onCopy = useCallback(
    (message: UiMessage) => {
      navigator.clipboard
        ?.writeText(message.text ?? "")
        .then(() => say("Copied"))
        .catch(() => say("Couldn't copy the text."));
    },
    [say],
  );
  /** The message a quote was clicked for; scrolled to once it is on the page. */
  const [jumpTarget, setJumpTarget] = useState<string | null>(null);
  const onJumpTo = useCallback(
    (messageId: string, missing = "The original message is no longer available.") => {
      void ensureLoaded(messageId).then((found) => {
        if (found) setJumpTarget(messageId);
        else say(missing);
      });
    },
    [ensureLoaded, say],
  );
  // A search result of this chat was chosen (here or in the chat list): show it once loaded.
  const ready = convo.status === "ready";
  useEffect(() => {
    if (!ready) return;
    const take = () => {
      const messageId = takeJump(chatId);
      if (messageId) onJumpTo(messageId, "That message is no longer available.");
    };
    take();
    return onJumpRequest(take);
  }, [ready, chatId, onJumpTo]);
  // After the render that put the original on the page (older history may just have been added).
  useEffect(() => {
    if (!jumpTarget) return;
    const el = document.querySelector<HTMLElement>(`[data-message-id="${CSS.escape(jumpTarget)}"]`);
    if (!el) return;
    el.scrollIntoView({ block: "center" });
    setJumpTarget(null);
    setHighlightId(jumpTarget);
    if (highlightTimer.current) clearTimeout(highlightTimer.current);
    highlightTimer.current = setTimeout(() => setHighlightId(null), 2000);
  }, [jumpTarget, convo.messages]);
  const sendWithReply = useCallback(
    (text: string, image: Parameters<typeof send>[1]) => {
      send(text, image, replyTo);
      setReplyTo(null);
    },
    [send, replyTo],
  );
  const editLast = useCallback(() => {
    const target = lastEditable(convo.messages, user._id, EDIT_WINDOW_SECONDS);
    if (target) onEdit(target);
    return Boolean(target);
  }, [convo.messages, user._id, onEdit]);

  async function setBlocked(value: boolean) {
    if (!other) return;
    try {
      if (value) await api.blockUser(other._id);
      else await api.unblockUser(other._id);
      block.setBlocking(value);
      say(value ? `You blocked ${other.name}` : `You unblocked ${other.name}`);
      if (!value) void block.refresh();
    } catch (err) {
      say(describeError(err, "chat"));
    }
  }

  async function confirmDeletion() {
    if (!confirmDelete) return;
    setDeleting(true);
    const problem = await remove(confirmDelete._id);
    setDeleting(false);
    if (editing?._id === confirmDelete._id) setEditing(null);
    setConfirmDelete(null);
    if (problem) say(problem);
  }

  const noAccess =
    convo.status === "error" && (convo.errorStatus === 403 || convo.errorStatus === 404);

  return (
    <div className="relative flex min-h-0 flex-1">
      <section
        data-drop-zone
        aria-label={title ? `Conversation with ${title}` : "Conversation"}
        className="flex min-w-0 flex-1 flex-col"
      >
        <header className="flex h-16 shrink-0 items-center gap-2 border-b border-border bg-surface px-2 sm:px-4">
          <IconButton
            label="Back to chats"
            onClick={onBack}
            className="md:hidden"
            data-testid="back-button"
          >
            <ArrowLeftIcon />
          </IconButton>
          {title ? (
            <button
              type="button"
              onClick={() => setShowDetails((v) => !v)}
              className="flex min-w-0 flex-1 items-center gap-3 rounded-lg p-1 text-left hover:bg-surface-2"
            >
              <Avatar
                name={title}
                seed={seed}
                image={other}
                size="md"
                online={!isGroup && otherOnline}
              />
              <span className="min-w-0">
                <span className="block truncate font-semibold" data-testid="conversation-title">
                  {title}
                </span>
                <span
                  className={
                    typingLine
                      ? "block truncate text-xs text-accent"
                      : "block truncate text-xs text-muted"
                  }
                >
                  {muted && !typingLine ? (
                    <span data-testid="conversation-muted">
                      <BellOffIcon size={12} className="mr-1 inline align-[-1px]" />
                      <span className="sr-only">Muted. </span>
                    </span>
                  ) : null}
                  {typingLine || subtitle || "\u00a0"}
                </span>
                <span className="sr-only">, show {isGroup ? "group" : "chat"} details</span>
              </span>
            </button>
          ) : (
            <div className="flex flex-1 items-center gap-3 p-1" aria-hidden="true">
              <div className="h-10 w-10 animate-pulse rounded-full bg-surface-2" />
              <div className="h-4 w-32 animate-pulse rounded bg-surface-2" />
            </div>
          )}
          <IconButton
            label="Search in this chat"
            aria-expanded={searching}
            onClick={() => setSearching((v) => !v)}
            data-testid="chat-search-button"
          >
            <SearchIcon />
          </IconButton>
          <IconButton
            label={isGroup ? "Group details" : "Chat details"}
            aria-expanded={showDetails}
            onClick={() => setShowDetails((v) => !v)}
            data-testid="chat-details-button"
          >
            <InfoIcon />
          </IconButton>
          <ChatMenu
            chatId={chatId}
            isGroup={isGroup}
            other={other}
            mutedUntil={entry?.chat.mutedUntil}
            blocking={block.blocking}
            onMuted={(until) => patchChat(chatId, { mutedUntil: until })}
            onBlock={(value) => (value ? setConfirmBlock(true) : void setBlocked(false))}
            say={say}
          />
        </header>
        {searching ? (
          <ChatSearchPanel
            chatId={chatId}
            onChoose={(messageId) => {
              setSearching(false);
              onJumpTo(messageId, "That message is no longer available.");
            }}
            onClose={() => {
              setSearching(false);
              document.querySelector<HTMLElement>('[data-testid="chat-search-button"]')?.focus();
            }}
          />
        ) : null}

        {convo.status === "loading" ? (
          <div className="flex flex-1 items-center justify-center text-muted">
            <Spinner label="Loading messages" />
          </div>
        ) : convo.status === "error" ? (
          <div
            role="alert"
            className="flex flex-1 flex-col items-center justify-center gap-3 p-6 text-center"
          >
            <p className="font-medium">{noAccess ? "You're not in this chat." : convo.error}</p>
            {noAccess ? (
              <p className="text-sm text-muted">
                It may have been deleted, or you were removed from the group.
              </p>
            ) : null}
            <div className="flex gap-2">
              <Button variant="secondary" onClick={onBack}>
                Back to chats
              </Button>
              {noAccess ? null : <Button onClick={() => void convo.reload()}>Try again</Button>}
            </div>
          </div>
        ) : (
          <>
            {convo.messages.length === 0 ? (
              <div className="relative flex flex-1 flex-col items-center justify-center gap-2 p-6 text-center">
                <Avatar name={title || "?"} seed={seed} image={other} size="xl" />
                <p className="mt-2 font-medium">
                  {isGroup ? `Welcome to ${title}` : `This is the start of your chat with ${title}`}
                </p>
                <p className="text-sm text-muted">Say hello 👋</p>
                <TypingIndicator text={typingLine} />
              </div>
            ) : (
              <MessageList
                messages={convo.messages}
                myId={user._id}
                isGroup={isGroup}
                people={people}
                hasMore={convo.hasMore}
                loadingOlder={convo.loadingOlder}
                onLoadOlder={convo.loadOlder}
                onRetry={convo.retry}
                onDiscard={convo.discard}
                onOpenImage={openImage}
                isAdmin={isAdmin}
                highlightId={highlightId}
                onReply={onReply}
                onEdit={onEdit}
                onDelete={onDelete}
                onReact={onReact}
                onCopy={onCopy}
                onJumpTo={onJumpTo}
                footer={<TypingIndicator text={typingLine} />}
                unreadAtOpen={unreadAtOpen}
                unreadLoaded={unreadLoaded}
              />
            )}
            <p
              role="status"
              aria-live="polite"
              className="sr-only"
              data-testid="conversation-notice"
            >
              {notice ?? ""}
            </p>
            {notice ? (
              <p
                aria-hidden="true"
                className="mx-auto -mt-10 mb-2 rounded-full bg-fg/85 px-3 py-1 text-xs text-bg shadow"
              >
                {notice}
              </p>
            ) : null}
            {convo.removed ? (
              <div
                role="status"
                data-testid="removed-notice"
                className="shrink-0 border-t border-border bg-surface px-4 py-3 text-center text-sm"
              >
                <p className="font-medium">You&apos;re no longer a member of this group.</p>
                <p className="text-muted">
                  You can read what was said until you close it; it has left your chat list.
                </p>
                <Button variant="secondary" className="mt-2" onClick={onBack}>
                  Back to chats
                </Button>
              </div>
            ) : blocked ? (
              <BlockedNotice
                name={other?.name ?? title}
                blocking={block.blocking}
                onUnblock={() => void setBlocked(false)}
                onCheckAgain={block.refresh}
              />
            ) : (
              <Composer
                chatId={chatId}
                onSend={sendWithReply}
                replyTo={replyTo ? { message: replyTo, name: nameOf(replyTo.sender) } : null}
                onCancelReply={() => setReplyTo(null)}
                editing={editing}
                onCancelEdit={() => setEditing(null)}
                onSaveEdit={(text) => (editing ? edit(editing._id, text) : Promise.resolve(null))}
                onEditLast={editLast}
              />
            )}
          </>
        )}
      </section>

      {showDetails ? (
        <ChatDetailsPanel
          chatId={chatId}
          details={details}
          fallbackTitle={title}
          other={other}
          onClose={() => setShowDetails(false)}
          onChanged={(next) => setDetails(next)}
          onReload={loadDetails}
          onLeft={onLeft}
        />
      ) : null}
      <Lightbox image={lightbox} onClose={() => setLightbox(null)} />
      <Dialog
        open={confirmBlock}
        onClose={() => setConfirmBlock(false)}
        title={`Block ${other?.name ?? "this person"}?`}
        description="They won't be able to message you or start a chat with you, or see when you're online or typing. You won't be able to message them either."
        data-testid="block-dialog"
      >
        <div className="flex justify-end gap-2 px-5 pt-2 pb-5">
          <Button variant="secondary" onClick={() => setConfirmBlock(false)}>
            Cancel
          </Button>
          <Button
            variant="danger"
            onClick={() => {
              setConfirmBlock(false);
              void setBlocked(true);
            }}
            data-testid="confirm-block"
          >
            Block
          </Button>
        </div>
      </Dialog>
      <Dialog
        open={confirmDelete !== null}
        onClose={() => setConfirmDelete(null)}
        title="Delete this message?"
        description="It will be deleted for everyone in this chat. This can't be undone."
        data-testid="delete-dialog"
      >
        <div className="flex justify-end gap-2 px-5 pt-2 pb-5">
          <Button variant="secondary" onClick={() => setConfirmDelete(null)}>
            Cancel
          </Button>
          <Button
            variant="danger"
            onClick={() => void confirmDeletion()}
            disabled={deleting}
            data-testid="confirm-delete"
          >
            Delete for everyone
          </Button>
        </div>
      </Dialog>
    </div>
  );
}
