"use client";

import { memo } from "react";
import { chatTitle, previewText } from "@/lib/chats";
import { listTime } from "@/lib/dates";
import type { ChatEntry } from "@/lib/types";
import { cn } from "@/lib/utils";
import { Avatar } from "@/components/ui/avatar";
import { CountBadge } from "@/components/ui/badge";
import { BellOffIcon } from "@/components/ui/icons";
import { isMuted } from "@/lib/mute";

export interface ChatListItemProps {
  entry: ChatEntry;
  active: boolean;
  online: boolean;
  myId: string;
  typingText: string | null;
  /** Names by user id, for "Alice: …" previews in groups. */
  senderName: (userId: string) => string | null;
  /** Unsent text of this chat, shown instead of the last message. */
  draft?: string | null;
  onSelect: (chatId: string) => void;
}

export const ChatListItem = memo(function ChatListItem({
  entry,
  active,
  online,
  myId,
  typingText,
  senderName,
  draft,
  onSelect,
}: ChatListItemProps) {
  const { chat } = entry;
  const title = chatTitle(entry);
  const latest = chat.latestMessage;
  const unread = chat.unseenCount || 0;
  const muted = isMuted(chat.mutedUntil);
  let prefix = "";
  if (latest && latest.sender === myId) prefix = "You: ";
  else if (latest && chat.isGroup) {
    const name = senderName(latest.sender);
    if (name) prefix = `${name.split(/\s+/)[0]}: `;
  }
  const preview = latest
    ? prefix + previewText(latest)
    : chat.isGroup
      ? "Group created"
      : "Say hello 👋";
  const time = listTime(latest ? chat.updatedAt : chat.createdAt);

  return (
    <li>
      <a
        href={`/chats?c=${encodeURIComponent(chat._id)}`}
        onClick={(event) => {
          if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          onSelect(chat._id);
        }}
        data-testid="chat-item"
        data-chat-id={chat._id}
        data-unread={unread}
        data-muted={muted || undefined}
        aria-current={active ? "page" : undefined}
        className={cn(
          "flex items-center gap-3 rounded-xl px-2.5 py-2.5 text-left transition-colors",
          active ? "bg-accent-soft" : "hover:bg-surface-2",
        )}
      >
        <Avatar
          name={title}
          seed={chat.isGroup ? chat._id : (entry.user?._id ?? chat._id)}
          image={chat.isGroup ? null : entry.user}
          size="lg"
          online={!chat.isGroup && online}
        />
        <span className="min-w-0 flex-1">
          <span className="flex items-baseline justify-between gap-2">
            <span className={cn("truncate text-[15px]", unread ? "font-semibold" : "font-medium")}>
              {title}
              <span className="sr-only">
                {chat.isGroup ? " (group)" : ""}
                {online ? ", online" : ""}
                {muted ? ", muted" : ""}
                {unread ? `, ${unread} unread` : ""},
              </span>
            </span>
            <span
              className={cn(
                "shrink-0 text-xs tabular-nums",
                unread ? "font-medium text-accent" : "text-muted",
              )}
            >
              {time}
            </span>
          </span>
          <span className="mt-0.5 flex items-center justify-between gap-2">
            <span
              className={cn(
                "truncate text-sm",
                typingText ? "text-accent italic" : unread ? "text-fg" : "text-muted",
              )}
            >
              {typingText ??
                (draft ? (
                  <>
                    <span className="font-medium text-danger">Draft: </span>
                    {draft.trim()}
                  </>
                ) : (
                  preview
                ))}
            </span>
            <span className="flex shrink-0 items-center gap-1">
              {muted ? (
                <BellOffIcon size={14} className="text-muted" data-testid="muted-icon" />
              ) : null}
              <CountBadge
                count={unread}
                data-testid="unread-badge"
                aria-hidden="true"
                className={muted ? "bg-muted text-surface" : undefined}
              />
            </span>
          </span>
        </span>
      </a>
    </li>
  );
});
