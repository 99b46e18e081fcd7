import { describe, expect, it } from "vitest";
import {
  applyIncomingMessage,
  chatTitle,
  filterChats,
  markChatRead,
  pageTitle,
  previewText,
  sortChats,
  typingText,
  unreadTotal,
} from "@/lib/chats";
import type { ChatEntry, Message } from "@/lib/types";

const ME = "me";

function entry(
  id: string,
  updatedAt: string,
  unseenCount = 0,
  extra: Partial<ChatEntry["chat"]> = {},
  name = `User ${id}`,
): ChatEntry {
  return {
    user: extra.isGroup ? null : { _id: `u-${id}`, name, email: `${id}@example.com` },
    chat: {
      _id: id,
      users: [ME, `u-${id}`],
      isGroup: false,
      latestMessage: null,
      unseenCount,
      createdAt: "2024-05-01T00:00:00Z",
      updatedAt,
      ...extra,
    },
  };
}

function message(chatId: string, sender: string, createdAt = "2024-05-15T12:00:00Z"): Message {
  return {
    _id: "m",
    chatId,
    sender,
    text: "hello",
    messageType: "text",
    seen: false,
    seenAt: null,
    createdAt,
    updatedAt: createdAt,
    deleted: false,
  };
}

describe("unreadTotal and pageTitle", () => {
  it("sums unread counts", () => {
    const chats = [
      entry("a", "2024-05-10T00:00:00Z", 2),
      entry("b", "2024-05-11T00:00:00Z", 0),
      entry("c", "2024-05-12T00:00:00Z", 1),
    ];
    expect(unreadTotal(chats)).toBe(3);
    expect(unreadTotal([])).toBe(0);
  });
  it("titles the page with the unread total", () => {
    expect(pageTitle(3)).toBe("(3) Parley");
    expect(pageTitle(0)).toBe("Parley");
    expect(pageTitle(150)).toBe("(99+) Parley");
  });
});

describe("applyIncomingMessage", () => {
  const chats = [
    entry("a", "2024-05-12T00:00:00Z"),
    entry("b", "2024-05-11T00:00:00Z", 1),
    entry("c", "2024-05-10T00:00:00Z"),
  ];

  it("moves the chat to the top and raises its badge", () => {
    const next = applyIncomingMessage(chats, message("c", "u-c"), { myId: ME, activeChatId: "a" })!;
    expect(next.map((e) => e.chat._id)).toEqual(["c", "a", "b"]);
    expect(next[0].chat.unseenCount).toBe(1);
    expect(next[0].chat.latestMessage).toEqual({ text: "hello", sender: "u-c", deleted: false });
    expect(unreadTotal(next)).toBe(2);
  });

  it("does not raise the badge for our own messages or the chat being read", () => {
    const own = applyIncomingMessage(chats, message("b", ME), { myId: ME, activeChatId: null })!;
    expect(own[0].chat.unseenCount).toBe(1);
    const reading = applyIncomingMessage(chats, message("c", "u-c"), {
      myId: ME,
      activeChatId: "c",
    })!;
    expect(reading[0].chat.unseenCount).toBe(0);
  });

  it("returns null for an unknown chat so the caller reloads", () => {
    expect(
      applyIncomingMessage(chats, message("zzz", "x"), { myId: ME, activeChatId: null }),
    ).toBeNull();
  });

  it("clears a badge", () => {
    const next = markChatRead(chats, "b");
    expect(next[1].chat.unseenCount).toBe(0);
    expect(markChatRead(next, "b")).toBe(next);
  });
});

describe("list helpers", () => {
  it("sorts by newest activity", () => {
    const sorted = sortChats([
      entry("old", "2024-01-01T00:00:00Z"),
      entry("new", "2024-06-01T00:00:00Z"),
    ]);
    expect(sorted.map((e) => e.chat._id)).toEqual(["new", "old"]);
  });

  it("titles 1:1 chats by the other person and groups by name", () => {
    expect(chatTitle(entry("a", "2024-05-12T00:00:00Z", 0, {}, "Alice"))).toBe("Alice");
    expect(chatTitle(entry("g", "2024-05-12T00:00:00Z", 0, { isGroup: true, name: "Trip" }))).toBe(
      "Trip",
    );
  });

  it("filters by title and email, case-insensitively", () => {
    const chats = [
      entry("a", "2024-05-12T00:00:00Z", 0, {}, "Alice"),
      entry("g", "2024-05-12T00:00:00Z", 0, { isGroup: true, name: "Book club" }),
    ];
    expect(filterChats(chats, "ALI").map((e) => e.chat._id)).toEqual(["a"]);
    expect(filterChats(chats, "book").map((e) => e.chat._id)).toEqual(["g"]);
    expect(filterChats(chats, "a@example").map((e) => e.chat._id)).toEqual(["a"]);
    expect(filterChats(chats, "  ")).toBe(chats);
  });

  it("previews images as Photo", () => {
    expect(previewText({ text: "" })).toBe("Photo");
    expect(previewText({ text: " hi " })).toBe("hi");
    expect(previewText(null)).toBe("");
  });

  it("phrases who is typing", () => {
    const names = { a: "Alice Smith", b: "Bob Jones", c: "Carol" };
    expect(typingText([], names, true)).toBe("");
    expect(typingText(["a"], names, false)).toBe("Alice Smith is typing…");
    expect(typingText(["a"], names, true)).toBe("Alice is typing…");
    expect(typingText(["a", "b"], names, true)).toBe("Alice and Bob are typing…");
    expect(typingText(["a", "b", "c"], names, true)).toBe("3 people are typing…");
  });
});
