import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "@/lib/errors";
import {
  enqueue,
  flushOutbox,
  onOutboxResult,
  outboxEntries,
  post,
  setSendSocket,
  statusOfCode,
  type OutboxEntry,
  type OutboxResult,
} from "@/lib/outbox";
import type { ParleySocket } from "@/lib/socket";
import type { Message } from "@/lib/types";

function entry(clientId: string, chatId = "c1"): OutboxEntry {
  return {
    clientId,
    chatId,
    sender: "me",
    text: `text ${clientId}`,
    createdAt: "2026-01-01T00:00:00Z",
  };
}

function stored(e: OutboxEntry): Message {
  return {
    _id: `m-${e.clientId}`,
    chatId: e.chatId,
    sender: e.sender,
    text: e.text,
    clientId: e.clientId,
    messageType: "text",
    seen: false,
    seenAt: null,
    createdAt: e.createdAt,
    updatedAt: e.createdAt,
    deleted: false,
  };
}

beforeEach(() => {
  const data = new Map<string, string>();
  vi.stubGlobal("window", {
    localStorage: {
      getItem: (k: string) => data.get(k) ?? null,
      setItem: (k: string, v: string) => void data.set(k, v),
      removeItem: (k: string) => void data.delete(k),
    },
  });
});

afterEach(() => vi.unstubAllGlobals());

describe("the outbox", () => {
  it("sends what waits once each, in order, and reports each", async () => {
    enqueue(entry("a"));
    enqueue(entry("b", "c2"));
    enqueue(entry("c"));
    expect(outboxEntries("c1").map((e) => e.clientId)).toEqual(["a", "c"]);
    const sent: string[] = [];
    const results: OutboxResult[] = [];
    const off = onOutboxResult((r) => results.push(r));
    await Promise.all([
      flushOutbox(async (e) => (sent.push(e.clientId), stored(e))),
      flushOutbox(async (e) => (sent.push(e.clientId), stored(e))),
    ]);
    off();
    expect(sent).toEqual(["a", "b", "c"]);
    expect(results.map((r) => r.kind)).toEqual(["sent", "sent", "sent"]);
    expect(outboxEntries()).toEqual([]);
  });

  it("keeps everything, in order, while there is no answer", async () => {
    enqueue(entry("a"));
    enqueue(entry("b"));
    const tried: string[] = [];
    await flushOutbox(async (e) => {
      tried.push(e.clientId);
      throw new ApiError(0, null);
    });
    expect(tried).toEqual(["a"]);
    expect(outboxEntries().map((e) => e.clientId)).toEqual(["a", "b"]);
  });

  it("drops a message the server refuses and goes on with the next", async () => {
    enqueue(entry("a"));
    enqueue(entry("b"));
    const results: OutboxResult[] = [];
    const off = onOutboxResult((r) => results.push(r));
    await flushOutbox(async (e) => {
      if (e.clientId === "a") throw new ApiError(403, "Not a member", null, "not_member");
      return stored(e);
    });
    off();
    expect(results.map((r) => [r.kind, r.entry.clientId])).toEqual([
      ["refused", "a"],
      ["sent", "b"],
    ]);
  });

  it("can flush again after a flush that found nothing to send", async () => {
    await flushOutbox(async (e) => stored(e));
    enqueue(entry("a"));
    const sent: string[] = [];
    await flushOutbox(async (e) => (sent.push(e.clientId), stored(e)));
    expect(sent).toEqual(["a"]);
  });
});

describe("statusOfCode", () => {
  it("words a socket error like the HTTP status its code stands for", () => {
    expect(statusOfCode("forbidden")).toBe(403);
    expect(statusOfCode("too_many_messages")).toBe(429);
    expect(statusOfCode("overloaded")).toBe(503);
    expect(statusOfCode("something_new")).toBe(400);
    expect(statusOfCode(null)).toBe(400);
  });
});

describe("post over the socket", () => {
  const entry = {
    clientId: "c1",
    chatId: "chat",
    sender: "me",
    text: "hi",
    createdAt: "2026-01-01T00:00:00Z",
    replyTo: "m0",
  };
  function fakeSocket(answer: unknown) {
    const emitted: unknown[] = [];
    const socket = {
      connected: true,
      timeout: () => ({
        emitWithAck: async (...args: unknown[]) => (emitted.push(args), answer),
      }),
    } as unknown as ParleySocket;
    return { socket, emitted };
  }
  afterEach(() => setSendSocket(null));

  it("sends with sendMessage and takes the stored message from the acknowledgement", async () => {
    const message = { _id: "m1", text: "hi" } as Message;
    const { socket, emitted } = fakeSocket({ message });
    setSendSocket(socket);
    await expect(post(entry)).resolves.toBe(message);
    expect(emitted).toEqual([
      ["sendMessage", { chatId: "chat", text: "hi", clientId: "c1", replyTo: "m0" }],
    ]);
  });

  it("turns an error acknowledgement into the ApiError of its code", async () => {
    const { socket } = fakeSocket({ error: { message: "Not allowed", code: "forbidden" } });
    setSendSocket(socket);
    const error = await post(entry).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, code: "forbidden", serverMessage: "Not allowed" });
  });
});
