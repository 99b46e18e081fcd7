"use client";

import { usePathname } from "next/navigation";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import * as api from "@/lib/api";
import { CHAT_PAGE_SIZE } from "@/lib/config";
import { applyIncomingMessage, markChatRead, pageTitle, sortChats, unreadTotal } from "@/lib/chats";
import { ApiError, describeError } from "@/lib/errors";
import { flushOutbox } from "@/lib/outbox";
import type { Chat, ChatEntry, User } from "@/lib/types";
import { usePageVisible } from "@/hooks/use-page-visible";
import { useRealtime, useSocketEvent } from "./realtime-provider";
import { useSession } from "./session-provider";

interface ChatsValue {
  chats: ChatEntry[];
  status: "loading" | "ready" | "error";
  error: string | null;
  /** userIds typing, by chat id. */
  typing: Record<string, string[]>;
  unread: number;
  refresh: () => Promise<void>;
  /** True while older chats are left to load (`GET /chat/all` gave a next cursor). */
  hasMore: boolean;
  /** Loads the next page of older chats (the list calls it when scrolled near its end). */
  loadMore: () => Promise<void>;
  /** The conversation on screen, or null; its new messages do not raise the badge. */
  setActiveChat: (chatId: string | null) => void;
  /** The conversation being read (on screen in a visible tab), or null. */
  activeChatId: string | null;
  markRead: (chatId: string) => void;
  removeChat: (chatId: string) => void;
  patchChat: (chatId: string, patch: Partial<Chat>) => void;
  /** Everyone we know by id (1:1 partners, members of opened groups, search results). */
  people: ReadonlyMap<string, User>;
  rememberPeople: (users: User[]) => void;
}

const ChatsContext = createContext<ChatsValue | null>(null);

export function useChats(): ChatsValue {
  const value = useContext(ChatsContext);
  if (!value) throw new Error("useChats must be used inside <ChatsProvider>");
  return value;
}

const SAVED_CHATS_KEY = "parley.chats";

function saveChats(list: ChatEntry[]): void {
  try {
    window.localStorage.setItem(SAVED_CHATS_KEY, JSON.stringify(list));
  } catch {
    // Storage full or disabled: offline reloads then show the list's error instead.
  }
}

function savedChats(): ChatEntry[] | null {
  try {
    const value: unknown = JSON.parse(window.localStorage.getItem(SAVED_CHATS_KEY) ?? "null");
    return Array.isArray(value) && value.length ? (value as ChatEntry[]) : null;
  } catch {
    return null;
  }
}

/** A typing flag is dropped after this long without news, in case `userStoppedTyping` was lost. */
const TYPING_TTL_MS = 8000;

