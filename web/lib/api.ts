/**
 * The typed client for Parley's HTTP API. Components call these functions and
 * never `fetch` themselves; every failure arrives as an `ApiError`.
 */
import { API_BASE, API_ORIGIN, CHAT_PAGE_SIZE, MESSAGE_PAGE_SIZE } from "./config";
import { ApiError, parseRetryAfter } from "./errors";
import { CSRF_HEADER, csrfToken } from "./session";
import type { components } from "./api-types.gen";
import type { ChatEntry, Message, Session, User } from "./types";

/** Request and response bodies, generated from the server's OpenAPI document. */
type Schemas = components["schemas"];

type Query = Record<string, string | number | undefined | null>;

interface RequestOptions {
  body?: unknown;
  /** A multipart body (the browser sets its Content-Type); instead of `body`. */
  form?: FormData;
  query?: Query;
  signal?: AbortSignal;
  /** A 401 answer means the session ended (default true; false for login requests). */
  auth?: boolean;
}

let unauthorizedHandler: (() => void) | null = null;

/** Called once by the session when any authenticated request answers 401. */
export function onUnauthorized(handler: (() => void) | null): void {
  unauthorizedHandler = handler;
}

function buildUrl(path: string, query?: Query): string {
  const url = `${API_BASE}${path}`;
  if (!query) return url;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}

/** The `{message, code}` of an error body, whichever parts are there. */
export function errorBody(data: unknown): { message: string | null; code: string | null } {
  const body =
    data && typeof data === "object" ? (data as { message?: unknown; code?: unknown }) : {};
  return {
    message: typeof body.message === "string" ? body.message : null,
    code: typeof body.code === "string" ? body.code : null,
  };
}

async function readError(
  response: Response,
): Promise<{ message: string | null; code: string | null }> {
  try {
    return errorBody(await response.json());
  } catch {
    return { message: null, code: null };
  }
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * Headers every call sends: the session cookie travels by itself (same origin);
 * writes repeat the CSRF cookie's value, which only a page of this origin can read.
 */
function sessionHeaders(method: string): Record<string, string> {
  const csrf = WRITES.has(method.toUpperCase()) ? csrfToken() : null;
  return csrf ? { [CSRF_HEADER]: csrf } : {};
}

async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<{ data: T; headers: Headers }> {
  const headers: Record<string, string> = { Accept: "application/json", ...sessionHeaders(method) };
  const useAuth = options.auth !== false;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";

  const response = await fetch(buildUrl(path, options.query), {
    method,
    headers,
    body: options.form ?? (options.body !== undefined ? JSON.stringify(options.body) : undefined),
    signal: options.signal,
    cache: "no-store",
    credentials: "same-origin",
  });

  if (!response.ok) {
    const { message, code } = await readError(response);
    const error = new ApiError(
      response.status,
      message,
      parseRetryAfter(response.headers.get("Retry-After")),
      code,
    );
    if (response.status === 401 && useAuth) unauthorizedHandler?.();
    throw error;
  }
  const text = await response.text();
  const data = (text ? JSON.parse(text) : null) as T;
  return { data, headers: response.headers };
}

async function call<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
  return (await request<T>(method, path, options)).data;
}

const enc = encodeURIComponent;

// ---- user service -------------------------------------------------------

/** Emails a code: the answer says how long it works (`expiresIn`) and when to ask again (`resendIn`). */
export function login(email: string): Promise<Schemas["LoginResponse"]> {
  return call("POST", "/login", { body: { email }, auth: false });
}

/** Signs in: the answer sets the session cookies (its `token` is for API clients and unused here). */
export function verify(email: string, otp: string): Promise<Schemas["AuthResponse"]> {
  return call("POST", "/verify", { body: { email, otp }, auth: false });
}

/** The signed-in user; 401 when this browser has no valid session. `quiet` skips the session-ended handler. */
export function me(
  signal?: AbortSignal,
  { quiet = false }: { quiet?: boolean } = {},
): Promise<User> {
  return call("GET", "/me", { signal, auth: !quiet });
}

export function updateUser(name: string): Promise<{ message: string; user: User }> {
  return call("POST", "/update/user", { body: { name } });
}

/** Sets the caller's avatar from a picture (checked, cropped to a square and resized by the server). */
export function uploadAvatar(image: File): Promise<{ message: string; user: User }> {
  const form = new FormData();
  form.append("image", image, image.name);
  return call("POST", "/user/avatar", { form });
}

/** Removes the caller's avatar; people see their initials again. */
export function removeAvatar(): Promise<{ message: string; user: User }> {
  return call("DELETE", "/user/avatar");
}

export function logout(): Promise<unknown> {
  return call("POST", "/logout");
}

/** Ends every session of the caller, this one included. */
export function logoutEverywhere(): Promise<unknown> {
  return call("POST", "/logout/all");
}

export async function listSessions(signal?: AbortSignal): Promise<Session[]> {
  const data = await call<Session[]>("GET", "/sessions", { signal });
  return Array.isArray(data) ? data : [];
}

