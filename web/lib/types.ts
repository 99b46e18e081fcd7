/** Documents exchanged with the Parley API (see the HTTP API contract). */

export interface User {
  _id: string;
  name: string;
  email: string;
  createdAt?: string;
  updatedAt?: string;
}

/** One signed-in session of the caller (`GET /sessions`): one per login, on any device. */
export interface Session {
  _id: string;
  createdAt: string;
  lastUsedAt: string | null;
  userAgent: string | null;
  /** True for the session of this browser. */
  current: boolean;
}

export interface LatestMessage {
  text: string;
  sender: string;
}

export interface Chat {
  _id: string;
  users: string[];
  name?: string | null;
  isGroup: boolean;
  latestMessage: LatestMessage | null;
  unseenCount: number;
  createdAt: string;
  updatedAt: string;
  admins?: string[];
}

/** One row of `GET /chat/all`: `user` is the other member of a 1:1 chat, null for groups. */
export interface ChatEntry {
  user: User | null;
  chat: Chat;
}

export interface MessageImage {
  url: string;
  publicId?: string;
  width?: number;
  height?: number;
}

export interface Message {
  _id: string;
  chatId: string;
  sender: string;
  text: string;
  image?: MessageImage | null;
  messageType: "text" | "image";
  seen: boolean;
  seenAt?: string | null;
  createdAt: string;
  updatedAt?: string;
  clientId?: string | null;
}

export type MessageStatus = "pending" | "sent" | "seen" | "failed";

/** A message as the conversation view holds it: stored, or still on its way. */
export interface UiMessage extends Message {
  status: MessageStatus;
  /** Stable React key: the clientId when we sent it, else the server id. */
  key: string;
  /** Upload progress 0..1 while pending. */
  progress?: number;
  /** Why the last send failed, already phrased for people. */
  error?: string;
  /** HTTP status of the failed send (0 = no answer, worth retrying by itself). */
  failedStatus?: number;
  /** The file to send again on retry. */
  file?: File | null;
}

export interface SeenEvent {
  chatId: string;
  seenBy: string;
  messageIds: string[];
}

export interface TypingEvent {
  chatId: string;
  userId: string;
}
