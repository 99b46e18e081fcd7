import { describe, expect, it } from "vitest";
import { ApiError, describeError, parseRetryAfter, statusMessage } from "@/lib/errors";

describe("statusMessage", () => {
  it("words a wrong or expired code for the verify step", () => {
    expect(statusMessage({ status: 400, context: "verify" })).toMatch(/wrong or has expired/);
  });

  it("includes the Retry-After wait for 429", () => {
    expect(statusMessage({ status: 429, retryAfter: 42, context: "resend" })).toMatch(/42 seconds/);
    expect(statusMessage({ status: 429, retryAfter: 1 })).toMatch(/1 second\./);
    expect(statusMessage({ status: 429 })).toMatch(/wait a moment/);
  });

  it("explains image limits", () => {
    expect(statusMessage({ status: 413 })).toMatch(/5 MB/);
    expect(statusMessage({ status: 415 })).toMatch(/JPG, PNG, GIF or WebP/);
  });

  it("covers session, access, missing, server and network failures", () => {
    expect(statusMessage({ status: 401 })).toMatch(/log in again/);
    expect(statusMessage({ status: 403 })).toMatch(/not a member/);
    expect(statusMessage({ status: 403, context: "group" })).toMatch(/admins/);
    expect(statusMessage({ status: 404 })).toMatch(/couldn't find/);
    expect(statusMessage({ status: 500 })).toMatch(/our side/);
    expect(statusMessage({ status: 503 })).toMatch(/our side/);
    expect(statusMessage({ status: 0 })).toMatch(/Can't reach Parley/);
  });

  it("falls back to the server's message for generic bad input", () => {
    expect(statusMessage({ status: 400, serverMessage: "Cannot chat with yourself" })).toBe("Cannot chat with yourself");
    expect(statusMessage({ status: 422, context: "profile" })).toMatch(/1 to 50/);
  });
});

describe("describeError", () => {
  it("maps ApiError through statusMessage", () => {
    expect(describeError(new ApiError(429, "slow down", 30), "login")).toMatch(/30 seconds/);
  });
  it("treats a TypeError from fetch as a network failure", () => {
    expect(describeError(new TypeError("Failed to fetch"))).toMatch(/Can't reach Parley/);
  });
  it("has a generic sentence for anything else", () => {
    expect(describeError(new Error("boom"))).toBe("Something went wrong. Please try again.");
  });
});

describe("parseRetryAfter", () => {
  it("reads seconds and HTTP dates", () => {
    expect(parseRetryAfter("17")).toBe(17);
    const now = Date.parse("2024-05-15T12:00:00Z");
    expect(parseRetryAfter("Wed, 15 May 2024 12:00:30 GMT", now)).toBe(30);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
  });
});
