import { describe, expect, it } from "vitest";
import {
  ApiError,
  deadCode,
  describeError,
  parseRetryAfter,
  retryWhen,
  statusMessage,
} from "@/lib/errors";

describe("statusMessage", () => {
  it("words a wrong or expired code for the verify step", () => {
    expect(statusMessage({ status: 400, context: "verify" })).toMatch(/wrong or has expired/);
  });

  it("includes the Retry-After wait for 429", () => {
    expect(statusMessage({ status: 429, retryAfter: 42, context: "resend" })).toMatch(/42 seconds/);
    expect(statusMessage({ status: 429, retryAfter: 1 })).toMatch(/1 second\./);
    expect(statusMessage({ status: 429 })).toMatch(/wait a moment/);
  });

  it("explains a day's worth of wrong codes with the server's words and when to try again", () => {
    const now = new Date(2024, 4, 15, 9, 30).getTime();
    const message = statusMessage({
      status: 429,
      code: "too_many_failures",
      serverMessage: "Too many wrong codes for this email today",
      retryAfter: 3 * 3600,
      context: "verify",
      now,
    });
    expect(message).toMatch(
      /^Too many wrong codes for this email today\. Try again after 12:30( PM)?\.$/,
    );
    expect(message).not.toMatch(/A code was sent moments ago/);
    const overnight = statusMessage({
      status: 429,
      code: "too_many_failures",
      retryAfter: 20 * 3600,
      now,
    });
    expect(overnight).toMatch(/Too many wrong codes.*after 05:30( AM)? tomorrow\.$/);
    expect(statusMessage({ status: 429, code: "too_many_failures", serverMessage: "Stop." })).toBe(
      "Stop. Please try again later.",
    );
  });

  it("words waits in seconds, minutes or a clock time", () => {
    const now = new Date(2024, 4, 15, 22, 0).getTime();
    expect(retryWhen(1, now)).toBe("in 1 second");
    expect(retryWhen(45, now)).toBe("in 45 seconds");
    expect(retryWhen(60, now)).toBe("in 1 minute");
    expect(retryWhen(25 * 60 + 1, now)).toBe("in 26 minutes");
    expect(retryWhen(3600, now, "en-GB")).toBe("after 23:00");
    expect(retryWhen(3 * 3600, now, "en-GB")).toBe("after 01:00 tomorrow");
    expect(retryWhen(3 * 86400, now, "en-GB")).toBe("after 18 May, 22:00");
  });

  it("explains image limits", () => {
    expect(statusMessage({ status: 413 })).toMatch(/5 MB/);
    expect(statusMessage({ status: 415 })).toMatch(/JPG, PNG, GIF or WebP/);
  });

  it("covers session, access, missing, server and network failures", () => {
    expect(statusMessage({ status: 401 })).toMatch(/log in again/);
    expect(statusMessage({ status: 403 })).toMatch(/not a member/);
    expect(statusMessage({ status: 403, context: "group" })).toMatch(/admins/);
    expect(statusMessage({ status: 403, code: "csrf_failed", context: "send" })).toMatch(
      /Reload the page/,
    );
    expect(statusMessage({ status: 404 })).toMatch(/couldn't find/);
    expect(statusMessage({ status: 500 })).toMatch(/our side/);
    expect(statusMessage({ status: 503 })).toMatch(/our side/);
    expect(statusMessage({ status: 0 })).toMatch(/Can't reach Parley/);
  });

  it("falls back to the server's message for generic bad input", () => {
    expect(statusMessage({ status: 400, serverMessage: "Cannot chat with yourself" })).toBe(
      "Cannot chat with yourself",
    );
    expect(statusMessage({ status: 422, context: "profile" })).toMatch(/1 to 50/);
  });
});

describe("describeError", () => {
  it("maps ApiError through statusMessage", () => {
    expect(describeError(new ApiError(429, "slow down", 30), "login")).toMatch(/30 seconds/);
  });
  it("carries the server's code", () => {
    const error = new ApiError(429, "Too many wrong codes", 7200, "too_many_failures");
    expect(error.code).toBe("too_many_failures");
    expect(describeError(error, "verify")).toMatch(/^Too many wrong codes\. Try again after /);
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

describe("errors mapped by their stable code", () => {
  it("tells a void code from a wrong one, whatever the status", () => {
    const void400 = statusMessage({ status: 400, code: "otp_void", context: "verify" });
    expect(void400).toMatch(/no longer works/);
    expect(void400).not.toMatch(/wrong or/);
    expect(statusMessage({ status: 400, code: "otp_expired", context: "verify" })).toMatch(
      /expired/,
    );
    expect(statusMessage({ status: 400, code: "invalid_otp", context: "verify" })).toMatch(
      /wrong\. Check it/,
    );
  });

  it("offers a new code at once only when the code on screen can never work", () => {
    expect(deadCode(new ApiError(400, "Too many wrong codes", null, "otp_void"))).toBe(true);
    expect(deadCode(new ApiError(400, "The code has expired", null, "otp_expired"))).toBe(true);
    const last = new ApiError(
      400,
      "Invalid code. That was the last try: please request a new code",
      null,
      "invalid_otp",
    );
    expect(deadCode(last)).toBe(true);
    expect(describeError(last, "verify")).toMatch(/last try/);
    expect(deadCode(new ApiError(400, "Invalid code", null, "invalid_otp"))).toBe(false);
    expect(deadCode(new TypeError("offline"))).toBe(false);
  });
});
