/**
 * Pure operations on a conversation's message list. The list keeps stored
 * messages in time order, followed by the ones still on their way (pending or
 * failed), so an optimistic bubble stays at the bottom until the server has it.
 */
import type { Message, MessageStatus, UiMessage } from "./types";

function isConfirmed(message: UiMessage): boolean {
  return message.status === "sent" || message.status === "seen";
}

function time(message: { createdAt: string }): number {
  const t = Date.parse(message.createdAt);
  return Number.isNaN(t) ? 0 : t;
}

/** Status shown for a stored message. */
export function storedStatus(message: Message): MessageStatus {
  return message.seen ? "seen" : "sent";
}

/** Wraps a stored message for the view, keeping the key of the bubble it replaces. */
export function fromServer(message: Message, key?: string): UiMessage {
  return {
    ...message,
    status: storedStatus(message),
    key: key ?? message.clientId ?? message._id,
  };
}

/** A bubble for a message we are about to send. */
export function pendingMessage(input: {
  clientId: string;
  chatId: string;
  sender: string;
  text: string;
  file?: File | null;
  previewUrl?: string | null;
  width?: number;
  height?: number;
  now?: Date;
  /** The message this one answers, quoted above it while it is on its way. */
  replyTo?: Quotable | null;
}): UiMessage {
  const createdAt = (input.now ?? new Date()).toISOString();
  return {
    _id: `local-${input.clientId}`,
    key: input.clientId,
    clientId: input.clientId,
    chatId: input.chatId,
    sender: input.sender,
    text: input.text,
    image: input.previewUrl
      ? { url: input.previewUrl, width: input.width, height: input.height }
      : null,
    messageType: input.previewUrl ? "image" : "text",
    editedAt: null,
    deleted: false,
    replyTo: input.replyTo ? quoteOf(input.replyTo) : null,
    reactions: [],
    seen: false,
    seenAt: null,
    createdAt,
    updatedAt: createdAt,
    status: "pending",
    progress: 0,
    file: input.file ?? null,
  };
}

/** Inserts a confirmed message at its place in time, before any unsent bubble. */
function insertConfirmed(list: UiMessage[], message: UiMessage): UiMessage[] {
  const next = list.slice();
  let index = next.length;
  while (index > 0 && !isConfirmed(next[index - 1])) index--;
  while (index > 0 && time(next[index - 1]) > time(message)) index--;
  next.splice(index, 0, message);
  return next;
}

/**
 * Merges a stored message into the list: it replaces the bubble with the same
 * server id or the same clientId (an optimistic send), else it is added. Never
 * produces two bubbles for one message, whichever of the HTTP answer and the
 * `newMessage` event arrives first. `clientId` names the optimistic bubble when
 * the caller knows it even if the server did not echo it back.
 */
export function upsertMessage(
  list: UiMessage[],
  message: Message,
  clientId?: string | null,
): UiMessage[] {
  const cid = clientId ?? message.clientId ?? null;
  const byId = list.findIndex((m) => m._id === message._id);
  const byClient = cid ? list.findIndex((m) => m.clientId === cid) : -1;

  if (byId === -1 && byClient === -1) return insertConfirmed(list, fromServer(message));

  const keep = byClient !== -1 ? byClient : byId;
  const other = byClient !== -1 && byId !== -1 && byId !== byClient ? byId : -1;
  const existing = list[keep];
  // Once seen, a message stays seen even if an older copy arrives later.
  const seen =
    message.seen || list[keep].status === "seen" || (other !== -1 && list[other].status === "seen");
  const merged = fromServer(
    { ...message, seen, clientId: message.clientId ?? cid ?? undefined },
    existing.key,
  );

  if (isConfirmed(existing)) {
    const next = list.slice();
    next[keep] = merged;
    if (other !== -1) next.splice(other, 1);
    return next;
  }
  // The bubble was still on its way: it is stored now, so it moves among the stored ones.
  return insertConfirmed(
    list.filter((_, i) => i !== keep && i !== other),
    merged,
  );
}

/** Adds an older page (oldest first) before the loaded messages, skipping ones already there. */
export function prependHistory(list: UiMessage[], older: Message[]): UiMessage[] {
  const known = new Set(list.map((m) => m._id));
  const fresh = older.filter((m) => !known.has(m._id)).map((m) => fromServer(m));
  return [...fresh, ...list];
}

/** Replaces the stored part with a fresh latest page, keeping unsent bubbles and older history. */
export function mergeLatest(list: UiMessage[], latest: Message[]): UiMessage[] {
  let next = list;
  for (const message of latest) next = upsertMessage(next, message);
  return next;
}

/** Marks messages as seen by their ids. */
export function markSeen(list: UiMessage[], messageIds: string[], seenAt?: string): UiMessage[] {
  if (messageIds.length === 0) return list;
  const ids = new Set(messageIds);
  let changed = false;
  const next = list.map((m) => {
    if (!ids.has(m._id) || m.status === "seen") return m;
    changed = true;
    return { ...m, seen: true, seenAt: seenAt ?? m.seenAt ?? null, status: "seen" as const };
  });
  return changed ? next : list;
}

