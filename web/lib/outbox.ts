/**
 * Messages on their way, and those written while the server could not be reached. They are kept
 * in localStorage (so a reload keeps them), their images in IndexedDB, shown as pending in their
 * chat, and sent once each, in the order they were written, when the connection returns: one at
 * a time, each with its `clientId`, so a send that reached the server before the connection
 * dropped is stored once.
 */
import { createStore, del, get, set, type UseStore } from "idb-keyval";
import { sendMessage, sendText } from "./api";
import { ApiError } from "./errors";
import type { ParleySocket } from "./socket";
import type { Message } from "./types";

export interface OutboxEntry {
  clientId: string;
  chatId: string;
  sender: string;
  text: string;
  createdAt: string;
  /** The id of the message this one answers. */
  replyTo?: string | null;
  /** An image goes with the text: the file waits in IndexedDB under the entry's clientId. */
  image?: { name: string; type: string; width?: number; height?: number } | null;
}

export type OutboxResult =
  | { kind: "sent"; entry: OutboxEntry; message: Message }
  | { kind: "refused"; entry: OutboxEntry; error: unknown };

const KEY = "parley.outbox";

function read(): OutboxEntry[] {
  try {
    const value: unknown = JSON.parse(window.localStorage.getItem(KEY) ?? "[]");
    return Array.isArray(value) ? (value as OutboxEntry[]) : [];
  } catch {
    return [];
  }
}

function write(entries: OutboxEntry[]): void {
  try {
    if (entries.length) window.localStorage.setItem(KEY, JSON.stringify(entries));
    else window.localStorage.removeItem(KEY);
  } catch {
    // Storage full or disabled: the entries live as long as this page.
  }
}

/** What waits to be sent, oldest first (of one chat when `chatId` is given). */
export function outboxEntries(chatId?: string): OutboxEntry[] {
  if (typeof window === "undefined") return [];
  const all = read();
  return chatId ? all.filter((entry) => entry.chatId === chatId) : all;
}

// ---- images -------------------------------------------------------------

let imageStore: UseStore | null = null;

function images(): UseStore | null {
  if (typeof indexedDB === "undefined") return null;
  imageStore ??= createStore("parley-outbox", "images");
  return imageStore;
}

/** This page's files by clientId: they go out from here, IndexedDB keeps them for after a reload. */
const files = new Map<string, Blob>();

/** The image of a waiting entry: from this page, else from IndexedDB (after a reload); or null. */
export async function outboxImage(clientId: string): Promise<Blob | null> {
  const here = files.get(clientId);
  if (here) return here;
  const store = images();
  if (!store) return null;
  try {
    const kept = await get<Blob>(clientId, store);
    return kept instanceof Blob ? kept : null;
  } catch {
    return null;
  }
}

function forgetImage(clientId: string): void {
  files.delete(clientId);
  const store = images();
  if (store) void del(clientId, store).catch(() => undefined);
}

/** Queues `entry` behind what waits already; its image, if any, is `file`. */
export function enqueue(entry: OutboxEntry, file?: Blob | null): void {
  if (entry.image && file) {
    files.set(entry.clientId, file);
    const store = images();
    // Storage full or disabled: the image still goes out from this page.
    if (store) void set(entry.clientId, file, store).catch(() => undefined);
  }
  const all = read().filter((e) => e.clientId !== entry.clientId);
  write([...all, entry]);
}

export function dequeue(clientId: string): void {
  const all = read();
  if (all.some((e) => e.clientId === clientId && e.image)) forgetImage(clientId);
  write(all.filter((e) => e.clientId !== clientId));
}

export function clearOutbox(): void {
  for (const entry of read()) if (entry.image) forgetImage(entry.clientId);
  files.clear();
  write([]);
}

const listeners = new Set<(result: OutboxResult) => void>();

