"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import * as api from "@/lib/api";
import { MESSAGE_PAGE_SIZE } from "@/lib/config";
import { ApiError, describeError } from "@/lib/errors";
import {
  fromServer,
  markSeen,
  mergeLatest,
  oldestStoredId,
  patchByClientId,
  pendingMessage,
  prependHistory,
  removeByClientId,
  upsertMessage,
} from "@/lib/messages";
import type { UiMessage } from "@/lib/types";
import { uuid } from "@/lib/utils";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime, useSocketEvent } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";
import { usePageVisible } from "./use-page-visible";

export interface OutgoingImage {
  file: File;
  previewUrl: string;
  width?: number;
  height?: number;
}

/**
 * One open conversation: its messages, older history, optimistic sends with
 * retry, and the live events that change them.
 */
export function useConversation(chatId: string) {
  const { user } = useSession();
  const { socket, epoch, state } = useRealtime();
  const { markRead, setActiveChat } = useChats();
  const visible = usePageVisible();

  const [messages, setMessages] = useState<UiMessage[]>([]);
  const [status, setStatus] = useState<"loading" | "ready" | "error">("loading");
  const [error, setError] = useState<string | null>(null);
  const [errorStatus, setErrorStatus] = useState<number | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const loaded = useRef(false);
  const objectUrls = useRef<string[]>([]);

  const loadLatest = useCallback(async () => {
    try {
      const page = await api.getMessages(chatId, { limit: MESSAGE_PAGE_SIZE });
      const list = Array.isArray(page?.messages) ? page.messages : [];
      if (!loaded.current) {
        setMessages(list.map((m) => fromServer(m)));
        setHasMore(list.length >= MESSAGE_PAGE_SIZE);
        loaded.current = true;
      } else {
        setMessages((current) => mergeLatest(current, list));
      }
      setStatus("ready");
      setError(null);
      setErrorStatus(null);
      // Fetching a page marks the others' messages seen on the server.
      markRead(chatId);
    } catch (err) {
      if (loaded.current) return; // keep what is on screen; the banner says we are offline
      setError(describeError(err, "load"));
      setErrorStatus(err instanceof ApiError ? err.status : null);
      setStatus("error");
    }
  }, [chatId, markRead]);

  useEffect(() => {
    void loadLatest();
  }, [loadLatest]);

  // This chat is the one being read while it is on screen and the tab is visible.
  useEffect(() => {
    setActiveChat(visible ? chatId : null);
    return () => setActiveChat(null);
  }, [chatId, visible, setActiveChat]);

  // Join the chat's room while reading it: the server then counts new messages as seen.
  const connected = state === "connected";
  useEffect(() => {
    if (!socket || !connected || !visible) return;
    socket.emit("joinChat", { chatId });
    return () => {
      socket.emit("leaveChat", { chatId });
    };
  }, [socket, connected, visible, chatId, epoch]);

  // Back from a hidden tab, or after a reconnect: catch up (and mark seen).
  const firstRun = useRef(true);
  useEffect(() => {
    if (firstRun.current) {
      firstRun.current = false;
      return;
    }
    if (visible && loaded.current) void loadLatest();
  }, [visible, epoch, loadLatest]);

  useSocketEvent("newMessage", (message) => {
    if (!message || message.chatId !== chatId) return;
    setMessages((current) => upsertMessage(current, message));
    if (message.sender !== user._id && visible) markRead(chatId);
  });

  useSocketEvent("messagesSeen", (event) => {
    if (!event || event.chatId !== chatId) return;
    setMessages((current) => markSeen(current, event.messageIds ?? []));
  });

  const loadOlder = useCallback(async () => {
    if (loadingOlder || !hasMore) return;
    const before = oldestStoredId(messagesRef.current);
    if (!before) return;
    setLoadingOlder(true);
    try {
      const page = await api.getMessages(chatId, { before, limit: MESSAGE_PAGE_SIZE });
      const list = Array.isArray(page?.messages) ? page.messages : [];
      setMessages((current) => prependHistory(current, list));
      setHasMore(list.length >= MESSAGE_PAGE_SIZE);
    } catch {
      // Scrolling up again retries.
    } finally {
      setLoadingOlder(false);
    }
  }, [chatId, hasMore, loadingOlder]);

  const transmit = useCallback(
    (clientId: string, text: string, file: File | null) => {
      const handle = api.sendMessage({ chatId, text, clientId, image: file }, (progress) =>
        setMessages((current) => patchByClientId(current, clientId, { progress })),
      );
      handle.promise
        .then(({ message }) => setMessages((current) => upsertMessage(current, message, clientId)))
        .catch((err: unknown) => {
          if (err instanceof DOMException && err.name === "AbortError") return;
          setMessages((current) =>
            patchByClientId(current, clientId, {
              status: "failed",
              error: describeError(err, "send"),
              failedStatus: err instanceof ApiError ? err.status : 0,
              progress: undefined,
            }),
          );
        });
    },
    [chatId],
  );

  const send = useCallback(
    (text: string, image: OutgoingImage | null) => {
      const clientId = uuid();
      if (image) objectUrls.current.push(image.previewUrl);
      const bubble = pendingMessage({
        clientId,
        chatId,
        sender: user._id,
        text,
        file: image?.file ?? null,
        previewUrl: image?.previewUrl ?? null,
        width: image?.width,
        height: image?.height,
      });
      setMessages((current) => [...current, bubble]);
      transmit(clientId, text, image?.file ?? null);
    },
    [chatId, transmit, user._id],
  );

  /** Sends a failed message again with the same clientId, so the server stores it once. */
  const retry = useCallback(
    (clientId: string) => {
      const message = messagesRef.current.find((m) => m.clientId === clientId);
      if (!message || message.status !== "failed") return;
      setMessages((current) =>
        patchByClientId(current, clientId, {
          status: "pending",
          error: undefined,
          failedStatus: undefined,
          progress: 0,
        }),
      );
      transmit(clientId, message.text, message.file ?? null);
    },
    [transmit],
  );

  const discard = useCallback((clientId: string) => {
    setMessages((current) => removeByClientId(current, clientId));
  }, []);

  // Sends that failed for lack of a connection go again once we are back.
  useEffect(() => {
    if (!connected) return;
    for (const m of messagesRef.current) {
      if (m.status === "failed" && m.failedStatus === 0 && m.clientId) retry(m.clientId);
    }
  }, [connected, epoch, retry]);

  useEffect(() => {
    const urls = objectUrls.current;
    return () => urls.forEach((url) => URL.revokeObjectURL(url));
  }, []);

  return {
    messages,
    status,
    error,
    errorStatus,
    hasMore,
    loadingOlder,
    loadOlder,
    send,
    retry,
    discard,
    reload: loadLatest,
  };
}
