/** Pure operations on the chat list (the sidebar). */
import { isMuted } from "./mute";
import type { ChatEntry, Message, User } from "./types";

/** Sum of unread messages across chats, for the page title and the icon; muted chats left out. */
export function unreadTotal(chats: ChatEntry[], now: number = Date.now()): number {
  return chats.reduce(
    (sum, entry) =>
      isMuted(entry.chat.mutedUntil, now) ? sum : sum + Math.max(0, entry.chat.unseenCount || 0),
    0,
  );
}

/** The page title: "(3) Parley" while anything is unread. */
export function pageTitle(unread: number, base = "Parley"): string {
  return unread > 0 ? `(${unread > 99 ? "99+" : unread}) ${base}` : base;
}

function activity(entry: ChatEntry): number {
  const t = Date.parse(entry.chat.updatedAt || entry.chat.createdAt);
  return Number.isNaN(t) ? 0 : t;
}

/** Newest activity first. */
export function sortChats(chats: ChatEntry[]): ChatEntry[] {
  return chats.slice().sort((a, b) => activity(b) - activity(a));
}

/** What a latest message shows in the list. */
export function previewText(
  latest: { text: string; deleted?: boolean | null } | null | undefined,
): string {
  if (!latest) return "";
  if (latest.deleted) return "This message was deleted";
  const text = latest.text?.trim();
  return text ? text : "Photo";
}

export interface IncomingOptions {
  myId: string;
  /** The chat open on screen and visible: its messages are read as they arrive. */
  activeChatId: string | null;
}

/**
 * Applies a `newMessage` to the list: the chat's preview and time change, it
 * moves to the top, and its badge rises unless it is ours or being read.
 * Returns null when the chat is unknown (the caller then reloads the list).
 */
export function applyIncomingMessage(
  chats: ChatEntry[],
  message: Message,
  options: IncomingOptions,
): ChatEntry[] | null {
  const index = chats.findIndex((entry) => entry.chat._id === message.chatId);
  if (index === -1) return null;
  const entry = chats[index];
  const fromOther = message.sender !== options.myId;
  const reading = options.activeChatId === message.chatId;
  const updated: ChatEntry = {
    ...entry,
    chat: {
      ...entry.chat,
      latestMessage: {
        text: message.text ?? "",
        sender: message.sender,
        deleted: Boolean(message.deleted),
      },
      updatedAt: message.createdAt || new Date().toISOString(),
      unseenCount:
        fromOther && !reading && message.messageType !== "system"
          ? (entry.chat.unseenCount || 0) + 1
          : entry.chat.unseenCount || 0,
    },
  };
  return [updated, ...chats.slice(0, index), ...chats.slice(index + 1)];
}

/** Clears a chat's badge (its messages were just read). */
export function markChatRead(chats: ChatEntry[], chatId: string): ChatEntry[] {
  const index = chats.findIndex((entry) => entry.chat._id === chatId);
  if (index === -1 || !chats[index].chat.unseenCount) return chats;
  const next = chats.slice();
  next[index] = { ...next[index], chat: { ...next[index].chat, unseenCount: 0 } };
  return next;
}

/** The name shown for a chat: the group's name, or the other person's. */
export function chatTitle(entry: {
  chat: ChatEntry["chat"];
  user: Pick<User, "name"> | null;
}): string {
  if (entry.chat.isGroup) return entry.chat.name?.trim() || "Unnamed group";
  return entry.user?.name || entry.chat.name || "Deleted user";
}

/** Keeps chats whose title, or other member's email, contains the filter. */
export function filterChats(chats: ChatEntry[], filter: string): ChatEntry[] {
  const needle = filter.trim().toLocaleLowerCase();
  if (!needle) return chats;
  return chats.filter((entry) => {
    const haystack = [chatTitle(entry), entry.user?.email ?? ""].join(" ").toLocaleLowerCase();
    return haystack.includes(needle);
  });
}

/** "Alice is typing…", "Alice and Bob are typing…", "3 people are typing…". */
export function typingText(
  userIds: string[],
  names: Map<string, string> | Record<string, string>,
  isGroup: boolean,
): string {
  if (userIds.length === 0) return "";
  const lookup = (id: string) => (names instanceof Map ? names.get(id) : names[id]) ?? "Someone";
  const first = (id: string) => lookup(id).split(/\s+/)[0] || "Someone";
  if (userIds.length === 1)
    return isGroup ? `${first(userIds[0])} is typing…` : `${lookup(userIds[0])} is typing…`;
  if (userIds.length === 2) return `${first(userIds[0])} and ${first(userIds[1])} are typing…`;
  return `${userIds.length} people are typing…`;
}

export function userById(users: User[]): Map<string, User> {
  return new Map(users.map((u) => [u._id, u]));
}
