import { describe, expect, it } from "vitest";
import {
  canDelete,
  canEdit,
  fromServer,
  hasReacted,
  lastEditable,
  pendingMessage,
  replaceMessage,
  systemText,
  upsertMessage,
} from "@/lib/messages";
import { applyIncomingMessage, previewText } from "@/lib/chats";
import type { ChatEntry, Message } from "@/lib/types";

const ME = "u-me";
const BOB = "u-bob";
const HOUR = 3600;

function at(minute: number): string {
  return new Date(Date.UTC(2024, 4, 15, 10, minute)).toISOString();
}

function msg(id: string, minute: number, extra: Partial<Message> = {}): Message {
  return {
    _id: id,
    chatId: "c1",
    sender: BOB,
    text: `text ${id}`,
    messageType: "text",
    seen: false,
    seenAt: null,
    createdAt: at(minute),
    updatedAt: at(minute),
    editedAt: null,
    deleted: false,
    replyTo: null,
    reactions: [],
    ...extra,
  };
}

type System = NonNullable<Message["system"]>;
const system = (info: Partial<System> & Pick<System, "action" | "actor">): System => ({
  users: [],
  name: null,
  ...info,
});

const names = (id: string) => ({ [ME]: "You", [BOB]: "Bob", "u-carol": "Carol" })[id] ?? "Someone";

describe("replaceMessage", () => {
  it("replaces an edited message in place, keeping its key and seen state", () => {
    const list = [fromServer(msg("a", 1, { seen: true }), "key-a"), fromServer(msg("b", 2))];
    const next = replaceMessage(
      list,
      msg("a", 1, { text: "fixed", editedAt: at(5), updatedAt: at(5) }),
    );
    expect(next.map((m) => m._id)).toEqual(["a", "b"]);
    expect(next[0]).toMatchObject({ text: "fixed", editedAt: at(5), key: "key-a", status: "seen" });
  });

  it("ignores an older copy arriving after a newer one", () => {
    const list = [fromServer(msg("a", 1, { text: "second", editedAt: at(6), updatedAt: at(6) }))];
    const next = replaceMessage(
      list,
      msg("a", 1, { text: "first", editedAt: at(5), updatedAt: at(5) }),
    );
    expect(next[0].text).toBe("second");
  });

  it("keeps a tombstone whatever arrives later", () => {
    const tomb = msg("a", 1, { deleted: true, text: "", updatedAt: at(3) });
    const list = replaceMessage([fromServer(msg("a", 1))], tomb);
    const late = replaceMessage(
      list,
      msg("a", 1, { text: "edit", editedAt: at(9), updatedAt: at(9) }),
    );
    expect(late[0]).toMatchObject({ deleted: true, text: "" });
  });

  it("updates the quote of replies when the original is edited or deleted", () => {
    const reply = msg("r", 2, {
      sender: ME,
      replyTo: { _id: "a", sender: BOB, text: "old", messageType: "text", deleted: false },
    });
    const list = [fromServer(msg("a", 1)), fromServer(reply)];
    const edited = replaceMessage(list, msg("a", 1, { text: "new", updatedAt: at(4) }));
    expect(edited[1].replyTo).toMatchObject({ text: "new", deleted: false });
    const gone = replaceMessage(edited, msg("a", 1, { text: "", deleted: true, updatedAt: at(5) }));
    expect(gone[1].replyTo).toMatchObject({ text: "", deleted: true });
  });

  it("leaves the list alone for a message that is not loaded", () => {
    const list = [fromServer(msg("a", 1))];
    expect(replaceMessage(list, msg("zz", 1, { text: "x" }))).toBe(list);
  });
});

