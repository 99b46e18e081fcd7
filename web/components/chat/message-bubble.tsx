"use client";

import { memo, useRef, useState } from "react";
import { clockTime } from "@/lib/dates";
import { linkify } from "@/lib/linkify";
import { systemText } from "@/lib/messages";
import type { UiMessage } from "@/lib/types";
import { avatarHue, cn } from "@/lib/utils";
import { Avatar } from "@/components/ui/avatar";
import {
  AlertIcon,
  CheckCheckIcon,
  CheckIcon,
  ClockIcon,
  MoreIcon,
  ReplyIcon,
  SmileIcon,
} from "@/components/ui/icons";
import { MessageActionsMenu } from "./message-actions";

/** A touch held this long opens a message's actions (or who reacted). */
const LONG_PRESS_MS = 500;

/**
 * Calls `onLongPress` when a finger rests on the element; a mouse uses right click instead.
 * When not `enabled`, the browser's own context menu stays.
 */
function useLongPress(onLongPress: (target: HTMLElement) => void, enabled = true) {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const cancel = () => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
  };
  return {
    onPointerDown: (event: React.PointerEvent<HTMLElement>) => {
      if (!enabled || event.pointerType !== "touch") return;
      const target = event.currentTarget;
      cancel();
      timer.current = setTimeout(() => {
        timer.current = null;
        onLongPress(target);
      }, LONG_PRESS_MS);
    },
    onPointerUp: cancel,
    onPointerCancel: cancel,
    onPointerLeave: cancel,
    onPointerMove: (event: React.PointerEvent<HTMLElement>) => {
      if (
        event.pointerType === "touch" &&
        (Math.abs(event.movementX) > 4 || Math.abs(event.movementY) > 4)
      )
        cancel();
    },
    onContextMenu: (event: React.MouseEvent<HTMLElement>) => {
      if (!enabled) return;
      event.preventDefault();
      cancel();
      onLongPress(event.currentTarget);
    },
  };
}

const MAX_IMAGE_WIDTH = 280;
const MAX_IMAGE_HEIGHT = 320;

/** Display size for an image that keeps its aspect ratio, so it never shifts the list when it loads. */
function imageBox(width?: number, height?: number): { width: number; height: number } {
  if (!width || !height) return { width: 240, height: 180 };
  const scale = Math.min(1, MAX_IMAGE_WIDTH / width, MAX_IMAGE_HEIGHT / height);
  return {
    width: Math.max(80, Math.round(width * scale)),
    height: Math.max(60, Math.round(height * scale)),
  };
}

function StatusTick({ message }: { message: UiMessage }) {
  switch (message.status) {
    case "pending":
      return <ClockIcon size={13} aria-label="Sending" role="img" aria-hidden={false} />;
    case "sent":
      return <CheckIcon size={14} aria-label="Sent" role="img" aria-hidden={false} />;
    case "seen":
      return (
        <CheckCheckIcon
          size={15}
          aria-label="Seen"
          role="img"
          aria-hidden={false}
          className="text-seen"
        />
      );
    case "failed":
      return <AlertIcon size={14} aria-label="Not sent" role="img" aria-hidden={false} />;
  }
}

export interface MessageBubbleProps {
  message: UiMessage;
  own: boolean;
  /** Sender's name (groups show it at the start of a run). */
  senderName: string;
  showSender: boolean;
  /** Groups show the sender's avatar beside the first bubble of a run. */
  showAvatar: boolean;
  /** The sender's profile, for their picture (initials without one). */
  senderProfile?: object | null;
  isGroup: boolean;
  firstOfRun: boolean;
  onRetry: (clientId: string) => void;
  onDiscard: (clientId: string) => void;
  onOpenImage: (message: UiMessage) => void;
  /** Names people for reactions, quotes and system messages ("You" for the caller). */
  nameOf: (userId: string) => string;
  myId: string;
  canEdit: boolean;
  canDelete: boolean;
  /** Briefly marked after a jump to it from a quote. */
  highlighted?: boolean;
  onReply: (message: UiMessage) => void;
  onEdit: (message: UiMessage) => void;
  onDelete: (message: UiMessage) => void;
  onReact: (message: UiMessage, emoji: string, on: boolean) => void;
  onCopy: (message: UiMessage) => void;
  onJumpTo: (messageId: string) => void;
}

/** A centered note for a group change: "Alice added Carol". */
function SystemNote({ message, nameOf }: { message: UiMessage; nameOf: (id: string) => string }) {
  return (
    <div
      className="my-2 flex justify-center"
      data-testid="system-message"
      data-message-id={message._id}
    >
      <p className="max-w-[85%] rounded-full bg-surface/90 px-3 py-1 text-center text-xs text-muted shadow-sm">
        {systemText(message, nameOf)}
      </p>
    </div>
  );
}