export function endSession(sessionId: string): Promise<unknown> {
  return call("DELETE", `/sessions/${enc(sessionId)}`);
}

export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

export async function searchUsers(
  params: { q?: string; limit?: number; cursor?: string | null },
  signal?: AbortSignal,
): Promise<UserPage> {
  const { data, headers } = await request<User[]>("GET", "/user/all", {
    query: { q: params.q?.trim(), limit: params.limit ?? 20, cursor: params.cursor },
    signal,
  });
  return {
    users: Array.isArray(data) ? data : [],
    nextCursor: headers.get("X-Next-Cursor") || null,
  };
}

/** Profiles of several users by id (unknown ids are left out). */
export async function usersByIds(ids: string[], signal?: AbortSignal): Promise<User[]> {
  if (ids.length === 0) return [];
  const data = await call<Schemas["UsersResponse"]>("POST", "/user/batch", {
    body: { ids },
    signal,
  });
  return data?.users ?? [];
}

// ---- chats --------------------------------------------------------------

export function createChat(
  otherUserId: string,
): Promise<Schemas["ChatCreated"] | Schemas["ChatExists"]> {
  return call("POST", "/chat/new", { body: { otherUserId } });
}

export function createGroup(name: string, userIds: string[]): Promise<Schemas["ChatCreated"]> {
  return call("POST", "/chat/group", { body: { name, userIds } });
}

export interface ChatPage {
  chats: ChatEntry[];
  /** The cursor of the next page (`X-Next-Cursor`), null on the last one. */
  nextCursor: string | null;
}

/** A page of the caller's chats, latest activity first. */
export async function listChats(
  params: { limit?: number; cursor?: string | null } = {},
  signal?: AbortSignal,
): Promise<ChatPage> {
  const { data, headers } = await request<Schemas["ChatList"]>("GET", "/chat/all", {
    query: { limit: params.limit ?? CHAT_PAGE_SIZE, cursor: params.cursor },
    signal,
  });
  return { chats: data?.chats ?? [], nextCursor: headers.get("X-Next-Cursor") || null };
}

export type ChatDetails = Schemas["ChatView"];

export function getChat(chatId: string, signal?: AbortSignal): Promise<ChatDetails> {
  return call("GET", `/chat/${enc(chatId)}`, { signal });
}

export function renameChat(chatId: string, name: string): Promise<Schemas["ChatUpdated"]> {
  return call("POST", `/chat/${enc(chatId)}/rename`, { body: { name } });
}

export function addMembers(chatId: string, userIds: string[]): Promise<Schemas["ChatUpdated"]> {
  return call("POST", `/chat/${enc(chatId)}/members`, { body: { userIds } });
}

export function removeMember(chatId: string, userId: string): Promise<Schemas["ChatUpdated"]> {
  return call("DELETE", `/chat/${enc(chatId)}/members/${enc(userId)}`);
}

export function leaveChat(chatId: string): Promise<Schemas["MessageResponse"]> {
  return call("POST", `/chat/${enc(chatId)}/leave`);
}

// ---- messages -----------------------------------------------------------

export function getMessages(
  chatId: string,
  params: { before?: string | null; limit?: number } = {},
  signal?: AbortSignal,
): Promise<{ messages: Message[]; user?: unknown }> {
  return call("GET", `/message/${enc(chatId)}`, {
    query: { before: params.before, limit: params.limit ?? MESSAGE_PAGE_SIZE },
    signal,
  });
}

export interface SendMessageInput {
  chatId: string;
  text: string;
  clientId: string;
  image?: File | null;
  /** The id of the message this one answers. */
  replyTo?: string | null;
}

export interface MessageSent {
  message: Message;
}

export interface SendHandle {
  promise: Promise<MessageSent>;
  abort: () => void;
}

/**
 * Sends a message as multipart form data. Uses XMLHttpRequest rather than fetch
 * because only XHR reports upload progress, which image sends show.
 */
export function sendMessage(
  input: SendMessageInput,
  onProgress?: (fraction: number) => void,
): SendHandle {
  const xhr = new XMLHttpRequest();
  const promise = new Promise<MessageSent>((resolve, reject) => {
    const form = new FormData();
    form.append("chatId", input.chatId);
    form.append("text", input.text);
    form.append("clientId", input.clientId);
    if (input.replyTo) form.append("replyTo", input.replyTo);
    if (input.image) form.append("image", input.image, input.image.name);

    xhr.open("POST", `${API_BASE}/message`);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(sessionHeaders("POST")))
      xhr.setRequestHeader(name, value);
    xhr.responseType = "text";

    if (onProgress) {
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
      };
    }
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        body = null;
      }
      if (
        xhr.status >= 200 &&
        xhr.status < 300 &&
        body &&
        typeof body === "object" &&
        "message" in body
      ) {
        resolve(body as MessageSent);
        return;
      }
      const { message: serverMessage, code } = errorBody(body);
      if (xhr.status === 401) unauthorizedHandler?.();
      reject(
        new ApiError(
          xhr.status || 0,
          serverMessage,
          parseRetryAfter(xhr.getResponseHeader("Retry-After")),
          code,
        ),
      );
    };
    xhr.onerror = () => reject(new ApiError(0, null));
    xhr.ontimeout = () => reject(new ApiError(0, null));
    xhr.onabort = () => reject(new DOMException("Send cancelled", "AbortError"));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Sends a text message as JSON (no upload progress to report). */
