import { describe, expect, it } from "vitest";
import { AFTER_LOGIN, safeNext } from "@/lib/redirect";

const ORIGIN = "https://parley.example";

describe("safeNext", () => {
  it("follows a path on this site, with its query and fragment", () => {
    expect(safeNext("/chats?c=abc123", ORIGIN)).toBe("/chats?c=abc123");
    expect(safeNext("/profile", ORIGIN)).toBe("/profile");
    expect(safeNext("/chats#latest", ORIGIN)).toBe("/chats#latest");
    expect(safeNext("https://parley.example/profile", ORIGIN)).toBe("/profile");
  });

  it("falls back to the chats without a next", () => {
    expect(safeNext(null, ORIGIN)).toBe(AFTER_LOGIN);
    expect(safeNext(undefined, ORIGIN)).toBe(AFTER_LOGIN);
    expect(safeNext("", ORIGIN)).toBe(AFTER_LOGIN);
  });

  // What `URLSearchParams.get("next")` hands over once the address bar's escapes are decoded.
  const elsewhere = [
    "//evil.example",
    "//evil.example/chats",
    "https://evil.example",
    "http://parley.example/chats", // another scheme is another origin
    "https://parley.example:8443/chats", // and so is another port
    "/\\evil.example", // next=/%5Cevil.example
    "\\\\evil.example",
    "/\t/evil.example", // next=/%09/evil.example
    "/\n/evil.example",
    "/\r\n/evil.example",
    " //evil.example",
    "\t//evil.example",
    "///evil.example",
    "/.//evil.example", // same origin, but the path itself starts with //
    "/..//evil.example",
    "/%2e//evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "https://parley.example@evil.example/",
    "https://evil.example#https://parley.example",
  ];
  it.each(elsewhere)("refuses %j", (next) => {
    const result = safeNext(next, ORIGIN);
    expect(result).toBe(AFTER_LOGIN);
  });

  it("never hands back something that parses to another origin", () => {
    for (const next of [
      ...elsewhere,
      "/chats?c=1",
      "/a/../profile",
      "/%5Cevil.example",
      "/%09/evil.example",
    ]) {
      const result = safeNext(next, ORIGIN);
      expect(result.startsWith("/") && !result.startsWith("//")).toBe(true);
      expect(new URL(result, ORIGIN).origin).toBe(ORIGIN);
    }
  });

  it("keeps escaped forms escaped: they name a path here, not a host", () => {
    expect(safeNext("/%5Cevil.example", ORIGIN)).toBe("/%5Cevil.example");
    expect(safeNext("/%09/evil.example", ORIGIN)).toBe("/%09/evil.example");
  });

  it("reads a scheme-relative form the way the browser does: a path on this site", () => {
    expect(safeNext("https:evil.example", ORIGIN)).toBe("/evil.example");
    expect(safeNext("https:/evil.example", ORIGIN)).toBe("/evil.example");
  });

  it("uses the given fallback", () => {
    expect(safeNext("//evil.example", ORIGIN, "/profile")).toBe("/profile");
  });
});
