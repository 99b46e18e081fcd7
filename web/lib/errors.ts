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

  constructor(status: number, serverMessage: string | null, retryAfter: number | null = null) {
    super(serverMessage ?? `Request failed with status ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.retryAfter = retryAfter;
    this.serverMessage = serverMessage;
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
  | "load";

export interface ErrorInfo {
  status: number;
  retryAfter?: number | null;
  serverMessage?: string | null;
  context?: ErrorContext;
}

/** Parses a Retry-After header (seconds or an HTTP date) into whole seconds. */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | null {
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

/** Maps an HTTP status (and context) to a sentence a person can act on. */
export function statusMessage({ status, retryAfter, serverMessage, context }: ErrorInfo): string {
  switch (status) {
    case 0:
      return "Can't reach Parley. Check your connection and try again.";
    case 400:
      if (context === "verify") return "That code is wrong or has expired. Check it, or send a new one.";
      if (context === "login") return "Please enter a valid email address.";
      if (context === "chat") return serverMessage || "You can't start that chat.";
      return serverMessage || "Please check what you entered and try again.";
    case 401:
      return "Your session has ended. Please log in again.";
    case 403:
      if (context === "group") return "Only group admins can do that.";
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
      const wait = retryAfter && retryAfter > 0 ? ` Try again in ${seconds(retryAfter)}.` : " Please wait a moment and try again.";
      if (context === "login" || context === "resend") return `A code was sent moments ago.${wait}`;
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
      context,
    });
  }
  if (error instanceof TypeError) return statusMessage({ status: 0, context });
  return "Something went wrong. Please try again.";
}

export function isApiError(error: unknown, status?: number): error is ApiError {
  return error instanceof ApiError && (status === undefined || error.status === status);
}
