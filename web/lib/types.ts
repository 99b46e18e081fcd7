/** Documents exchanged with the Parley API (see the HTTP API contract). */
import type { components } from "./api-types.gen";

/** The server's schemas, generated from its OpenAPI document (`make api-types`). */
type Schemas = components["schemas"];

/** A person as the API shows them; `email` only to contacts, exact searches and oneself. */
export type User = Schemas["UserDocument"] | Schemas["UserOut"];

/** One signed-in session of the caller (`GET /sessions`): one per login, on any device. */
export type Session = Schemas["SessionDocument"];

export type LatestMessage = Schemas["LatestMessage"];

/** A chat as `GET /chat/all` lists it; `GET /chat/{id}` adds `admins`. */
export type Chat = Schemas["ChatOut"] & { admins?: string[] };

export type ChatDetail = Schemas["ChatDetail"];

/** One row of `GET /chat/all`: `user` is the other member of a 1:1 chat, null for groups. */
export type ChatEntry = Schemas["ChatListItem"];

export type MessageImage = Schemas["ImageOut"];

/** The quoted message a reply carries (`text` at most 200 characters). */
export type ReplyQuote = Schemas["ReplyOut"];

export type Reaction = Schemas["ReactionOut"];

/** What a system message records: who did it, to whom, and the group's name then. */
export type SystemInfo = Schemas["SystemOut"];

export type Message = Schemas["MessageOut"];

export type MessageStatus = "pending" | "sent" | "seen" | "failed";

/** A message as the conversation view holds it: stored, or still on its way. */
export interface UiMessage extends Omit<Message, "image"> {
  /** A stored image, or the local preview of one being sent (its size may be unknown). */
  image?: { url: string; width?: number; height?: number; publicId?: string } | null;
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
