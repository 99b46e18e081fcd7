import { describe, expect, it } from "vitest";
import { worthNotifying } from "@/lib/attention";
import { unreadTotal } from "@/lib/chats";
import { statusMessage } from "@/lib/errors";
import { fold, highlightSegments, matchRanges, queryWords } from "@/lib/highlight";
import { FOREVER, isMuted, mutedLabel, muteUntil } from "@/lib/mute";
import { parsePreferences } from "@/lib/preferences";
import { statusOfCode } from "@/lib/outbox";
import type { ChatEntry, Message } from "@/lib/types";

const NOW = Date.parse("2026-05-15T12:00:00Z");

function entry(id: string, unseenCount: number, mutedUntil: string | null = null): ChatEntry {
  return {
    user: { _id: `u-${id}`, name: `User ${id}`, email: `${id}@example.com` },
    chat: {
      _id: id,
      users: ["me", `u-${id}`],
      isGroup: false,
      latestMessage: null,
      unseenCount,
      createdAt: "2026-05-01T00:00:00Z",
      updatedAt: "2026-05-01T00:00:00Z",
      mutedUntil,
    },
  };
}

function message(chatId: string, sender: string, extra: Partial<Message> = {}): Message {
  return {
    _id: "m1",
    chatId,
    sender,
    text: "hello",
    messageType: "text",
    seen: false,
    seenAt: null,
    createdAt: "2026-05-15T12:00:00Z",
    updatedAt: "2026-05-15T12:00:00Z",
    deleted: false,
    ...extra,
  };
}

function marked(text: string, query: string): string {
  return highlightSegments(text, query)
    .map((s) => (s.match ? `[${s.text}]` : s.text))
    .join("");
}

describe("highlighting search matches", () => {
  it("folds case and accents", () => {
    expect(fold("Café CRÈME")).toBe("cafe creme");
    expect(queryWords("  Cafe, cafe crème ")).toEqual(["creme", "cafe"]);
  });

  it("marks the original characters whatever the accents and case", () => {
    expect(marked("Meet at the Café at noon", "cafe")).toBe("Meet at the [Café] at noon");
    expect(marked("le CAFÉ", "café")).toBe("le [CAFÉ]");
    expect(marked("cafe\u0301 decomposed", "cafe")).toBe("[cafe\u0301] decomposed");
  });

  it("marks parts of words, every word of the query, without overlaps", () => {
    expect(marked("hello yellow", "ello")).toBe("h[ello] y[ello]w");
    expect(marked("hello world", "world hell")).toBe("[hell]o [world]");
    expect(matchRanges("hello", "hel ell")).toEqual([{ start: 0, end: 4 }]);
  });

  it("marks nothing when the server matched a typo", () => {
    expect(marked("hello there", "helllo")).toBe("hello there");
  });

  it("keeps emoji and other astral characters whole", () => {
    expect(marked("🎉 Party time", "party")).toBe("🎉 [Party] time");
  });

  it("shows a window around the first match of a long text", () => {
    const text = `${"a ".repeat(200)}needle${" b".repeat(200)}`;
    const segments = highlightSegments(text, "needle", 60);
    expect(segments[0]).toEqual({ text: "…", match: false });
    expect(segments[segments.length - 1]).toEqual({ text: "…", match: false });
    expect(segments.filter((s) => s.match).map((s) => s.text)).toEqual(["needle"]);
  });
});

describe("muting", () => {
  it("knows the times of the choices", () => {
    expect(muteUntil("8h", NOW)).toBe("2026-05-15T20:00:00.000Z");
    expect(muteUntil("week", NOW)).toBe("2026-05-22T12:00:00.000Z");
    expect(muteUntil("always", NOW)).toBe(FOREVER);
  });

  it("is muted only until the time passes", () => {
    expect(isMuted(null, NOW)).toBe(false);
    expect(isMuted("2026-05-15T11:00:00Z", NOW)).toBe(false);
    expect(isMuted("2026-05-15T13:00:00Z", NOW)).toBe(true);
    expect(isMuted("nonsense", NOW)).toBe(false);
    expect(mutedLabel(FOREVER, NOW)).toBe("Muted");
    expect(mutedLabel(null, NOW)).toBe("");
  });

  it("leaves muted chats out of the unread total", () => {
    const chats = [entry("a", 2), entry("b", 5, FOREVER), entry("c", 1, "2026-05-15T11:00:00Z")];
    expect(unreadTotal(chats, NOW)).toBe(3);
  });
});

describe("worthNotifying", () => {
  const base = { myId: "me", readingChatId: "open", entry: entry("a", 0), now: NOW };

  it("notifies for another person's message in a chat not being read", () => {
    expect(worthNotifying(message("a", "u-a"), base)).toBe(true);
  });

  it("never for one's own messages, the chat being read, muted chats or system messages", () => {
    expect(worthNotifying(message("a", "me"), base)).toBe(false);
    expect(worthNotifying(message("open", "u-a"), base)).toBe(false);
    expect(worthNotifying(message("a", "u-a"), { ...base, entry: entry("a", 0, FOREVER) })).toBe(
      false,
    );
    expect(worthNotifying(message("a", "u-a", { messageType: "system" }), base)).toBe(false);
  });
});

describe("device preferences", () => {
  it("are off unless stored as true", () => {
    expect(parsePreferences("")).toEqual({ desktopNotifications: false, sound: false });
    expect(parsePreferences("not json")).toEqual({ desktopNotifications: false, sound: false });
    expect(parsePreferences('{"sound":true,"desktopNotifications":"yes"}')).toEqual({
      desktopNotifications: false,
      sound: true,
    });
  });
});

describe("a send refused because of a block", () => {
  it("is a 403 worded for people", () => {
    expect(statusOfCode("blocked")).toBe(403);
    const text = statusMessage({ status: 403, code: "blocked", context: "send" });
    expect(text).toMatch(/can't message this person/);
    expect(statusMessage({ status: 403, code: "blocked", context: "chat" })).toMatch(
      /can't start a chat/,
    );
  });
});
