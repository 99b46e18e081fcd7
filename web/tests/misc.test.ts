import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { linkify } from "@/lib/linkify";
import { describeDevice } from "@/lib/sessions";
import { TypingEmitter } from "@/lib/socket";
import { avatarHue, cn, initials, uuid, visibleLength } from "@/lib/utils";

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

describe("linkify", () => {
  it("finds links and leaves punctuation outside", () => {
    expect(linkify("see https://example.com/a, ok")).toEqual([
      { kind: "text", value: "see " },
      { kind: "link", value: "https://example.com/a", href: "https://example.com/a" },
      { kind: "text", value: ", ok" },
    ]);
    expect(linkify("www.example.org")).toEqual([
      { kind: "link", value: "www.example.org", href: "https://www.example.org" },
    ]);
    expect(linkify("plain")).toEqual([{ kind: "text", value: "plain" }]);
  });
});

describe("TypingEmitter", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("throttles typing to every 2 s and stops after 3 s idle", () => {
    const events: string[] = [];
    const emitter = new TypingEmitter(
      (e) => events.push(e),
      2000,
      3000,
      () => Date.now(),
    );
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

describe("describeDevice", () => {
  it("names the browser and the system of a session", () => {
    const chromeLinux =
      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    expect(describeDevice(chromeLinux)).toBe("Chrome on Linux");
    expect(describeDevice(chromeLinux.replace("Chrome/", "HeadlessChrome/"))).toBe(
      "Chrome on Linux",
    );
    expect(
      describeDevice(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
      ),
    ).toBe("Safari on iPhone");
    expect(
      describeDevice(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
      ),
    ).toBe("Firefox on Windows");
    expect(
      describeDevice(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
      ),
    ).toBe("Edge on Windows");
    expect(
      describeDevice(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
      ),
    ).toBe("Chrome on Android");
  });
  it("says so when it cannot tell", () => {
    expect(describeDevice("python-httpx/0.28.1")).toBe("An app or script");
    expect(describeDevice("")).toBe("Unknown device");
    expect(describeDevice(null)).toBe("Unknown device");
  });
});
