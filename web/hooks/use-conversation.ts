"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import * as api from "@/lib/api";
import { MESSAGE_PAGE_SIZE } from "@/lib/config";
import { ApiError, describeError } from "@/lib/errors";
import {
  markSeen,
  mergeLatest,
  oldestStoredId,
  patchByClientId,
  pendingMessage,
  prependHistory,
  removeByClientId,
  replaceMessage,
  upsertMessage,
} from "@/lib/messages";
import {
  dequeue,
  enqueue,
  flushOutbox,
  onOutboxProgress,
  onOutboxResult,
  outboxEntries,
  outboxImage,
  type OutboxEntry,
} from "@/lib/outbox";
import { shownConversations } from "@/lib/shown";
import type { Message, UiMessage } from "@/lib/types";
import { uuid } from "@/lib/utils";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime, useSocketEvent } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";
import { usePageVisible } from "./use-page-visible";

/** How many older pages a jump to a quoted message loads at most. */
const MAX_JUMP_PAGES = 20;

export interface OutgoingImage {
  file: File;
  previewUrl: string;
  width?: number;
  height?: number;
}

const shown = shownConversations;

/** The outbox's messages for `chatId` that `list` does not show yet, as pending bubbles. */
function withOutbox(list: UiMessage[], chatId: string): UiMessage[] {
  const known = new Set(list.map((m) => m.clientId).filter(Boolean));
  const waiting = outboxEntries(chatId)
    .filter((entry) => !known.has(entry.clientId))
    .map((entry) =>
      pendingMessage({
        clientId: entry.clientId,
        chatId: entry.chatId,
        sender: entry.sender,
        text: entry.text,
        now: new Date(entry.createdAt),
        // Its image is shown once it is read back from storage (see useConversation).
        width: entry.image?.width,
        height: entry.image?.height,
      }),
    );
  return waiting.length ? [...list, ...waiting] : list;
}

