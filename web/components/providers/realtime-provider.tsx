"use client";

import { createContext, useContext, useEffect, useRef, useState } from "react";
import * as api from "@/lib/api";
import { isApiError } from "@/lib/errors";
import { setSendSocket } from "@/lib/outbox";
import { maybeSignedIn } from "@/lib/session";
import {
  createSocket,
  type ConnectionState,
  type ParleySocket,
  type ServerToClientEvents,
} from "@/lib/socket";
import { useSession } from "./session-provider";

interface RealtimeValue {
  socket: ParleySocket | null;
  state: ConnectionState;
  /** Goes up by one on every successful (re)connection; a change means "refetch". */
  epoch: number;
  online: ReadonlySet<string>;
}

const RealtimeContext = createContext<RealtimeValue>({
  socket: null,
  state: "connecting",
  epoch: 0,
  online: new Set(),
});

export function useRealtime(): RealtimeValue {
  return useContext(RealtimeContext);
}

/** Subscribes to a server event for as long as the component is mounted. */
export function useSocketEvent<E extends keyof ServerToClientEvents>(
  event: E,
  handler: ServerToClientEvents[E],
): void {
  const { socket } = useRealtime();
  const handlerRef = useRef(handler);
  handlerRef.current = handler;
  useEffect(() => {
    if (!socket) return;
    const listener = ((...args: unknown[]) =>
      (handlerRef.current as (...a: unknown[]) => void)(
        ...args,
      )) as unknown as ServerToClientEvents[E];
    // socket.io's typed overloads do not narrow through a generic event name.
    (socket as unknown as { on: (e: string, l: unknown) => void }).on(event, listener);
    return () => {
      (socket as unknown as { off: (e: string, l: unknown) => void }).off(event, listener);
    };
  }, [socket, event]);
}

function browserOnline(): boolean {
  return typeof navigator === "undefined" || navigator.onLine !== false;
}

/** Holds the tab's Socket.IO connection, its state and who is online. */
export function RealtimeProvider({ children }: { children: React.ReactNode }) {
  const { user } = useSession();
  const userId = user._id;
  const [socket, setSocket] = useState<ParleySocket | null>(null);
  const [state, setState] = useState<ConnectionState>("connecting");
  const [epoch, setEpoch] = useState(0);
  const [online, setOnline] = useState<ReadonlySet<string>>(new Set());

  useEffect(() => {
    const s = createSocket();
    let retry: ReturnType<typeof setTimeout> | null = null;
    let disposed = false;
    let lastQuickReconnect = 0;

    s.on("connect", () => {
      setState("connected");
      setEpoch((n) => n + 1);
    });
    s.on("disconnect", (reason) => {
      setState(browserOnline() ? "reconnecting" : "offline");
      // Presence is unknown while we are cut off; the server resends it on connect.
      setOnline(new Set());
      // The server closed us on purpose, and socket.io will not retry this one. A rename
      // renews the session cookie and the server drops the old session's sockets: try again
      // at once, once in a while; otherwise (or if that is refused) check the session first.
      if (reason !== "io server disconnect") return;
      const now = Date.now();
      if (now - lastQuickReconnect > 10_000 && maybeSignedIn()) {
        lastQuickReconnect = now;
        s.connect();
      } else scheduleManualReconnect();
    });
    s.io.on("reconnect_attempt", () => setState(browserOnline() ? "reconnecting" : "offline"));
    s.on("connect_error", () => {
      // A refusal by the server's auth middleware leaves the socket inactive;
      // network failures keep it active and socket.io retries by itself.
      if (!s.active) scheduleManualReconnect();
      else
        setState((current) =>
          current === "connecting" ? "connecting" : browserOnline() ? "reconnecting" : "offline",
        );
    });
    s.on("getOnlineUser", (ids) => setOnline(new Set(Array.isArray(ids) ? ids : [])));

    function scheduleManualReconnect() {
      setState(browserOnline() ? "reconnecting" : "offline");
      if (retry || disposed) return;
      retry = setTimeout(async () => {
        retry = null;
        // No session cookie left: logged out here or in another tab, which the session handles.
        if (disposed || !maybeSignedIn()) return;
        try {
          await api.me();
        } catch (error) {
          // 401 ends the session through the API client; anything else, try again later.
          if (isApiError(error, 401)) return;
        }
        if (!disposed && !s.connected) s.connect();
      }, 3000);
    }

    const goOffline = () => {
      setState("offline");
      setOnline(new Set());
    };
    const goOnline = () => {
      setState(s.connected ? "connected" : "reconnecting");
      if (!s.connected && !s.active) s.connect();
    };
    window.addEventListener("offline", goOffline);
    window.addEventListener("online", goOnline);
    if (!browserOnline()) setState("offline");

    setSocket(s);
    setSendSocket(s);
    s.connect();
    return () => {
      disposed = true;
      if (retry) clearTimeout(retry);
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("online", goOnline);
      s.removeAllListeners();
      s.io.removeAllListeners();
      s.disconnect();
      setSendSocket(null);
      setSocket(null);
    };
  }, [userId]);

  const value: RealtimeValue = { socket, state, epoch, online };
  return <RealtimeContext.Provider value={value}>{children}</RealtimeContext.Provider>;
}