/** Owns the chat list: loads it, keeps it live from socket events, and titles the page. */
export function ChatsProvider({ children }: { children: React.ReactNode }) {
  const { user } = useSession();
  const { epoch, state: connection } = useRealtime();
  const visible = usePageVisible();
  const [chats, setChats] = useState<ChatEntry[]>([]);
  const [status, setStatus] = useState<ChatsValue["status"]>("loading");
  const [error, setError] = useState<string | null>(null);
  const [typing, setTyping] = useState<Record<string, string[]>>({});
  const [activeChatId, setActiveChatId] = useState<string | null>(null);
  const [people, setPeople] = useState<ReadonlyMap<string, User>>(new Map());
  const requestId = useRef(0);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const loadingMore = useRef(false);
  const readingRef = useRef<string | null>(null);
  const chatsRef = useRef(chats);
  chatsRef.current = chats;
  const typingTimers = useRef(new Map<string, ReturnType<typeof setTimeout>>());

  const rememberPeople = useCallback((users: User[]) => {
    if (users.length === 0) return;
    setPeople((current) => {
      let changed = false;
      const next = new Map(current);
      for (const u of users) {
        const known = next.get(u._id);
        if (!known || known.name !== u.name || known.email !== u.email) {
          next.set(u._id, u);
          changed = true;
        }
      }
      return changed ? next : current;
    });
  }, []);

  const refresh = useCallback(async () => {
    const id = ++requestId.current;
    try {
      // Reload as many chats as are listed now (one page at least), so a refresh keeps the scroll.
      const limit = Math.min(100, Math.max(CHAT_PAGE_SIZE, chatsRef.current.length));
      const { chats: list, nextCursor: cursor } = await api.listChats({ limit });
      if (id !== requestId.current) return;
      // The chat on screen is being read: a count fetched while catching up is already stale.
      const open = readingRef.current;
      setChats(
        sortChats(
          list.map((entry) =>
            entry.chat._id === open && entry.chat.unseenCount
              ? { ...entry, chat: { ...entry.chat, unseenCount: 0 } }
              : entry,
          ),
        ),
      );
      saveChats(list.slice(0, CHAT_PAGE_SIZE));
      setNextCursor(cursor);
      rememberPeople(list.flatMap((entry) => (entry.user ? [entry.user] : [])));
      setStatus("ready");
      setError(null);
    } catch (err) {
      if (id !== requestId.current) return;
      const offline = !(err instanceof ApiError && err.status > 0);
      const saved = offline && !chatsRef.current.length ? savedChats() : null;
      if (saved) {
        // Offline after a reload: the list as it was last seen; live again once we are back.
        setChats(saved);
        setStatus("ready");
        return;
      }
      setError(describeError(err, "load"));
      setStatus((current) => (current === "ready" ? "ready" : "error"));
    }
  }, [rememberPeople]);

  useEffect(() => {
    void refresh();
  }, [refresh]);

  const loadMore = useCallback(async () => {
    if (!nextCursor || loadingMore.current) return;
    loadingMore.current = true;
    const id = requestId.current;
    try {
      const page = await api.listChats({ cursor: nextCursor });
      if (id !== requestId.current) return; // a refresh replaced the list meanwhile
      setChats((current) => {
        const known = new Set(current.map((entry) => entry.chat._id));
        return sortChats([...current, ...page.chats.filter((e) => !known.has(e.chat._id))]);
      });
      setNextCursor(page.nextCursor);
      rememberPeople(page.chats.flatMap((entry) => (entry.user ? [entry.user] : [])));
    } catch (err) {
      setError(describeError(err, "load"));
    } finally {
      loadingMore.current = false;
    }
  }, [nextCursor, rememberPeople]);

  // After a reconnect, events may have been missed: reload the list.
  const seenEpoch = useRef(0);
  useEffect(() => {
    if (epoch > 1 && epoch !== seenEpoch.current) void refresh();
    seenEpoch.current = epoch;
  }, [epoch, refresh]);

  // Group previews say who wrote the last message: look up senders not known yet, once each.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    const unknown = new Set<string>();
    for (const { chat } of chats) {
      const sender = chat.latestMessage?.sender;
      if (chat.isGroup && sender && sender !== user._id && !people.has(sender))
        if (!asked.current.has(sender)) unknown.add(sender);
    }
    if (unknown.size === 0) return;
    unknown.forEach((id) => asked.current.add(id));
    api
      .usersByIds([...unknown])
      .then(rememberPeople)
      .catch(() => unknown.forEach((id) => asked.current.delete(id)));
  }, [chats, people, user._id, rememberPeople]);

  // Messages written offline (also before a reload) go out, in order, once we are connected.
  useEffect(() => {
    if (connection === "connected") void flushOutbox();
  }, [connection, epoch]);

  const reading = visible ? activeChatId : null;
  readingRef.current = reading;

  useSocketEvent("newMessage", (message) => {
    if (!message || typeof message.chatId !== "string") return;
    stopTyping(message.chatId, message.sender);
    if (!chatsRef.current.some((entry) => entry.chat._id === message.chatId)) {
      // A chat we have not listed yet (just created, or we were added): reload.
      void refresh();
      return;
    }
    setChats(
      (current) =>
        applyIncomingMessage(current, message, { myId: user._id, activeChatId: reading }) ??
        current,
    );
  });

  useSocketEvent("newChat", () => {
    void refresh();
  });

  // A rename or a membership change: the name shows at once; the rest comes with a reload.
  useSocketEvent("chatUpdated", (event) => {
    if (!event || typeof event.chatId !== "string") return;
    if (Array.isArray(event.users) && !event.users.includes(user._id)) {
      removeChat(event.chatId);
      return;
    }
    setChats((current) =>
      current.map((entry) =>
        entry.chat._id === event.chatId
          ? {
              ...entry,
              chat: {
                ...entry.chat,
                ...(event.name !== undefined ? { name: event.name } : {}),
                ...(Array.isArray(event.users) ? { users: event.users } : {}),
              },
            }
          : entry,
      ),
    );
  });

  // Removed from a group, or left it (maybe in another tab): it leaves the list.
  useSocketEvent("removedFromChat", (event) => {
    if (event && typeof event.chatId === "string") removeChat(event.chatId);
  });

  // An edit or deletion may change a chat's preview: reload the list (once per burst).
  const previewReload = useRef<ReturnType<typeof setTimeout> | null>(null);
  useSocketEvent("messageUpdated", (message) => {
    if (!message || !(message.deleted || message.editedAt)) return;
    const entry = chatsRef.current.find((e) => e.chat._id === message.chatId);
    if (!entry || entry.chat.latestMessage?.sender !== message.sender) return;
    if (previewReload.current) clearTimeout(previewReload.current);
    previewReload.current = setTimeout(() => {
      previewReload.current = null;
      void refresh();
    }, 300);
  });

  function stopTyping(chatId: string, userId: string) {
    const key = `${chatId}:${userId}`;
    const timer = typingTimers.current.get(key);
    if (timer) clearTimeout(timer);
    typingTimers.current.delete(key);
    setTyping((current) => {
      const list = current[chatId];
      if (!list || !list.includes(userId)) return current;
      const rest = list.filter((id) => id !== userId);
      const next = { ...current };
      if (rest.length) next[chatId] = rest;
      else delete next[chatId];
      return next;
    });
  }

  useSocketEvent("userTyping", (event) => {
    if (!event || event.userId === user._id) return;
    const key = `${event.chatId}:${event.userId}`;
    const timer = typingTimers.current.get(key);
    if (timer) clearTimeout(timer);
    typingTimers.current.set(
      key,
      setTimeout(() => stopTyping(event.chatId, event.userId), TYPING_TTL_MS),
    );
    setTyping((current) => {
      const list = current[event.chatId] ?? [];
      if (list.includes(event.userId)) return current;
      return { ...current, [event.chatId]: [...list, event.userId] };
    });
  });

  useSocketEvent("userStoppedTyping", (event) => {
    if (event) stopTyping(event.chatId, event.userId);
  });

  useEffect(() => {
    const timers = typingTimers.current;
    return () => {
      timers.forEach((timer) => clearTimeout(timer));
      if (previewReload.current) clearTimeout(previewReload.current);
    };
  }, []);

  const markRead = useCallback(
    (chatId: string) => setChats((current) => markChatRead(current, chatId)),
    [],
  );
  const removeChat = useCallback(
    (chatId: string) => setChats((current) => current.filter((entry) => entry.chat._id !== chatId)),
    [],
  );
  const patchChat = useCallback(
    (chatId: string, patch: Partial<Chat>) =>
      setChats((current) =>
        current.map((entry) =>
          entry.chat._id === chatId ? { ...entry, chat: { ...entry.chat, ...patch } } : entry,
        ),
      ),
    [],
  );

  // The page title carries the unread total on every signed-in page, e.g. "(3) Parley".
  const unread = unreadTotal(chats);
  const pathname = usePathname();
  useEffect(() => {
    document.title = pageTitle(unread);
  }, [unread, pathname]);

  const value = useMemo<ChatsValue>(
    () => ({
      chats,
      status,
      error,
      typing,
      unread,
      refresh,
      hasMore: nextCursor !== null,
      loadMore,
      setActiveChat: setActiveChatId,
      activeChatId: reading,
      markRead,
      removeChat,
      patchChat,
      people,
      rememberPeople,
    }),
    [
      chats,
      status,
      error,
      typing,
      unread,
      refresh,
      nextCursor,
      loadMore,
      reading,
      markRead,
      removeChat,
      patchChat,
      people,
      rememberPeople,
    ],
  );

  return <ChatsContext.Provider value={value}>{children}</ChatsContext.Provider>;
}
