/**
 * The one place that turns an API failure into words for people. Components
 * show `describeError(err, context)` and never invent their own wording.
 */

export class ApiError extends Error {
  /** HTTP status; 0 when the request never got an answer (offline, DNS, CORS). */
  readonly status: number;
  /** Seconds from a Retry-After header, when the server sent one. */
  readonly retryAfter: number | null;
  /** The server's own `message`, kept for logs and as a fallback. */
  readonly serverMessage: string | null;
  /** The server's machine-readable `code` (e.g. `too_many_failures`), when it sent one. */
  readonly code: string | null;

  constructor(
    status: number,
    serverMessage: string | null,
    retryAfter: number | null = null,
    code: string | null = null,
  ) {
    super(serverMessage ?? `Request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter;
    this.serverMessage = serverMessage;
    this.code = code;
  }
}

/** What the user was doing, so the same status can be worded for the moment. */
export type ErrorContext =
  | "login"
  | "verify"
  | "resend"
  | "send"
  | "profile"
  | "chat"
  | "group"
  | "search"
  | "load"
  | "message"
  | "avatar";

export interface ErrorInfo {
  status: number;
  retryAfter?: number | null;
  serverMessage?: string | null;
  code?: string | null;
  context?: ErrorContext;
  /** The current time (epoch ms), for waits long enough to name a clock time. */
  now?: number;
}

/** Parses a Retry-After header (seconds or an HTTP date) into whole seconds. */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | null {
  if (!value) return null;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number.parseInt(trimmed, 10);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return null;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function seconds(n: number): string {
  return n === 1 ? "1 second" : `${n} seconds`;
}

function plural(n: number, unit: string): string {
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}

/**
 * When a wait of `retryAfter` seconds ends, in words: "in 40 seconds", "in 25 minutes", or for
 * long waits the local clock time ("after 14:05", "after 14:05 tomorrow").
 */
export function retryWhen(retryAfter: number, now: number = Date.now(), locale?: string): string {
  if (retryAfter < 60) return `in ${seconds(Math.max(1, Math.ceil(retryAfter)))}`;
  if (retryAfter < 3600) return `in ${plural(Math.ceil(retryAfter / 60), "minute")}`;
  const at = new Date(now + retryAfter * 1000);
  const time = at.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  const today = new Date(now);
  const sameDay = at.toDateString() === today.toDateString();
  const tomorrow =
    new Date(today.getFullYear(), today.getMonth(), today.getDate() + 1).toDateString() ===
    at.toDateString();
  if (sameDay) return `after ${time}`;
  if (tomorrow) return `after ${time} tomorrow`;
  return `after ${at.toLocaleDateString(locale, { day: "numeric", month: "long" })}, ${time}`;
}

/** Codes whose meaning does not depend on the status or context; null for the others. */
function codeMessage(code: string, serverMessage: string | null): string | null {
  switch (code) {
    case "otp_void":
      return "Too many wrong tries: this code no longer works. Send yourself a new code.";
    case "otp_expired":
      return "That code has expired. Send yourself a new code.";
    case "invalid_otp":
      if (lastTry(code, serverMessage))
        return "That code is wrong, and that was the last try. Send yourself a new code.";
      return "That code is wrong. Check it and try again, or send a new one.";
    case "csrf_failed":
      return "This page lost part of your session. Reload the page and try again.";
    default:
      return null;
  }
}

/** The wrong code that used up the last try (the server says so in its message). */
function lastTry(code: string | null, serverMessage: string | null): boolean {
  return code === "invalid_otp" && /last try/i.test(serverMessage ?? "");
}

/** After this error the code on screen can never work: a new one is offered at once. */
export function deadCode(error: unknown): boolean {
  if (!(error instanceof ApiError)) return false;
  return (
    error.code === "otp_void" ||
    error.code === "otp_expired" ||
    lastTry(error.code, error.serverMessage)
  );
}

/** Maps an error (its stable `code` first, then its HTTP status and context) to a sentence a person can act on. */
export function statusMessage({
  status,
  retryAfter,
  serverMessage,
  code,
  context,
  now,
}: ErrorInfo): string {
  // The server's stable codes first: one status can mean different things.
  if (code === "blocked")
    return context === "chat"
      ? "You can't start a chat with this person."
      : "You can't message this person: one of you has blocked the other.";
  const byCode = code ? codeMessage(code, serverMessage ?? null) : null;
  if (byCode) return byCode;
  switch (status) {
    case 0:
      return "Can't reach Parley. Check your connection and try again.";
    case 400:
      if (context === "verify")
        return "That code is wrong or has expired. Check it, or send a new one.";
      if (context === "login") return "Please enter a valid email address.";
      if (context === "chat") return serverMessage || "You can't start that chat.";
      return serverMessage || "Please check what you entered and try again.";
    case 401:
      return "Your session has ended. Please log in again.";
    case 403:
      // A write whose X-CSRF-Token did not match the session cookie (say, cookies were partly cleared).
      if (code === "csrf_failed")
        return "This page lost part of your session. Reload the page and try again.";
      if (context === "group") return "Only group admins can do that.";
      // Editing after the window, or someone else's message.
      if (context === "message") return serverMessage || "You can't change this message.";
      return "You're not a member of this chat.";
    case 404:
      if (context === "chat") return "That person or chat no longer exists.";
      return "We couldn't find that. It may have been removed.";
    case 409:
      return serverMessage || "That conflicts with a change made elsewhere. Refresh and try again.";
    case 413:
      return "That image is too large. The limit is 5 MB.";
    case 415:
      return "That file type isn't supported. Use a JPG, PNG, GIF or WebP image.";
    case 422:
      if (context === "profile") return "Names must be 1 to 50 characters.";
      if (context === "login") return "Please enter a valid email address.";
      return "Some of what you entered isn't valid. Please check it and try again.";
    case 429: {
      if (code === "too_many_failures") {
        // Too many wrong codes for this address today: the server says why, we say until when.
        const why = serverMessage || "Too many wrong codes were entered for this email address.";
        const when =
          retryAfter && retryAfter > 0
            ? `Try again ${retryWhen(retryAfter, now)}.`
            : "Please try again later.";
        return `${why.replace(/\s*$/, "").replace(/([^.!?])$/, "$1.")} ${when}`;
      }
      const wait =
        retryAfter && retryAfter > 0
          ? ` Try again in ${seconds(retryAfter)}.`
          : " Please wait a moment and try again.";
      if (context === "login" || context === "resend") return `A code was sent moments ago.${wait}`;
      if (context === "avatar") return `You've changed your picture often lately.${wait}`;
      return `Too many attempts.${wait}`;
    }
    default:
      if (status >= 500) return "Something went wrong on our side. Please try again.";
      return serverMessage || "Something went wrong. Please try again.";
  }
}

/** Describes any thrown value: an ApiError, a network failure, or a bug. */
export function describeError(error: unknown, context?: ErrorContext): string {
  if (error instanceof ApiError) {
    return statusMessage({
      status: error.status,
      retryAfter: error.retryAfter,
      serverMessage: error.serverMessage,
      code: error.code,
      context,
    });
  }
  if (error instanceof TypeError) return statusMessage({ status: 0, context });
  return "Something went wrong. Please try again.";
}

export function isApiError(error: unknown, status?: number): error is ApiError {
  return error instanceof ApiError && (status === undefined || error.status === status);
}
