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