/** The quoted message above a reply; a button that scrolls to the original. */
function Quote({
  quote,
  nameOf,
  own,
  onJumpTo,
}: {
  quote: NonNullable<UiMessage["replyTo"]>;
  nameOf: (id: string) => string;
  own: boolean;
  onJumpTo: (messageId: string) => void;
}) {
  const who = nameOf(quote.sender);
  const body = quote.deleted
    ? "This message was deleted"
    : quote.text || (quote.messageType === "image" ? "Photo" : "");
  return (
    <button
      type="button"
      onClick={() => onJumpTo(quote._id)}
      data-testid="reply-quote"
      data-deleted={quote.deleted ? "true" : "false"}
      title="Show the original message"
      className={cn(
        "mb-1 block w-full min-w-32 rounded-lg border-l-4 px-2 py-1 text-left text-xs",
        own ? "border-white/70 bg-black/10" : "border-accent bg-surface-2",
      )}
    >
      <span className="sr-only">Quoted message from </span>
      <span className="block font-semibold">{who}</span>
      <span className={cn("line-clamp-2 break-words", quote.deleted && "italic")}>{body}</span>
    </button>
  );
}

export const MessageBubble = memo(function MessageBubble({
  message,
  own,
  senderName,
  showSender,
  showAvatar,
  senderProfile,
  isGroup,
  firstOfRun,
  onRetry,
  onDiscard,
  onOpenImage,
  nameOf,
  myId,
  canEdit,
  canDelete,
  highlighted,
  onReply,
  onEdit,
  onDelete,
  onReact,
  onCopy,
  onJumpTo,
}: MessageBubbleProps) {
  const [menu, setMenu] = useState<{ anchor: HTMLElement; picker: boolean } | null>(null);
  const [whoReacted, setWhoReacted] = useState<string | null>(null);
  const moreButton = useRef<HTMLButtonElement>(null);
  const stored = message.status === "sent" || message.status === "seen";
  const deleted = Boolean(message.deleted);
  const actionable = stored && !deleted && message.messageType !== "system";
  const press = useLongPress(
    (target) => setMenu({ anchor: moreButton.current ?? target, picker: false }),
    actionable,
  );
  const chipPress = useLongPress((target) => setWhoReacted(target.dataset.emoji ?? null));

  if (message.messageType === "system") return <SystemNote message={message} nameOf={nameOf} />;

  const reactions = deleted ? [] : (message.reactions ?? []).filter((r) => r.users.length > 0);
  const mine = new Set(reactions.filter((r) => r.users.includes(myId)).map((r) => r.emoji));
  const reactors = (users: string[]) => users.map(nameOf).join(", ");
  const image = !deleted && message.image?.url ? message.image : null;
  const box = image ? imageBox(image.width, image.height) : null;
  const text = deleted ? "" : (message.text ?? "");
  const edited = Boolean(message.editedAt) && !deleted;
  const time = clockTime(message.createdAt);
  const failed = message.status === "failed";
  const uploading = message.status === "pending" && image && message.file;
  const percent = Math.round((message.progress ?? 0) * 100);

  return (
    <div
      data-testid="message"
      data-message-id={message._id}
      data-client-id={message.clientId ?? undefined}
      data-status={message.status}
      data-own={own ? "true" : "false"}
      data-deleted={deleted ? "true" : "false"}
      className={cn(
        "group flex w-full items-center gap-2 rounded-lg transition-colors",
        highlighted && "bg-accent/15",
        own ? "justify-end" : "justify-start",
        firstOfRun ? "mt-2" : "mt-0.5",
      )}
    >
      {isGroup && !own ? (
        <div className="w-8 shrink-0">
          {showAvatar ? (
            <Avatar name={senderName} seed={message.sender} image={senderProfile} size="sm" />
          ) : null}
        </div>
      ) : null}
      {own && actionable ? (
        <Toolbar
          moreRef={moreButton}
          onReact={(anchor) => setMenu({ anchor, picker: true })}
          onReply={() => onReply(message)}
          onMore={(anchor) => setMenu({ anchor, picker: false })}
        />
      ) : null}
      <div
        className={cn(
          "flex max-w-[min(80%,36rem)] min-w-0 flex-col",
          own ? "items-end" : "items-start",
        )}
      >
        <div
          {...press}
          data-testid="message-bubble"
          className={cn(
            "relative max-w-full overflow-hidden rounded-2xl shadow-sm pointer-coarse:select-none",
            own ? "bg-bubble-own text-bubble-own-fg" : "bg-bubble-other text-bubble-other-fg",
            firstOfRun && (own ? "rounded-tr-md" : "rounded-tl-md"),
            failed && "ring-2 ring-danger",
            image ? "p-1" : "px-3 py-1.5",
          )}
        >
          {showSender ? (
            <p
              className={cn(
                "sender-name text-xs font-semibold",
                image ? "px-2 pt-1 pb-1" : "pb-0.5",
              )}
              style={{ "--sender-hue": avatarHue(message.sender) } as React.CSSProperties}
            >
              {senderName}
            </p>
          ) : null}
          {message.replyTo && !deleted ? (
            <div className={cn(image && "px-1 pt-1")}>
              <Quote quote={message.replyTo} nameOf={nameOf} own={own} onJumpTo={onJumpTo} />
            </div>
          ) : null}
          {deleted ? (
            <p className="pr-14 text-[15px] leading-snug italic" data-testid="tombstone">
              This message was deleted
            </p>
          ) : null}
          {image && box ? (
            <button
              type="button"
              onClick={() => onOpenImage(message)}
              className="relative block overflow-hidden rounded-xl bg-surface-3"
              style={{ width: box.width, height: box.height }}
              // While it uploads the visible percentage is part of the name (WCAG 2.5.3).
              aria-label={`Open image${text ? `: ${text}` : ""} from ${own ? "you" : senderName}${uploading ? `, ${percent}%` : ""}`}
              data-testid="message-image"
            >
              {/* Plain <img>: signed media URLs are served as they are (static export, no optimizer). */}
              {/* eslint-disable-next-line @next/next/no-img-element */}
              <img
                src={image.url}
                alt={text || `Image from ${own ? "you" : senderName}`}
                width={box.width}
                height={box.height}
                loading="lazy"
                decoding="async"
                className="h-full w-full object-cover"
              />
              {uploading ? (
                <span className="absolute inset-0 flex items-center justify-center bg-black/40">
                  <span
                    role="progressbar"
                    aria-label="Uploading image"
                    aria-valuemin={0}
                    aria-valuemax={100}
                    aria-valuenow={percent}
                    data-testid="upload-progress"
                    className="w-3/4"
                  >
                    <span className="block h-1.5 overflow-hidden rounded-full bg-white/30">
                      <span
                        className="block h-full rounded-full bg-white transition-[width]"
                        style={{ width: `${percent}%` }}
                      />
                    </span>
                    <span className="mt-1.5 block text-center text-xs font-semibold text-white">
                      {percent}%
                    </span>
                  </span>
                </span>
              ) : null}
            </button>
          ) : null}
          <div className={cn(image && text && "px-2 pt-1 pb-1")}>
            {text ? (
              <p className="text-[15px] leading-snug whitespace-pre-wrap wrap-anywhere">
                {linkify(text).map((part, i) =>
                  part.kind === "link" ? (
                    <a
                      key={i}
                      href={part.href}
                      target="_blank"
                      rel="noopener noreferrer nofollow"
                      className="underline underline-offset-2"
                    >
                      {part.value}
                    </a>
                  ) : (
                    <span key={i}>{part.value}</span>
                  ),
                )}
                {/* An invisible copy of the time keeps room for it at the end of the last line. */}
                <span
                  aria-hidden="true"
                  className="invisible inline-block pl-3 text-[11px] leading-4"
                >
                  {edited ? "edited " : ""}
                  {time}
                  {own ? <span className="inline-block w-[19px]" /> : null}
                </span>
              </p>
            ) : null}
          </div>
          <span
            className={cn(
              "absolute flex items-center gap-1 text-[11px] leading-4 tabular-nums",
              text || deleted
                ? cn("right-2.5 bottom-1", own ? "text-bubble-own-fg/90" : "text-muted")
                : "right-2.5 bottom-2.5 rounded-full bg-black/55 px-1.5 py-0.5 text-white",
            )}
          >
            {edited ? (
              <span data-testid="edited-marker" title={`Edited ${clockTime(message.editedAt!)}`}>
                edited
              </span>
            ) : null}
            <time dateTime={message.createdAt}>{time}</time>
            {own ? <StatusTick message={message} /> : null}
          </span>
        </div>
        {reactions.length > 0 ? (
          <div
            className={cn("-mt-1 flex flex-wrap gap-1 px-1", own ? "justify-end" : "justify-start")}
            data-testid="reactions"
          >
            {reactions.map((r) => (
              <button
                key={r.emoji}
                type="button"
                {...chipPress}
                data-testid="reaction-chip"
                data-emoji={r.emoji}
                aria-pressed={mine.has(r.emoji)}
                aria-label={`${r.emoji} ${r.users.length}: ${reactors(r.users)}`}
                title={reactors(r.users)}
                onClick={() => onReact(message, r.emoji, !mine.has(r.emoji))}
                onFocus={() => setWhoReacted(null)}
                className={cn(
                  "inline-flex h-6 items-center gap-1 rounded-full border px-2 text-xs shadow-sm",
                  mine.has(r.emoji)
                    ? "border-accent bg-accent/15 font-semibold text-fg"
                    : "border-border bg-surface text-fg hover:bg-surface-2",
                )}
              >
                <span aria-hidden="true">{r.emoji}</span>
                <span aria-hidden="true" className="tabular-nums">
                  {r.users.length}
                </span>
              </button>
            ))}
          </div>
        ) : null}
        {whoReacted ? (
          <p
            className="mt-1 rounded-lg bg-surface px-2 py-1 text-xs text-muted shadow-sm"
            data-testid="reaction-who"
            role="status"
          >
            {whoReacted}{" "}
            {reactors(reactions.find((r) => r.emoji === whoReacted)?.users ?? []) || "Nobody"}
          </p>
        ) : null}
        {failed && message.clientId ? (
          <div
            role="alert"
            className="mt-1 flex flex-wrap items-center justify-end gap-x-2 text-xs text-danger"
          >
            <span>{message.error ?? "Not sent."}</span>
            <button
              type="button"
              className="font-semibold underline underline-offset-2 hover:no-underline"
              onClick={() => onRetry(message.clientId!)}
              data-testid="retry-button"
            >
              Retry
            </button>
            <button
              type="button"
              className="text-muted underline underline-offset-2 hover:no-underline"
              onClick={() => onDiscard(message.clientId!)}
              data-testid="discard-button"
            >
              Delete
            </button>
          </div>
        ) : null}
      </div>
      {!own && actionable ? (
        <Toolbar
          moreRef={moreButton}
          onReact={(anchor) => setMenu({ anchor, picker: true })}
          onReply={() => onReply(message)}
          onMore={(anchor) => setMenu({ anchor, picker: false })}
        />
      ) : null}
      {menu ? (
        <MessageActionsMenu
          anchor={menu.anchor}
          own={own}
          canEdit={canEdit}
          canDelete={canDelete}
          canCopy={text.length > 0}
          mine={mine}
          startWithPicker={menu.picker}
          onReact={(emoji) => onReact(message, emoji, !mine.has(emoji))}
          onReply={() => onReply(message)}
          onCopy={() => onCopy(message)}
          onEdit={() => onEdit(message)}
          onDelete={() => onDelete(message)}
          onClose={() => setMenu(null)}
        />
      ) : null}
    </div>
  );
});