describe("edit and delete rights", () => {
  const now = Date.parse(at(30));
  it("lets the sender edit within the window only", () => {
    const mine = fromServer(msg("a", 1, { sender: ME }));
    expect(canEdit(mine, ME, HOUR, now)).toBe(true);
    expect(canEdit(mine, ME, HOUR, now + HOUR * 1000)).toBe(false);
    expect(canEdit(fromServer(msg("b", 1)), ME, HOUR, now)).toBe(false);
    expect(canEdit(fromServer(msg("c", 1, { sender: ME, deleted: true })), ME, HOUR, now)).toBe(
      false,
    );
  });

  it("lets the sender, or a group admin, delete", () => {
    expect(canDelete(fromServer(msg("a", 1, { sender: ME })), ME, false)).toBe(true);
    expect(canDelete(fromServer(msg("b", 1)), ME, false)).toBe(false);
    expect(canDelete(fromServer(msg("b", 1)), ME, true)).toBe(true);
    expect(canDelete(fromServer(msg("s", 1, { messageType: "system" })), ME, true)).toBe(false);
  });

  it("finds the last message the up arrow edits, and none when the last one is too old", () => {
    const list = [
      fromServer(msg("a", 1, { sender: ME })),
      fromServer(msg("b", 2, { sender: ME })),
      fromServer(msg("c", 3)),
    ];
    expect(lastEditable(list, ME, HOUR, now)?._id).toBe("b");
    expect(lastEditable(list, ME, HOUR, now + 2 * HOUR * 1000)).toBeNull();
    const pendingOne = pendingMessage({ clientId: "x", chatId: "c1", sender: ME, text: "p" });
    expect(lastEditable([...list, pendingOne], ME, HOUR, now)?._id).toBe("b");
  });
});

describe("replies and reactions", () => {
  it("quotes the original above a reply still on its way", () => {
    const original = fromServer(msg("a", 1, { text: "x".repeat(300) }));
    const bubble = pendingMessage({
      clientId: "c",
      chatId: "c1",
      sender: ME,
      text: "answer",
      replyTo: original,
    });
    expect(bubble.replyTo).toMatchObject({ _id: "a", sender: BOB, deleted: false });
    expect(bubble.replyTo?.text).toHaveLength(200);
    // The stored reply takes the bubble's place.
    const list = upsertMessage([original, bubble], msg("r", 2, { sender: ME, clientId: "c" }));
    expect(list.map((m) => m._id)).toEqual(["a", "r"]);
  });

  it("tells whether someone reacted with an emoji", () => {
    const m = msg("a", 1, { reactions: [{ emoji: "👍", users: [ME, BOB] }] });
    expect(hasReacted(m, "👍", ME)).toBe(true);
    expect(hasReacted(m, "❤️", ME)).toBe(false);
  });
});

describe("system messages", () => {
  const sys = (info: Parameters<typeof system>[0]) =>
    msg("s", 1, { messageType: "system", system: system(info) });
  it("reads as a sentence", () => {
    expect(systemText(sys({ action: "added", actor: BOB, users: ["u-carol"] }), names)).toBe(
      "Bob added Carol",
    );
    expect(systemText(sys({ action: "removed", actor: ME, users: [BOB, "u-carol"] }), names)).toBe(
      "You removed Bob and Carol",
    );
    expect(systemText(sys({ action: "left", actor: BOB, users: [] }), names)).toBe("Bob left");
    expect(systemText(sys({ action: "renamed", actor: BOB, name: "Trip" }), names)).toBe(
      "Bob renamed the group to “Trip”",
    );
    expect(systemText(sys({ action: "created", actor: BOB, name: "Trip" }), names)).toBe(
      "Bob created the group “Trip”",
    );
  });

  it("never raises the unread badge", () => {
    const entry = {
      user: null,
      chat: {
        _id: "c1",
        users: [ME, BOB],
        isGroup: true,
        name: "G",
        latestMessage: null,
        unseenCount: 0,
        createdAt: at(0),
        updatedAt: at(0),
      },
    } as unknown as ChatEntry;
    const options = { myId: ME, activeChatId: null };
    const system = sys({ action: "added", actor: BOB, users: [ME] });
    expect(applyIncomingMessage([entry], system, options)?.[0].chat.unseenCount).toBe(0);
    expect(applyIncomingMessage([entry], msg("m", 2), options)?.[0].chat.unseenCount).toBe(1);
  });
});

describe("the chat list's preview", () => {
  it("says when the latest message was deleted", () => {
    expect(previewText({ text: "", deleted: true })).toBe("This message was deleted");
    expect(previewText({ text: "", deleted: false })).toBe("Photo");
  });
});
