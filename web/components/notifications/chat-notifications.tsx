"use client";

import { useRouter } from "next/navigation";
import { useEffect, useRef } from "react";
import { badgedIcon, playChime, worthNotifying } from "@/lib/attention";
import { chatTitle, previewText } from "@/lib/chats";
import { notificationPermission, useDevicePreferences } from "@/lib/preferences";
import { useChats } from "@/components/providers/chats-provider";
import { useSocketEvent } from "@/components/providers/realtime-provider";
import { useSession } from "@/components/providers/session-provider";

/**
 * Tells the person about new messages they are not looking at: a desktop notification and a
 * sound (each if this device's settings ask for it), never for their own messages, the chat they
 * are reading, or muted chats. Keeps the tab's icon badged with the unread count (muted chats
 * left out, as in the page title). Renders nothing.
 */
export function ChatNotifications() {
  const { user } = useSession();
  const { chats, activeChatId, unread, people } = useChats();
  const preferences = useDevicePreferences();
  const shown = useRef(new Map<string, Notification>());
  const router = useRouter();

  useSocketEvent("newMessage", (message) => {
    if (!message || typeof message.chatId !== "string") return;
    const entry = chats.find((e) => e.chat._id === message.chatId) ?? null;
    const reading = document.visibilityState === "visible" ? activeChatId : null;
    if (!worthNotifying(message, { myId: user._id, readingChatId: reading, entry })) return;
    if (preferences.sound) playChime();
    if (!preferences.desktopNotifications || notificationPermission() !== "granted") return;
    const sender = people.get(message.sender)?.name ?? entry?.user?.name ?? "Someone";
    const title = entry ? chatTitle(entry) : sender;
    const text = previewText(message);
    const body = entry?.chat.isGroup ? `${sender}: ${text}` : text;
    try {
      // One notification per chat: a newer message replaces the one before.
      shown.current.get(message.chatId)?.close();
      const notification = new Notification(title, {
        body,
        tag: `parley-chat-${message.chatId}`,
        icon: "/icon.svg",
      });
      const chatId = message.chatId;
      notification.onclick = () => {
        window.focus();
        const url = `/chats?c=${encodeURIComponent(chatId)}`;
        if (window.location.pathname === "/chats") {
          window.history.pushState(null, "", url);
        } else {
          router.push(url);
        }
        notification.close();
      };
      notification.onclose = () => {
        if (shown.current.get(chatId) === notification) shown.current.delete(chatId);
      };
      shown.current.set(chatId, notification);
    } catch {
      // Some browsers allow notifications only from a service worker: go without.
    }
  });

  // Reading a chat clears its notification.
  useEffect(() => {
    if (!activeChatId) return;
    shown.current.get(activeChatId)?.close();
    shown.current.delete(activeChatId);
  }, [activeChatId]);

  // The tab's icon carries the unread count (the page's own icon links are pointed at it).
  useEffect(() => {
    const url = badgedIcon(unread);
    if (!url) return;
    let links = [...document.querySelectorAll<HTMLLinkElement>('link[rel~="icon"]')];
    if (links.length === 0) {
      const link = document.createElement("link");
      link.rel = "icon";
      document.head.appendChild(link);
      links = [link];
    }
    for (const link of links) {
      link.dataset.plain ??= link.getAttribute("href") ?? "/icon.svg";
      link.type = "image/png";
      link.href = url;
      link.dataset.unread = String(unread);
    }
  }, [unread]);

  // Signed out: the plain icon again.
  useEffect(
    () => () => {
      document
        .querySelectorAll<HTMLLinkElement>('link[rel~="icon"][data-plain]')
        .forEach((link) => {
          link.href = link.dataset.plain ?? "/icon.svg";
          link.type = "image/svg+xml";
          delete link.dataset.plain;
          delete link.dataset.unread;
        });
    },
    [],
  );

  useEffect(() => {
    const open = shown.current;
    return () => open.forEach((n) => n.close());
  }, []);

  return null;
}
