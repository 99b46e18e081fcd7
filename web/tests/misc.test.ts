import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { userFromToken } from "@/lib/jwt";
import { linkify } from "@/lib/linkify";
import { TypingEmitter } from "@/lib/socket";
import { avatarHue, cn, initials, uuid, visibleLength } from "@/lib/utils";

function token(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "HS256" })}.${b64(payload)}.sig`;
}

describe("utils", () => {
  it("cn lets later Tailwind classes win", () => {
    expect(cn("px-2 text-sm", false && "hidden", "px-4")).toBe("text-sm px-4");
  });
  it("initials", () => {
    expect(initials("Ada Lovelace")).toBe("AL");
    expect(initials("bob")).toBe("B");
    expect(initials("  ")).toBe("?");
    expect(initials("jean-luc picard")).toBe("JP");
  });
  it("avatar hue is stable per seed", () => {
    expect(avatarHue("abc")).toBe(avatarHue("abc"));
  });
  it("counts visible characters, not code units", () => {
    expect(visibleLength("héllo")).toBe(5);
    expect(visibleLength("👍🏽")).toBe(1);
  });
  it("makes v4 UUIDs", () => {
    expect(uuid()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("userFromToken", () => {
  it("reads the user claim", () => {
    const t = token({ sub: "u1", user: { _id: "u1", name: "Ann", email: "a@x.io" }, exp: Date.now() / 1000 + 60 });
    expect(userFromToken(t)).toEqual({ _id: "u1", name: "Ann", email: "a@x.io" });
  });
  it("rejects expired or malformed tokens", () => {
    expect(userFromToken(token({ user: { _id: "u1" }, exp: 1 }))).toBeNull();
    expect(userFromToken("nope")).toBeNull();
    expect(userFromToken(null)).toBeNull();
  });
});

describe("linkify", () => {
  it("finds links and leaves punctuation outside", () => {
    expect(linkify("see https://example.com/a, ok")).toEqual([
      { kind: "text", value: "see " },
      { kind: "link", value: "https://example.com/a", href: "https://example.com/a" },
      { kind: "text", value: ", ok" },
    ]);
    expect(linkify("www.example.org")).toEqual([{ kind: "link", value: "www.example.org", href: "https://www.example.org" }]);
    expect(linkify("plain")).toEqual([{ kind: "text", value: "plain" }]);
  });
});

describe("TypingEmitter", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("throttles typing to every 2 s and stops after 3 s idle", () => {
    const events: string[] = [];
    const emitter = new TypingEmitter((e) => events.push(e), 2000, 3000, () => Date.now());
    emitter.keystroke();
    vi.advanceTimersByTime(500);
    emitter.keystroke();
    vi.advanceTimersByTime(500);
    emitter.keystroke();
    expect(events).toEqual(["typing"]);
    vi.advanceTimersByTime(1100);
    emitter.keystroke();
    expect(events).toEqual(["typing", "typing"]);
    vi.advanceTimersByTime(3000);
    expect(events).toEqual(["typing", "typing", "stopTyping"]);
  });

  it("stops at once on send and only once", () => {
    const events: string[] = [];
    const emitter = new TypingEmitter((e) => events.push(e));
    emitter.keystroke();
    emitter.stop();
    emitter.stop();
    vi.advanceTimersByTime(5000);
    expect(events).toEqual(["typing", "stopTyping"]);
  });
});
