import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as api from "@/lib/api";
import { ApiError } from "@/lib/errors";
import {
  CSRF_HEADER,
  csrfToken,
  dropLegacyToken,
  forgetSession,
  maybeSignedIn,
  readCookie,
} from "@/lib/session";

describe("readCookie", () => {
  it("finds a cookie by its exact name", () => {
    const cookies = "theme=dark; parley_csrf=abc-123_x; other_parley_csrf=no";
    expect(readCookie("parley_csrf", cookies)).toBe("abc-123_x");
    expect(readCookie("theme", cookies)).toBe("dark");
    expect(readCookie("parley", cookies)).toBeNull();
    expect(readCookie("parley_csrf", "")).toBeNull();
    expect(readCookie("a", "a=%20b")).toBe(" b");
  });
});

/** A browser just enough for the API client: cookies, localStorage, fetch. */
function fakeBrowser(cookie: string) {
  const storage = new Map<string, string>([["parley.token", "eyJ.old.token"]]);
  const doc = { cookie };
  vi.stubGlobal("document", doc);
  vi.stubGlobal("window", {
    location: { protocol: "http:" },
    localStorage: {
      getItem: (k: string) => storage.get(k) ?? null,
      removeItem: (k: string) => storage.delete(k),
    },
  });
  const calls: { url: string; init: RequestInit }[] = [];
  let answer = () =>
    new Response(JSON.stringify({ _id: "u1", name: "Ann", email: "a@x.io" }), { status: 200 });
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return answer();
    }),
  );
  return {
    doc,
    storage,
    calls,
    answerWith: (make: () => Response) => {
      answer = make;
    },
  };
}

describe("the API client's session", () => {
  let browser: ReturnType<typeof fakeBrowser>;
  beforeEach(() => {
    browser = fakeBrowser("parley_csrf=csrf-value; theme=dark");
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    api.onUnauthorized(null);
  });

  it("sends no token: the cookie travels by itself, same origin only", async () => {
    await api.me();
    const { init } = browser.calls[0];
    const headers = init.headers as Record<string, string>;
    expect(init.credentials).toBe("same-origin");
    expect(Object.keys(headers).map((h) => h.toLowerCase())).not.toContain("authorization");
    // A read needs no CSRF value.
    expect(headers[CSRF_HEADER]).toBeUndefined();
  });

  it("repeats the CSRF cookie on every write", async () => {
    await api.updateUser("Ann");
    await api.endSession("s1");
    await api.logoutEverywhere();
    for (const { init } of browser.calls) {
      expect((init.headers as Record<string, string>)[CSRF_HEADER]).toBe("csrf-value");
    }
    expect(browser.calls.map((c) => `${c.init.method} ${c.url}`)).toEqual([
      "POST /api/v1/update/user",
      "DELETE /api/v1/sessions/s1",
      "POST /api/v1/logout/all",
    ]);
  });

  it("hands a 401 to the session, and the server's code to the caller", async () => {
    const ended = vi.fn();
    api.onUnauthorized(ended);
    browser.answerWith(
      () =>
        new Response(JSON.stringify({ message: "Please log in", code: "unauthorized" }), {
          status: 401,
        }),
    );
    const error = await api.listSessions().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("unauthorized");
    expect(ended).toHaveBeenCalledTimes(1);
    // A quiet check (the login page asking whether a session exists) is not a session ending.
    await api.me(undefined, { quiet: true }).catch(() => null);
    expect(ended).toHaveBeenCalledTimes(1);
  });

  it("knows a session may exist only while the CSRF cookie is there, and forgets it", () => {
    expect(maybeSignedIn()).toBe(true);
    expect(csrfToken()).toBe("csrf-value");
    forgetSession();
    expect(browser.doc.cookie).toMatch(/^parley_csrf=; Max-Age=0; Path=\/; SameSite=Strict$/);
  });

  it("deletes a token an older version left in localStorage", () => {
    dropLegacyToken();
    expect(browser.storage.has("parley.token")).toBe(false);
  });
});