export function sendText(input: SendMessageInput): Promise<MessageSent> {
  return call("POST", "/message", {
    body: {
      chatId: input.chatId,
      text: input.text,
      clientId: input.clientId,
      ...(input.replyTo ? { replyTo: input.replyTo } : {}),
    },
  });
}

/** Changes the text of one's own message (within the server's edit window). */
export function editMessage(messageId: string, text: string): Promise<MessageSent> {
  return call("PATCH", `/message/${enc(messageId)}`, { body: { text } });
}

/** Deletes a message for everyone; the answer is the tombstone. */
export function deleteMessage(messageId: string): Promise<MessageSent> {
  return call("DELETE", `/message/${enc(messageId)}`);
}

/** Adds (`on`) or takes back the caller's reaction with one emoji. */
export function setReaction(messageId: string, emoji: string, on: boolean): Promise<MessageSent> {
  return call(on ? "PUT" : "DELETE", `/message/${enc(messageId)}/reactions/${enc(emoji)}`);
}

// ---- search, mute, settings, blocks, export ---------------------------

export type SearchResult = Schemas["SearchResult"];

export interface SearchPage {
  results: SearchResult[];
  /** The cursor of the next page (`X-Next-Cursor`), null on the last one. */
  nextCursor: string | null;
}

/** Messages of the caller's chats matching `q` (all chats, or only `chatId`), best match first. */
export async function searchMessages(
  params: { q: string; chatId?: string | null; limit?: number; cursor?: string | null },
  signal?: AbortSignal,
): Promise<SearchPage> {
  const { data, headers } = await request<Schemas["SearchResults"]>("GET", "/search", {
    query: {
      q: params.q.trim(),
      chatId: params.chatId,
      limit: params.limit ?? 20,
      cursor: params.cursor,
    },
    signal,
  });
  return { results: data?.results ?? [], nextCursor: headers.get("X-Next-Cursor") || null };
}

/** Mutes a chat for the caller until a time (ISO), or unmutes it with null. */
export function muteChat(chatId: string, until: string | null): Promise<Schemas["Muted"]> {
  return call("POST", `/chat/${enc(chatId)}/mute`, { body: { until } });
}

export type Settings = Schemas["SettingsDocument"];

export function getSettings(signal?: AbortSignal): Promise<Settings> {
  return call("GET", "/me/settings", { signal });
}

export function updateSettings(patch: Schemas["SettingsPatch"]): Promise<Settings> {
  return call("PATCH", "/me/settings", { body: patch });
}

export function blockUser(userId: string): Promise<Schemas["MessageResponse"]> {
  return call("POST", `/user/${enc(userId)}/block`);
}

export function unblockUser(userId: string): Promise<Schemas["MessageResponse"]> {
  return call("DELETE", `/user/${enc(userId)}/block`);
}

/** A page of the people the caller blocked, ordered by name. */
export async function listBlocked(
  params: { limit?: number; cursor?: string | null } = {},
  signal?: AbortSignal,
): Promise<UserPage> {
  const { data, headers } = await request<User[]>("GET", "/user/blocked", {
    query: { limit: params.limit ?? 50, cursor: params.cursor },
    signal,
  });
  return {
    users: Array.isArray(data) ? data : [],
    nextCursor: headers.get("X-Next-Cursor") || null,
  };
}

/** Who of `ids` the caller blocked, and who blocked the caller. */
export function blockRelations(
  ids: string[],
  signal?: AbortSignal,
): Promise<Schemas["BlockRelations"]> {
  return call("POST", "/user/block-relations", { body: { ids }, signal });
}

export interface Download {
  blob: Blob;
  filename: string;
}

/** The whole conversation as a file: JSON, or a self-contained HTML page. */
export async function exportChat(chatId: string, format: "json" | "html"): Promise<Download> {
  const response = await fetch(buildUrl(`/chat/${enc(chatId)}/export`, { format }), {
    headers: { Accept: format === "json" ? "application/json" : "text/html" },
    cache: "no-store",
    credentials: "same-origin",
  });
  if (!response.ok) {
    const { message, code } = await readError(response);
    if (response.status === 401) unauthorizedHandler?.();
    throw new ApiError(
      response.status,
      message,
      parseRetryAfter(response.headers.get("Retry-After")),
      code,
    );
  }
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const named = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  const filename = named ? decodeURIComponent(named[1]) : `parley-chat.${format}`;
  return { blob: await response.blob(), filename };
}

// ---- dev mailbox --------------------------------------------------------

/** True when the server runs with the dev mailbox (no SMTP configured). */
export async function devMailAvailable(signal?: AbortSignal): Promise<boolean> {
  try {
    const response = await fetch(`${API_ORIGIN}/dev/mail/messages`, { signal, cache: "no-store" });
    return response.ok;
  } catch {
    return false;
  }
}