/** Hears each entry that went out or was refused; returns the unsubscribe. */
export function onOutboxResult(listener: (result: OutboxResult) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const progressListeners = new Set<(clientId: string, fraction: number) => void>();

/** Hears the upload progress (0..1) of images on their way; returns the unsubscribe. */
export function onOutboxProgress(
  listener: (clientId: string, fraction: number) => void,
): () => void {
  progressListeners.add(listener);
  return () => progressListeners.delete(listener);
}

let flushing: Promise<void> | null = null;

/** How long a socket send waits for its acknowledgement before going over HTTP. */
const SOCKET_ACK_TIMEOUT_MS = 5000;

/** The HTTP status each error code of the API stands for, so a socket error is worded the same way. */
const STATUS_OF_CODE: Record<string, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  blocked: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported_type: 415,
  rate_limited: 429,
  too_many_messages: 429,
  unavailable: 503,
  overloaded: 503,
  user_service_unavailable: 503,
};

export function statusOfCode(code: string | null | undefined): number {
  return (code && STATUS_OF_CODE[code]) || 400;
}

let socket: ParleySocket | null = null;

/** The tab's Socket.IO connection (null when there is none): text goes over it while it is up. */
export function setSendSocket(next: ParleySocket | null): void {
  socket = next;
}

async function overHttp(entry: OutboxEntry): Promise<Message> {
  const { chatId, text, clientId, replyTo } = entry;
  return (await sendText({ chatId, text, clientId, replyTo })).message;
}

/** An image goes as multipart over HTTP, with upload progress. */
async function withImage(entry: OutboxEntry): Promise<Message> {
  const { chatId, text, clientId, replyTo, image } = entry;
  const blob = await outboxImage(clientId);
  // The file is gone (storage cleared): the server says what a message without it lacks.
  const file = blob && image ? new File([blob], image.name, { type: image.type }) : null;
  const handle = sendMessage({ chatId, text, clientId, replyTo, image: file }, (fraction) =>
    progressListeners.forEach((listener) => listener(clientId, fraction)),
  );
  return (await handle.promise).message;
}

/**
 * One send: `sendMessage` over the socket with an acknowledgement while it is connected, else
 * JSON over HTTP. No acknowledgement in time (a connection lost on the way) goes over HTTP with
 * the same clientId, which the server stores once.
 */
export async function post(entry: OutboxEntry): Promise<Message> {
  if (entry.image) return withImage(entry);
  const s = socket;
  if (!s || !s.connected) return overHttp(entry);
  const { chatId, text, clientId, replyTo } = entry;
  let answer;
  try {
    answer = await s
      .timeout(SOCKET_ACK_TIMEOUT_MS)
      .emitWithAck("sendMessage", { chatId, text, clientId, replyTo: replyTo ?? null });
  } catch {
    return overHttp(entry);
  }
  if (answer && "message" in answer && answer.message) return answer.message;
  const error = answer && "error" in answer ? answer.error : null;
  const code = error?.code ?? null;
  throw new ApiError(statusOfCode(code), error?.message ?? null, null, code);
}

/**
 * Sends what waits, in order, one at a time. Stops at the first send that gets no answer (still
 * offline: the rest keep their order for the next flush). A refusal (4xx) drops the entry and is
 * reported, so its bubble can show why. Concurrent calls share one run.
 */
export function flushOutbox(send: (entry: OutboxEntry) => Promise<Message> = post): Promise<void> {
  if (flushing) return flushing.then(() => flushOutbox(send));
  const run = (async () => {
    for (;;) {
      const [entry] = read();
      if (!entry) return;
      let result: OutboxResult;
      try {
        result = { kind: "sent", entry, message: await send(entry) };
      } catch (error) {
        const unreachable =
          !(error instanceof ApiError) ||
          error.status === 0 ||
          error.status === 429 ||
          error.status >= 500;
        if (unreachable) return;
        result = { kind: "refused", entry, error };
      }
      dequeue(entry.clientId);
      listeners.forEach((listener) => listener(result));
    }
  })();
  // Cleared once this run ends (also when it ended at once, before this line ran).
  const tracked = run.finally(() => {
    if (flushing === tracked) flushing = null;
  });
  flushing = tracked;
  return tracked;
}
