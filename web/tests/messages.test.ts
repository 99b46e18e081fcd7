import { describe, expect, it } from "vitest";
import {
  fromServer,
  markAllSeenFrom,
  markSeen,
  mergeLatest,
  oldestStoredId,
  patchByClientId,
  pendingMessage,
  prependHistory,
  removeByClientId,
  upsertMessage,
} from "@/lib/messages";
import type { Message, UiMessage } from "@/lib/types";

const ME = "u-me";
const BOB = "u-bob";

function msg(id: string, minute: number, extra: Partial<Message> = {}): Message {
  const createdAt = new Date(Date.UTC(2024, 4, 15, 10, minute)).toISOString();
  return {
    _id: id,
    chatId: "c1",
    sender: BOB,
    text: `text ${id}`,
    messageType: "text",
    seen: false,
    seenAt: null,
    createdAt,
    updatedAt: createdAt,
    deleted: false,
    ...extra,
  };
}

function pending(clientId: string, minute: number, text = "hi"): UiMessage {
  return pendingMessage({
    clientId,
    chatId: "c1",
    sender: ME,
    text,
    now: new Date(Date.UTC(2024, 4, 15, 10, minute)),
  });
}

const ids = (list: UiMessage[]) => list.map((m) => m._id);

describe("optimistic reconciliation by clientId", () => {
  it("replaces the pending bubble when the HTTP answer arrives", () => {
    const list = [fromServer(msg("m1", 0)), pending("cid-1", 1)];
    const stored = msg("m2", 1, { sender: ME, text: "hi", clientId: "cid-1" });
    const next = upsertMessage(list, stored, "cid-1");
    expect(ids(next)).toEqual(["m1", "m2"]);
    expect(next[1].status).toBe("sent");
    // The bubble keeps its React key, so it is updated in place, not remounted.
    expect(next[1].key).toBe("cid-1");
  });

  it("replaces the pending bubble when newMessage (with clientId) arrives first, then ignores the HTTP answer's copy", () => {
    let list = [pending("cid-1", 1)];
    const stored = msg("m2", 1, { sender: ME, text: "hi", clientId: "cid-1" });
    list = upsertMessage(list, stored); // socket event
    list = upsertMessage(list, stored, "cid-1"); // HTTP answer
    expect(ids(list)).toEqual(["m2"]);
    expect(list[0].status).toBe("sent");
  });

  it("dedupes when the server does not echo clientId in the event", () => {
    let list = [pending("cid-1", 1)];
    const echoed = msg("m2", 1, { sender: ME, text: "hi" }); // no clientId
    list = upsertMessage(list, echoed); // event arrives first: looks new
    expect(list).toHaveLength(2);
    list = upsertMessage(list, echoed, "cid-1"); // HTTP answer knows the clientId
    expect(ids(list)).toEqual(["m2"]);
    expect(list[0].key).toBe("cid-1");
  });

  it("never produces duplicates whatever the order", () => {
    const stored = msg("m9", 3, { sender: ME, clientId: "cid-9" });
    const orders: Array<Array<[Message, string | undefined]>> = [
      [
        [stored, undefined],
        [stored, "cid-9"],
      ],
      [
        [stored, "cid-9"],
        [stored, undefined],
      ],
      [
        [stored, "cid-9"],
        [stored, "cid-9"],
      ],
    ];
    for (const order of orders) {
      let list = [fromServer(msg("m1", 0)), pending("cid-9", 3)];
      for (const [m, cid] of order) list = upsertMessage(list, m, cid);
      expect(ids(list)).toEqual(["m1", "m9"]);
    }
  });

  it("keeps unsent bubbles after stored messages that arrive meanwhile", () => {
    let list = [fromServer(msg("m1", 0)), pending("cid-1", 5)];
    list = upsertMessage(list, msg("m2", 6));
    expect(list.map((m) => m.status)).toEqual(["sent", "sent", "pending"]);
    expect(ids(list)).toEqual(["m1", "m2", "local-cid-1"]);
  });

  it("inserts a late message at its place in time", () => {
    let list = [fromServer(msg("m1", 0)), fromServer(msg("m3", 10))];
    list = upsertMessage(list, msg("m2", 5));
    expect(ids(list)).toEqual(["m1", "m2", "m3"]);
  });

  it("a failed bubble keeps its clientId for retry and can be marked pending again", () => {
    let list = [pending("cid-1", 1)];
    list = patchByClientId(list, "cid-1", { status: "failed", error: "no" });
    expect(list[0].status).toBe("failed");
    expect(list[0].clientId).toBe("cid-1");
    list = patchByClientId(list, "cid-1", { status: "pending", error: undefined });
    list = upsertMessage(list, msg("m5", 1, { sender: ME, clientId: "cid-1" }), "cid-1");
    expect(ids(list)).toEqual(["m5"]);
    expect(removeByClientId(list, "cid-1")).toEqual([]);
  });

  it("does not lose a seen state when an older copy arrives", () => {
    let list = [fromServer(msg("m1", 0, { sender: ME }))];
    list = markSeen(list, ["m1"]);
    list = upsertMessage(list, msg("m1", 0, { sender: ME, seen: false }));
    expect(list[0].status).toBe("seen");
  });
});

describe("history and seen", () => {
  it("prepends older pages without duplicates and finds the cursor", () => {
    const list = [fromServer(msg("m3", 3)), fromServer(msg("m4", 4))];
    const next = prependHistory(list, [msg("m1", 1), msg("m2", 2), msg("m3", 3)]);
    expect(ids(next)).toEqual(["m1", "m2", "m3", "m4"]);
    expect(oldestStoredId(next)).toBe("m1");
    expect(oldestStoredId([pending("x", 1)])).toBeNull();
  });

  it("merges a fresh latest page into what is loaded", () => {
    const list = [fromServer(msg("m1", 1)), fromServer(msg("m2", 2)), pending("cid", 9)];
    const next = mergeLatest(list, [msg("m2", 2, { seen: true }), msg("m3", 3)]);
    expect(ids(next)).toEqual(["m1", "m2", "m3", "local-cid"]);
    expect(next[1].status).toBe("seen");
  });

  it("marks messages seen by id and returns the same list when nothing changes", () => {
    const list = [
      fromServer(msg("m1", 1, { sender: ME })),
      fromServer(msg("m2", 2, { sender: ME })),
    ];
    const next = markSeen(list, ["m2"]);
    expect(next.map((m) => m.status)).toEqual(["sent", "seen"]);
    expect(markSeen(next, ["m2"])).toBe(next);
    expect(markSeen(next, [])).toBe(next);
    expect(markAllSeenFrom(list, ME).map((m) => m.status)).toEqual(["seen", "seen"]);
  });
});
