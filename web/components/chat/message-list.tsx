"use client";

import {
  Fragment,
  useCallback,
  useEffect,
  useLayoutEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import { EDIT_WINDOW_SECONDS } from "@/lib/config";
import { groupByDay, startsRun } from "@/lib/dates";
import { canDelete, canEdit } from "@/lib/messages";
import type { UiMessage, User } from "@/lib/types";
import { ArrowDownIcon } from "@/components/ui/icons";
import { Spinner } from "@/components/ui/spinner";
import { MessageBubble } from "./message-bubble";

export interface MessageListProps {
  messages: UiMessage[];
  myId: string;
  isGroup: boolean;
  people: ReadonlyMap<string, User>;
  hasMore: boolean;
  loadingOlder: boolean;
  onLoadOlder: () => void;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
  onOpenImage: (message: UiMessage) => void;
  /** The caller administers this group: they may delete anyone's message. */
  isAdmin: boolean;
  highlightId: string | null;
  onReply: (message: UiMessage) => void;
  onEdit: (message: UiMessage) => void;
  onDelete: (message: UiMessage) => void;
  onReact: (message: UiMessage, emoji: string, on: boolean) => void;
  onCopy: (message: UiMessage) => void;
  onJumpTo: (messageId: string) => void;
  /** Shown over the bottom edge (the typing indicator). */
  footer?: React.ReactNode;
  /** How many messages were unread when the chat opened: a divider marks the first of them. */
  unreadAtOpen?: number;
  /** False while older pages holding the first unread message are still loading. */
  unreadLoaded?: boolean;
}

/** Within this many pixels of the bottom, new messages keep the view pinned to the bottom. */
const STICKY_PX = 120;
/** Within this many pixels of the top, older history starts loading. */
const LOAD_OLDER_PX = 300;

export function MessageList({
  messages,
  myId,
  isGroup,
  people,
  hasMore,
  loadingOlder,
  onLoadOlder,
  onRetry,
  onDiscard,
  onOpenImage,
  isAdmin,
  highlightId,
  onReply,
  onEdit,
  onDelete,
  onReact,
  onCopy,
  onJumpTo,
  footer,
  unreadAtOpen = 0,
  unreadLoaded = true,
}: MessageListProps) {
  const scroller = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  const firstKey = useRef<string | null>(null);
  const lastKey = useRef<string | null>(null);
  /** Scroll geometry captured before older messages are prepended. */
  const anchor = useRef<{ height: number; top: number } | null>(null);
  const [unseenBelow, setUnseenBelow] = useState(0);
  const initialised = useRef(false);
  /** The unread divider is above what is on screen: offer to jump back to it. */
  const [unreadAbove, setUnreadAbove] = useState(false);

  const groups = useMemo(() => groupByDay(messages), [messages]);
  const knownKeys = useRef<Set<string>>(new Set());

  // The first unread message when the chat opened: the earliest of the last `unreadAtOpen`
  // messages from others, fixed once found so the divider stays while reading.
  const [firstUnread, setFirstUnread] = useState<string | null>(null);
  const unreadFixed = useRef(false);
  if (!unreadFixed.current && messages.length > 0 && unreadLoaded) {
    unreadFixed.current = true;
    if (unreadAtOpen > 0) {
      // System messages never count as unread.
      const fromOthers = messages.filter(
        (m) => m.sender !== myId && m.status !== "pending" && m.messageType !== "system",
      );
      const first = fromOthers[Math.max(0, fromOthers.length - unreadAtOpen)];
      if (first) setFirstUnread(first.key);
    }
  }

  const scrollToBottom = useCallback((smooth = false) => {
    const el = scroller.current;
    if (!el) return;
    el.scrollTo({ top: el.scrollHeight, behavior: smooth ? "smooth" : "auto" });
    atBottom.current = true;
    setUnseenBelow(0);
  }, []);

  // Keep the reader's place: prepending keeps the same message under the eye,
  // appending follows the bottom only if the reader was already there.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const first = messages[0]?.key ?? null;
    const last = messages[messages.length - 1] ?? null;

    // Placed once the first unread message is loaded (older pages may come first).
    if (!initialised.current && !unreadLoaded) return;
    const known = knownKeys.current;
    // Messages that arrived below what was shown: live ones, and those merged in by a catch-up.
    const arrived =
      initialised.current && !(anchor.current && first !== firstKey.current)
        ? messages.filter((m) => !known.has(m.key))
        : [];
    knownKeys.current = new Set(messages.map((m) => m.key));

    if (!initialised.current) {
      if (messages.length > 0) {
        const divider = el.querySelector<HTMLElement>('[data-testid="unread-divider"]');
        if (divider) {
          // Open at the first unread message, with the divider at the top.
          el.scrollTop = Math.max(0, divider.offsetTop - 8);
          const gap = el.scrollHeight - el.scrollTop - el.clientHeight;
          atBottom.current = gap < STICKY_PX;
        } else el.scrollTop = el.scrollHeight;
        initialised.current = true;
      }
    } else if (anchor.current && first !== firstKey.current) {
      el.scrollTop = el.scrollHeight - anchor.current.height + anchor.current.top;
      anchor.current = null;
    } else if (arrived.length > 0) {
      const mine = arrived.some((m) => m.sender === myId && m.status === "pending");
      const others = arrived.filter((m) => m.sender !== myId).length;
      if (mine) scrollToBottom();
      else if (atBottom.current) el.scrollTop = el.scrollHeight;
      else if (others) setUnseenBelow((n) => n + others);
    }
    firstKey.current = first;
    lastKey.current = last?.key ?? null;
  }, [messages, myId, scrollToBottom, firstUnread, unreadLoaded]);

  // A failed load leaves nothing to anchor; the next attempt measures again.
  useLayoutEffect(() => {
    if (!loadingOlder) anchor.current = null;
  }, [loadingOlder]);

  const requestOlder = useCallback(() => {
    const el = scroller.current;
    if (!el || !hasMore || loadingOlder || !initialised.current) return;
    anchor.current = { height: el.scrollHeight, top: el.scrollTop };
    onLoadOlder();
  }, [hasMore, loadingOlder, onLoadOlder]);

  // A short history that does not fill the view cannot be scrolled: load more by itself.
  useEffect(() => {
    const el = scroller.current;
    if (el && hasMore && !loadingOlder && el.scrollHeight <= el.clientHeight + LOAD_OLDER_PX)
      requestOlder();
  }, [messages, hasMore, loadingOlder, requestOlder, unreadLoaded]);

  const unreadDivider = useCallback(
    () => scroller.current?.querySelector<HTMLElement>('[data-testid="unread-divider"]') ?? null,
    [],
  );

  const jumpToFirstUnread = useCallback(() => {
    const el = scroller.current;
    const divider = unreadDivider();
    if (!el || !divider) return;
    el.scrollTo({ top: Math.max(0, divider.offsetTop - 8), behavior: "smooth" });
    setUnreadAbove(false);
    // The button goes away: keep the keyboard in the messages.
    el.focus({ preventScroll: true });
  }, [unreadDivider]);

  function onScroll() {
    const el = scroller.current;
    if (!el) return;
    const bottomGap = el.scrollHeight - el.scrollTop - el.clientHeight;
    atBottom.current = bottomGap < STICKY_PX;
    if (atBottom.current && unseenBelow) setUnseenBelow(0);
    const divider = firstUnread ? unreadDivider() : null;
    setUnreadAbove(Boolean(divider && divider.offsetTop + divider.offsetHeight < el.scrollTop));
    if (el.scrollTop < LOAD_OLDER_PX) requestOlder();
  }

  const nameOf = useCallback(
    (id: string) => (id === myId ? "You" : (people.get(id)?.name ?? "Someone")),
    [myId, people],
  );
  // The edit window closes over time: look at the clock again every half minute.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 30_000);
    return () => clearInterval(timer);
  }, []);

  return (
    <div className="relative min-h-0 flex-1">
      <div
        ref={scroller}
        onScroll={onScroll}
        role="log"
        aria-label="Messages"
        aria-live="polite"
        aria-relevant="additions"
        data-testid="message-list"
        tabIndex={0}
        className="h-full overflow-y-auto px-3 pt-3 pb-8 [overflow-anchor:none] scrollbar-thin focus-visible:outline-none sm:px-6"
      >
        <div className="mx-auto flex max-w-3xl flex-col">
          {hasMore || loadingOlder ? (
            <div
              className="flex h-10 items-center justify-center text-muted"
              aria-hidden={!loadingOlder}
            >
              {loadingOlder ? <Spinner size={18} label="Loading older messages" /> : null}
            </div>
          ) : messages.length > 0 ? (
            <p className="py-4 text-center text-xs text-muted">
              This is the beginning of the conversation.
            </p>
          ) : null}

          {groups.map((group) => (
            <section key={group.key} aria-label={group.label}>
              <div
                className="sticky top-0 z-10 flex justify-center py-2"
                role="separator"
                aria-label={group.label}
                data-testid="day-separator"
              >
                <span className="rounded-full bg-surface/90 px-3 py-1 text-xs font-medium text-muted shadow-sm backdrop-blur">
                  {group.label}
                </span>
              </div>
              {group.items.map((message, i) => {
                const previous = group.items[i - 1];
                const next = group.items[i + 1];
                const own = message.sender === myId;
                const first = startsRun(previous, message);
                const lastOfRun = !next || startsRun(message, next);
                return (
                  <Fragment key={message.key}>
                    {message.key === firstUnread ? (
                      <div
                        role="separator"
                        aria-label="Unread messages"
                        data-testid="unread-divider"
                        className="my-2 flex items-center gap-3 text-xs font-semibold text-accent"
                      >
                        <span className="h-px flex-1 bg-accent/40" />
                        Unread messages
                        <span className="h-px flex-1 bg-accent/40" />
                      </div>
                    ) : null}
                    <MessageBubble
                      key={message.key}
                      message={message}
                      own={own}
                      senderName={nameOf(message.sender)}
                      showSender={isGroup && !own && first}
                      showAvatar={isGroup && !own && lastOfRun}
                      senderProfile={people.get(message.sender)}
                      isGroup={isGroup}
                      firstOfRun={first}
                      onRetry={onRetry}
                      onDiscard={onDiscard}
                      onOpenImage={onOpenImage}
                      nameOf={nameOf}
                      myId={myId}
                      canEdit={canEdit(message, myId, EDIT_WINDOW_SECONDS, now)}
                      canDelete={canDelete(message, myId, isGroup && isAdmin)}
                      highlighted={highlightId === message._id}
                      onReply={onReply}
                      onEdit={onEdit}
                      onDelete={onDelete}
                      onReact={onReact}
                      onCopy={onCopy}
                      onJumpTo={onJumpTo}
                    />
                  </Fragment>
                );
              })}
            </section>
          ))}
        </div>
      </div>
      {footer}
      {unreadAbove ? (
        <button
          type="button"
          onClick={jumpToFirstUnread}
          className="absolute top-3 left-1/2 z-20 inline-flex min-h-11 -translate-x-1/2 items-center gap-1.5 rounded-full bg-accent px-3 py-2 text-sm font-medium text-accent-fg shadow-lg hover:bg-accent-hover"
          data-testid="jump-to-unread-button"
        >
          <ArrowDownIcon size={16} className="rotate-180" />
          Jump to first unread
        </button>
      ) : null}
      {unseenBelow > 0 ? (
        <button
          type="button"
          onClick={() => scrollToBottom(true)}
          className="absolute right-4 bottom-4 inline-flex items-center gap-1.5 rounded-full bg-accent px-3 py-2 text-sm font-medium text-accent-fg shadow-lg hover:bg-accent-hover"
          data-testid="new-messages-button"
        >
          <ArrowDownIcon size={16} />
          {unseenBelow === 1 ? "1 new message" : `${unseenBelow} new messages`}
        </button>
      ) : null}
    </div>
  );
}