/** An outbox entry for a message and, when it has one, its image. */
function entryFor(
  clientId: string,
  chatId: string,
  sender: string,
  text: string,
  createdAt: string,
  replyTo: string | null,
  image: { file: File; width?: number; height?: number } | null,
): OutboxEntry {
  return {
    clientId,
    chatId,
    sender,
    text,
    createdAt,
    replyTo,
    image: image
      ? {
          name: image.file.name || "image",
          type: image.file.type,
          width: image.width,
          height: image.height,
        }
      : null,
  };
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

  const cached = shown.get(chatId);
  const [messages, setMessages] = useState<UiMessage[]>(() =>
    withOutbox(cached?.messages ?? [], chatId),
  );
  const [status, setStatus] = useState<"loading" | "ready" | "error">(cached ? "ready" : "loading");
  const [error, setError] = useState<string | null>(null);
  const [errorStatus, setErrorStatus] = useState<number | null>(null);
  const [hasMore, setHasMore] = useState(cached?.hasMore ?? false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const loaded = useRef(Boolean(cached));
  /** The first load ended, loaded or not (offline after a reload): a reconnect loads again. */
  const tried = useRef(Boolean(cached));

  useEffect(() => {
    // Pending images are left out: their previews end with this view.
    if (loaded.current) shown.set(chatId, { messages: messages.filter((m) => !m.file), hasMore });
  }, [chatId, messages, hasMore]);
  const objectUrls = useRef<string[]>([]);
  /** True once we were removed from the chat or left it: history stays readable, nothing else. */
  const [removed, setRemoved] = useState(false);
  const removedRef = useRef(false);
  removedRef.current = removed;

  const loadLatest = useCallback(async () => {
    if (removedRef.current) return;
    try {
      const page = await api.getMessages(chatId, { limit: MESSAGE_PAGE_SIZE });
      const list = Array.isArray(page?.messages) ? page.messages : [];
      if (!loaded.current) {
        // The first page. Bubbles already on screen (written offline before a reload, some maybe
        // stored since the connection returned) stay: the page is merged with them.
        setMessages((current) => withOutbox(mergeLatest(current, list), chatId));
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
      if (!(err instanceof ApiError && err.status > 0) && outboxEntries(chatId).length) {
        // Offline after a reload: what waits to be sent is shown; history comes when we are back.
        setMessages((current) => withOutbox(current, chatId));
        setStatus("ready");
        return;
      }
      setError(describeError(err, "load"));
      setErrorStatus(err instanceof ApiError ? err.status : null);
      setStatus("error");
    } finally {
      tried.current = true;
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
    if (!socket || !connected || !visible || removed) return;
    socket.emit("joinChat", { chatId });
    return () => {
      socket.emit("leaveChat", { chatId });
    };
  }, [socket, connected, visible, chatId, epoch, removed]);

  // Back from a hidden tab, or after a reconnect: catch up (and mark seen), or load the history
  // that could not be loaded while offline.
  const firstRun = useRef(true);
  useEffect(() => {
    if (firstRun.current) {
      firstRun.current = false;
      return;
    }
    if (visible && tried.current) void loadLatest();
  }, [visible, epoch, loadLatest]);

  useSocketEvent("newMessage", (message) => {
    if (!message || message.chatId !== chatId) return;
    setMessages((current) => upsertMessage(current, message));
    if (message.sender !== user._id && visible) markRead(chatId);
  });

  useSocketEvent("messageUpdated", (message) => {
    if (!message || message.chatId !== chatId) return;
    setMessages((current) => replaceMessage(current, message));
  });

  useSocketEvent("removedFromChat", (event) => {
    if (!event || event.chatId !== chatId) return;
    setRemoved(true);
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

  // Images waiting in the outbox since before a reload: their previews, read back from storage.
  const missingPreviews = messages
    .filter((m) => m.status === "pending" && !m.image && m.clientId)
    .map((m) => m.clientId as string)
    .join(" ");
  useEffect(() => {
    if (!missingPreviews) return;
    let cancelled = false;
    const entries = outboxEntries(chatId).filter(
      (e) => e.image && missingPreviews.split(" ").includes(e.clientId),
    );
    for (const entry of entries) {
      void outboxImage(entry.clientId).then((blob) => {
        if (cancelled || !blob || !entry.image) return;
        const file = new File([blob], entry.image.name, { type: entry.image.type });
        const url = URL.createObjectURL(file);
        objectUrls.current.push(url);
        setMessages((current) =>
          patchByClientId(current, entry.clientId, {
            image: { url, width: entry.image?.width, height: entry.image?.height },
            messageType: "image",
            file,
          }),
        );
      });
    }
    return () => {
      cancelled = true;
    };
  }, [chatId, missingPreviews]);

  // Upload progress of the images the outbox is sending.
  useEffect(
    () =>
      onOutboxProgress((clientId, progress) =>
        setMessages((current) => patchByClientId(current, clientId, { progress })),
      ),
    [],
  );

  // Messages from the outbox: stored by the server now, or refused by it.
  useEffect(
    () =>
      onOutboxResult((result) => {
        if (result.entry.chatId !== chatId) return;
        const { clientId } = result.entry;
        if (result.kind === "sent")
          setMessages((current) => upsertMessage(current, result.message, clientId));
        else
          setMessages((current) =>
            patchByClientId(current, clientId, {
              status: "failed",
              error: describeError(result.error, "send"),
              failedStatus: result.error instanceof ApiError ? result.error.status : 0,
            }),
          );
      }),
    [chatId],
  );

  const send = useCallback(
    (text: string, image: OutgoingImage | null, replyTo: UiMessage | null = null) => {
      if (removedRef.current) return;
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
        replyTo,
      });
      // Everything goes through the outbox, images too: kept across reloads (images in
      // IndexedDB), sent in the order written once we are online.
      enqueue(
        entryFor(clientId, chatId, user._id, text, bubble.createdAt, replyTo?._id ?? null, image),
        image?.file,
      );
      setMessages((current) => [...current, bubble]);
      void flushOutbox();
    },
    [chatId, user._id],
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
      const file = message.file ?? null;
      enqueue(
        entryFor(
          clientId,
          chatId,
          message.sender,
          message.text,
          message.createdAt,
          message.replyTo?._id ?? null,
          file ? { file, width: message.image?.width, height: message.image?.height } : null,
        ),
        file,
      );
      void flushOutbox();
    },
    [chatId],
  );

  const discard = useCallback((clientId: string) => {
    dequeue(clientId);
    setMessages((current) => removeByClientId(current, clientId));
  }, []);

  // Sends that failed for lack of a connection go again once we are back.
  useEffect(() => {
    if (!connected || removedRef.current) return;
    for (const m of messagesRef.current) {
      if (m.status === "failed" && m.failedStatus === 0 && m.clientId) retry(m.clientId);
    }
  }, [connected, epoch, retry]);

  /** Runs a change to a stored message; the answer replaces it. Returns an error sentence, or null. */
  const change = useCallback(async (run: () => Promise<{ message: Message }>) => {
    try {
      const { message } = await run();
      setMessages((current) => replaceMessage(current, message));
      return null;
    } catch (err) {
      return describeError(err, "message");
    }
  }, []);

  const edit = useCallback(
    (messageId: string, text: string) => change(() => api.editMessage(messageId, text)),
    [change],
  );
  const remove = useCallback(
    (messageId: string) => change(() => api.deleteMessage(messageId)),
    [change],
  );
  const react = useCallback(
    (messageId: string, emoji: string, on: boolean) =>
      change(() => api.setReaction(messageId, emoji, on)),
    [change],
  );

  /**
   * Loads older pages until `messageId` is among the messages (for jumping to
   * a quoted message). Resolves true when it is there.
   */
  const ensureLoaded = useCallback(
    async (messageId: string) => {
      if (messagesRef.current.some((m) => m._id === messageId)) return true;
      let before = oldestStoredId(messagesRef.current);
      const pages: Message[][] = [];
      let found = false;
      for (let i = 0; i < MAX_JUMP_PAGES && before; i++) {
        try {
          const page = await api.getMessages(chatId, { before, limit: MESSAGE_PAGE_SIZE });
          const list = Array.isArray(page?.messages) ? page.messages : [];
          pages.unshift(list);
          found = list.some((m) => m._id === messageId);
          if (found || list.length < MESSAGE_PAGE_SIZE) {
            if (list.length < MESSAGE_PAGE_SIZE) setHasMore(false);
            break;
          }
          before = list[0]?._id ?? null;
        } catch {
          break;
        }
      }
      const older = pages.flat();
      if (older.length) setMessages((current) => prependHistory(current, older));
      return found;
    },
    [chatId],
  );

  /**
   * Loads older pages until `count` messages from others are loaded (the ones unread when the
   * chat opened), or the start of the history, so the unread divider can mark the first of them.
   */
  const ensureUnreadLoaded = useCallback(
    async (count: number) => {
      const fromOthers = (list: readonly { sender: string; messageType?: string }[]) =>
        list.filter((m) => m.sender !== user._id && m.messageType !== "system").length;
      const stored = messagesRef.current.filter((m) => m.status !== "pending");
      let have = fromOthers(stored);
      if (have >= count || stored.length < MESSAGE_PAGE_SIZE) return;
      let before = oldestStoredId(messagesRef.current);
      const pages: Message[][] = [];
      for (let i = 0; i < MAX_JUMP_PAGES && before && have < count; i++) {
        try {
          const page = await api.getMessages(chatId, { before, limit: MESSAGE_PAGE_SIZE });
          const list = Array.isArray(page?.messages) ? page.messages : [];
          pages.unshift(list);
          have += fromOthers(list);
          if (list.length < MESSAGE_PAGE_SIZE) {
            setHasMore(false);
            break;
          }
          before = list[0]?._id ?? null;
        } catch {
          break;
        }
      }
      const older = pages.flat();
      if (older.length) setMessages((current) => prependHistory(current, older));
    },
    [chatId, user._id],
  );

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
    edit,
    remove,
    react,
    ensureLoaded,
    ensureUnreadLoaded,
    removed,
    reload: loadLatest,
  };
}