/**
 * Shown beside a message on hover: react and reply for the mouse, and the
 * "Message actions" button, which is also the keyboard's way in (Tab reaches it).
 */
function Toolbar({
  moreRef,
  onReact,
  onReply,
  onMore,
}: {
  moreRef: React.RefObject<HTMLButtonElement | null>;
  onReact: (anchor: HTMLElement) => void;
  onReply: () => void;
  onMore: (anchor: HTMLElement) => void;
}) {
  const button =
    "flex h-8 w-8 items-center justify-center rounded-full text-muted hover:bg-surface-2 hover:text-fg focus-visible:opacity-100";
  return (
    <div
      className="flex shrink-0 items-center opacity-0 group-focus-within:opacity-100 group-hover:opacity-100"
      data-testid="message-toolbar"
    >
      <button
        type="button"
        tabIndex={-1}
        aria-label="React"
        title="React"
        data-testid="toolbar-react"
        className={cn(button, "pointer-coarse:hidden")}
        onClick={(e) => onReact(e.currentTarget)}
      >
        <SmileIcon size={16} />
      </button>
      <button
        type="button"
        tabIndex={-1}
        aria-label="Reply"
        title="Reply"
        data-testid="toolbar-reply"
        className={cn(button, "pointer-coarse:hidden")}
        onClick={onReply}
      >
        <ReplyIcon size={16} />
      </button>
      <button
        ref={moreRef}
        type="button"
        aria-label="Message actions"
        aria-haspopup="menu"
        title="More"
        data-testid="message-actions-button"
        className={button}
        onClick={(e) => onMore(e.currentTarget)}
      >
        <MoreIcon size={16} />
      </button>
    </div>
  );
}