/** Marks every stored message of `sender` as seen (when a peer opens the chat). */
export function markAllSeenFrom(list: UiMessage[], sender: string): UiMessage[] {
  return markSeen(
    list,
    list.filter((m) => m.sender === sender && isConfirmed(m)).map((m) => m._id),
  );
}

/** Updates a bubble found by clientId. */
export function patchByClientId(
  list: UiMessage[],
  clientId: string,
  patch: Partial<UiMessage>,
): UiMessage[] {
  const index = list.findIndex((m) => m.clientId === clientId);
  if (index === -1) return list;
  const next = list.slice();
  next[index] = { ...next[index], ...patch };
  return next;
}

export function removeByClientId(list: UiMessage[], clientId: string): UiMessage[] {
  return list.filter((m) => m.clientId !== clientId);
}

/** The oldest stored message, the cursor for loading older history. */
export function oldestStoredId(list: UiMessage[]): string | null {
  const first = list.find(isConfirmed);
  return first ? first._id : null;
}

function stamp(message: { updatedAt?: string; editedAt?: string | null }): number {
  const t = Date.parse(message.updatedAt ?? "");
  return Number.isNaN(t) ? 0 : t;
}

/** The quote a reply shows of `original`, as the server would write it. */
type Quotable = Pick<Message, "_id" | "sender" | "text" | "messageType" | "deleted">;

function quoteOf(original: Quotable): NonNullable<Message["replyTo"]> {
  return {
    _id: original._id,
    sender: original.sender,
    text: original.deleted ? "" : (original.text ?? "").slice(0, 200),
    messageType: original.messageType,
    deleted: Boolean(original.deleted),
  };
}

/**
 * Applies a changed message (`messageUpdated`, or the answer to an edit, a
 * deletion or a reaction) in place. An older copy never overwrites a newer one
 * and a tombstone is final, so racing updates end in the same state on every
 * client whatever order they arrive in. Replies quoting it follow. Messages not
 * loaded here are ignored: they arrive fresh with their page.
 */
export function replaceMessage(list: UiMessage[], message: Message): UiMessage[] {
  const index = list.findIndex((m) => m._id === message._id);
  let next = list;
  if (index !== -1) {
    const existing = list[index];
    const stale =
      (existing.deleted && !message.deleted) ||
      (!message.deleted && stamp(message) < stamp(existing));
    if (stale) return list;
    next = list.slice();
    const seen = message.seen || existing.status === "seen";
    next[index] = fromServer(
      { ...message, seen, clientId: message.clientId ?? existing.clientId },
      existing.key,
    );
  }
  const quote = quoteOf(message);
  let quoted = false;
  const out = next.map((m) => {
    if (!m.replyTo || m.replyTo._id !== message._id) return m;
    if (m.replyTo.deleted) return m;
    quoted = true;
    return { ...m, replyTo: quote };
  });
  return quoted ? out : next;
}

/** True when `myId` may edit `message` now: their own text, not deleted, within the window. */
export function canEdit(
  message: UiMessage,
  myId: string,
  windowSeconds: number,
  now: number = Date.now(),
): boolean {
  if (message.sender !== myId || message.deleted || message.messageType === "system") return false;
  if (!isConfirmed(message)) return false;
  return now - time(message) < windowSeconds * 1000;
}

/** The caller's latest message that can still be edited (the up arrow's target). */
export function lastEditable(
  list: UiMessage[],
  myId: string,
  windowSeconds: number,
  now: number = Date.now(),
): UiMessage | null {
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i];
    if (m.sender === myId && isConfirmed(m) && m.messageType !== "system" && !m.deleted)
      return canEdit(m, myId, windowSeconds, now) && (m.text ?? "").length > 0 ? m : null;
  }
  return null;
}

/** True when `myId` may delete `message`: their own, or any message of a group they administer. */
export function canDelete(message: UiMessage, myId: string, groupAdmin: boolean): boolean {
  if (message.deleted || message.messageType === "system" || !isConfirmed(message)) return false;
  return message.sender === myId || groupAdmin;
}

/** True when `userId` has reacted to `message` with `emoji`. */
export function hasReacted(
  message: Pick<Message, "reactions">,
  emoji: string,
  userId: string,
): boolean {
  return (message.reactions ?? []).some((r) => r.emoji === emoji && r.users.includes(userId));
}

/** "Alice added Carol", "You renamed the group to Trip": one line for a system message. */
export function systemText(
  message: Pick<Message, "system" | "text">,
  nameOf: (userId: string) => string,
): string {
  const info = message.system;
  if (!info) return message.text || "The group changed";
  const actor = nameOf(info.actor);
  const users = (info.users ?? []).map(nameOf);
  const list =
    users.length <= 1
      ? (users[0] ?? "someone")
      : `${users.slice(0, -1).join(", ")} and ${users[users.length - 1]}`;
  switch (info.action) {
    case "created":
      return info.name ? `${actor} created the group “${info.name}”` : `${actor} created the group`;
    case "added":
      return `${actor} added ${list}`;
    case "removed":
      return `${actor} removed ${list}`;
    case "left":
      return `${actor} left`;
    case "renamed":
      return info.name
        ? `${actor} renamed the group to “${info.name}”`
        : `${actor} renamed the group`;
  }
  return message.text || "The group changed";
}
