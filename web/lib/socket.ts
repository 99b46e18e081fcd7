/**
 * The one Socket.IO connection of a logged-in tab, typed with Parley's events.
 * Components reach it through the realtime provider, never by calling `io`.
 */
import { io, type Socket } from "socket.io-client";
import { SOCKET_URL } from "./config";
import type { components } from "./socket-types.gen";

/**
 * The event payloads, generated from the chat service's AsyncAPI document
 * (`/asyncapi.json`, `make api-types`): event name → payload.
 */
type Events = components["schemas"];
type ServerEvents = Events["ServerToClientEvents"];
type ClientEvents = Events["ClientToServerEvents"];
type ClientAcks = Events["ClientToServerAcks"];

export type ServerToClientEvents = {
  [E in keyof ServerEvents]: (payload: ServerEvents[E]) => void;
};

/** Client events; those the server acknowledges take a callback for its answer. */
export type ClientToServerEvents = {
  [E in keyof ClientEvents]: E extends keyof ClientAcks
    ? (payload: ClientEvents[E], ack: (answer: ClientAcks[E]) => void) => void
    : (payload: ClientEvents[E]) => void;
};

/** The acknowledgement of `sendMessage`: `{message}` once stored, or `{error: {message, code}}`. */
export type SendAck = ClientAcks["sendMessage"];

export type ParleySocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

/**
 * A connection that authenticates with the session cookie, which the browser
 * sends with the handshake (same origin), so a renewed session is picked up on
 * every (re)connect. It reconnects by itself after network failures.
 */
export function createSocket(): ParleySocket {
  return io(SOCKET_URL, {
    path: "/socket.io/",
    autoConnect: false,
    reconnection: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 8000,
    randomizationFactor: 0.3,
    timeout: 10_000,
  });
}

/** Emits `typing` at most once per `interval` ms and `stopTyping` after `idle` ms of quiet. */
export class TypingEmitter {
  private lastSent = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private active = false;

  constructor(
    private readonly emit: (event: "typing" | "stopTyping") => void,
    private readonly interval = 2000,
    private readonly idle = 3000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Call on every keystroke that leaves text in the composer. */
  keystroke(): void {
    const t = this.now();
    if (!this.active || t - this.lastSent >= this.interval) {
      this.emit("typing");
      this.lastSent = t;
      this.active = true;
    }
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stop(), this.idle);
  }

  /** Call on send, on clearing the composer and on leaving the chat. */
  stop(): void {
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.active) {
      this.active = false;
      this.lastSent = 0;
      this.emit("stopTyping");
    }
  }
}
