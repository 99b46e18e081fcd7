"use client";

import Link from "next/link";
import {
  useCallback,
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
} from "react";
import { draftsSnapshot, onDraftsChange, parseDrafts } from "@/lib/drafts";
import { namingOffered, offerNaming } from "@/lib/session";
import { filterChats, typingText } from "@/lib/chats";
import { cn } from "@/lib/utils";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button, IconButton } from "@/components/ui/button";
import { LogOutIcon, MessagePlusIcon, SearchIcon, UsersIcon, XIcon } from "@/components/ui/icons";
import { Dialog } from "@/components/ui/dialog";
import { Input } from "@/components/ui/input";
import { MessageSearchResults } from "@/components/search/message-search-results";
import { requestJump } from "@/lib/jump";
import { ChatListItem } from "./chat-list-item";
import { NewChatDialog } from "./new-chat-dialog";
import { NewGroupDialog } from "./new-group-dialog";

export function Sidebar({
  activeChatId,
  onOpenChat,
  className,
}: {
  activeChatId: string | null;
  onOpenChat: (chatId: string) => void;
  className?: string;
}) {
  const { user, logout } = useSession();
  const { chats, status, error, typing, refresh, people, hasMore, loadMore } = useChats();
  const { online } = useRealtime();
  const [filter, setFilter] = useState("");
  const [dialog, setDialog] = useState<"chat" | "group" | "logout" | null>(null);
  const [loggingOut, setLoggingOut] = useState(false);
  const filterId = useId();
  const [naming, setNaming] = useState(false);
  useEffect(() => setNaming(namingOffered()), []);

  const senderName = useCallback((id: string) => people.get(id)?.name ?? null, [people]);
  const shown = filterChats(chats, filter);
  const draftsRaw = useSyncExternalStore(onDraftsChange, draftsSnapshot, () => "{}");
  const drafts = useMemo(() => parseDrafts(draftsRaw), [draftsRaw]);

  return (
    <section
      aria-label="Chats"
      className={cn("flex min-h-0 flex-col border-r border-border bg-surface", className)}
    >
      <h1 className="sr-only">Parley: your chats</h1>
      <header className="flex h-16 shrink-0 items-center gap-2 border-b border-border px-3">
        <Link
          href="/profile"
          className="flex min-w-0 flex-1 items-center gap-2.5 rounded-lg p-1 hover:bg-surface-2"
          data-testid="profile-link"
        >
          <Avatar name={user.name} seed={user._id} image={user} size="md" />
          <span className="min-w-0">
            <span className="sr-only">Your profile: </span>
            <span className="block truncate text-sm font-semibold">{user.name}</span>
            <span className="block truncate text-xs text-muted">{user.email}</span>
          </span>
        </Link>
        <IconButton
          label="New chat"
          data-testid="new-chat-button"
          onClick={() => setDialog("chat")}
        >
          <MessagePlusIcon />
        </IconButton>
        <IconButton
          label="New group"
          data-testid="new-group-button"
          onClick={() => setDialog("group")}
        >
          <UsersIcon />
        </IconButton>
        <IconButton
          label="Log out"
          data-testid="logout-button"
          loading={loggingOut}
          onClick={async () => {
            // On a phone the button sits where a thumb lands by mistake: ask first.
            if (window.matchMedia("(max-width: 767px)").matches) {
              setDialog("logout");
              return;
            }
            setLoggingOut(true);
            await logout();
          }}
        >
          {loggingOut ? null : <LogOutIcon />}
        </IconButton>
      </header>

      {naming ? (
        <div
          role="status"
          data-testid="name-offer"
          className="mx-3 mt-3 flex shrink-0 items-start gap-2 rounded-xl bg-accent-soft p-3 text-sm"
        >
          <p className="min-w-0 flex-1">
            Welcome! Others see you as <span className="font-semibold">{user.name}</span>.{" "}
            <Link
              href="/profile"
              className="font-medium text-accent underline"
              onClick={() => offerNaming(false)}
            >
              Set your name
            </Link>
          </p>
          <IconButton
            label="Dismiss"
            size="sm"
            onClick={() => {
              offerNaming(false);
              setNaming(false);
            }}
          >
            <XIcon size={16} />
          </IconButton>
        </div>
      ) : null}
      <div className="shrink-0 p-3">
        <label htmlFor={filterId} className="sr-only">
          Search chats and messages
        </label>
        <div className="relative">
          <SearchIcon
            size={16}
            className="pointer-events-none absolute top-1/2 left-3 -translate-y-1/2 text-muted"
          />
          <Input
            id={filterId}
            type="search"
            data-testid="chat-filter"
            placeholder="Search chats and messages"
            value={filter}
            onChange={(e) => setFilter(e.target.value)}
            autoComplete="off"
            className="rounded-full bg-surface-2 pl-9"
          />
        </div>
      </div>

      <nav
        aria-label="Conversations"
        className="min-h-0 flex-1 overflow-y-auto px-2 pb-3 scrollbar-thin"
      >
        {status === "loading" ? (
          <ul aria-busy="true" aria-label="Loading chats">
            {Array.from({ length: 6 }, (_, i) => (
              <li key={i} className="flex items-center gap-3 px-2.5 py-2.5">
                <div className="h-12 w-12 animate-pulse rounded-full bg-surface-2" />
                <div className="flex-1 space-y-2">
                  <div className="h-3.5 w-1/2 animate-pulse rounded bg-surface-2" />
                  <div className="h-3 w-3/4 animate-pulse rounded bg-surface-2" />
                </div>
              </li>
            ))}
          </ul>
        ) : status === "error" ? (
          <div role="alert" className="px-4 py-10 text-center text-sm">
            <p className="text-danger">{error}</p>
            <Button variant="secondary" size="sm" className="mt-3" onClick={() => void refresh()}>
              Try again
            </Button>
          </div>
        ) : chats.length === 0 ? (
          <div className="px-6 py-12 text-center">
            <p className="font-medium">No chats yet</p>
            <p className="mt-1 text-sm text-muted">
              Start a conversation with someone, or create a group.
            </p>
            <div className="mt-4 flex justify-center gap-2">
              <Button size="sm" onClick={() => setDialog("chat")}>
                New chat
              </Button>
              <Button size="sm" variant="secondary" onClick={() => setDialog("group")}>
                New group
              </Button>
            </div>
          </div>
        ) : shown.length === 0 ? (
          <p className="px-4 py-10 text-center text-sm text-muted">
            No chats match “{filter.trim()}”.
          </p>
        ) : (
          <ul className="space-y-0.5" data-testid="chat-list">
            {shown.map((entry) => {
              const typingIds = typing[entry.chat._id] ?? [];
              const names: Record<string, string> = {};
              for (const id of typingIds)
                names[id] = people.get(id)?.name ?? entry.user?.name ?? "Someone";
              return (
                <ChatListItem
                  key={entry.chat._id}
                  entry={entry}
                  active={entry.chat._id === activeChatId}
                  online={Boolean(entry.user && online.has(entry.user._id))}
                  myId={user._id}
                  typingText={
                    typingIds.length
                      ? entry.chat.isGroup
                        ? typingText(typingIds, names, true)
                        : "typing…"
                      : null
                  }
                  senderName={senderName}
                  draft={entry.chat._id === activeChatId ? null : (drafts[entry.chat._id] ?? null)}
                  onSelect={onOpenChat}
                />
              );
            })}
            {hasMore ? <LoadMoreChats onLoad={loadMore} /> : null}
          </ul>
        )}
        {status === "ready" && filter.trim() ? (
          <MessageSearchResults
            query={filter}
            heading="Messages"
            onChoose={(result) => {
              requestJump({ chatId: result.chat._id, messageId: result.message._id });
              onOpenChat(result.chat._id);
            }}
          />
        ) : null}
      </nav>

      <Dialog
        open={dialog === "logout"}
        onClose={() => setDialog(null)}
        title="Log out?"
        description="You will need a new code from your email to log in again on this device."
        data-testid="logout-dialog"
      >
        <div className="flex justify-end gap-2 px-5 pb-5">
          <Button variant="ghost" onClick={() => setDialog(null)}>
            Cancel
          </Button>
          <Button
            variant="danger"
            loading={loggingOut}
            data-testid="confirm-logout-button"
            onClick={async () => {
              setLoggingOut(true);
              await logout();
            }}
          >
            Log out
          </Button>
        </div>
      </Dialog>
      <NewChatDialog
        open={dialog === "chat"}
        onClose={() => setDialog(null)}
        onOpenChat={onOpenChat}
      />
      <NewGroupDialog
        open={dialog === "group"}
        onClose={() => setDialog(null)}
        onOpenChat={onOpenChat}
      />
    </section>
  );
}

/** The end of a paged chat list: loads the next page when scrolled into view, or on a click. */
function LoadMoreChats({ onLoad }: { onLoad: () => Promise<void> }) {
  const ref = useRef<HTMLLIElement>(null);
  const [loading, setLoading] = useState(false);
  const load = useCallback(async () => {
    setLoading(true);
    try {
      await onLoad();
    } finally {
      setLoading(false);
    }
  }, [onLoad]);
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof IntersectionObserver === "undefined") return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void load();
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [load]);
  return (
    <li ref={ref} className="flex justify-center py-2">
      <Button
        variant="ghost"
        size="sm"
        loading={loading}
        data-testid="load-more-chats"
        onClick={() => void load()}
      >
        Load more chats
      </Button>
    </li>
  );
}
