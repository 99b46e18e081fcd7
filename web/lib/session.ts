/**
 * The browser session. The token lives in the `parley_session` cookie, which is
 * HttpOnly: no script of ours (or anyone's) can read it. What the page can read is
 * `parley_csrf`, set alongside it: its value goes into `X-CSRF-Token` on every
 * write, and its presence tells us a session may exist before asking the server
 * (GET /me decides). Other tabs hear about logins and logouts through a
 * BroadcastChannel.
 */

export const CSRF_COOKIE = "parley_csrf";
export const CSRF_HEADER = "X-CSRF-Token";

/** Where older versions kept the token; removed wherever it is still found. */
const LEGACY_TOKEN_KEY = "parley.token";

/** The value of cookie `name` in a `document.cookie` string, or null. */
export function readCookie(name: string, cookies: string): string | null {
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    const value = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  }
  return null;
}

/** The value writes must repeat in `X-CSRF-Token`, or null when there is no session. */
export function csrfToken(): string | null {
  if (typeof document === "undefined") return null;
  return readCookie(CSRF_COOKIE, document.cookie) || null;
}

/** Whether this browser may be signed in (the server decides; this only spares a request). */
export function maybeSignedIn(): boolean {
  return csrfToken() !== null;
}

/**
 * Forgets the readable half of a session the server refused, so the next visit
 * goes straight to the login page. The HttpOnly half is useless without it.
 */
export function forgetSession(): void {
  if (typeof document === "undefined") return;
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${CSRF_COOKIE}=; Max-Age=0; Path=/; SameSite=Strict${secure}`;
  // What this person left unsent stays with them, not with the next one on this browser.
  for (const key of ["parley.drafts", "parley.outbox", "parley.chats", LAST_USER_KEY]) {
    try {
      window.localStorage.removeItem(key);
    } catch {
      // Storage can be unavailable (private mode); then nothing was stored either.
    }
  }
}

/** The signed-in user as last confirmed by the server: lets the app open offline. */
const LAST_USER_KEY = "parley.user";

export function rememberUser(user: unknown): void {
  try {
    window.localStorage.setItem(LAST_USER_KEY, JSON.stringify(user));
  } catch {
    /* ignore */
  }
}

export function lastUser<T>(): T | null {
  try {
    const raw = window.localStorage.getItem(LAST_USER_KEY);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

/** Deletes a token an older version of the app left in localStorage. */
export function dropLegacyToken(): void {
  if (typeof window === "undefined") return;
  try {
    window.localStorage.removeItem(LEGACY_TOKEN_KEY);
  } catch {
    // Storage can be unavailable (private mode); then nothing was stored either.
  }
}

export type SessionChange = "signed-in" | "signed-out";

const CHANNEL = "parley.session";

function channel(): BroadcastChannel | null {
  return typeof BroadcastChannel === "undefined" ? null : new BroadcastChannel(CHANNEL);
}

/** Tells this browser's other tabs that the session changed. */
export function announceSession(change: SessionChange): void {
  const ch = channel();
  if (!ch) return;
  ch.postMessage(change);
  ch.close();
}

/** Calls `listener` when another tab logs in or out; returns the unsubscribe. */
export function subscribeSession(listener: (change: SessionChange) => void): () => void {
  const ch = channel();
  if (!ch) return () => {};
  ch.onmessage = (event: MessageEvent) => {
    if (event.data === "signed-in" || event.data === "signed-out") listener(event.data);
  };
  return () => ch.close();
}

/** When the last code was requested for an email, so the resend countdown survives a reload. */
const CODE_SENT_KEY = "parley.codeSent";

interface CodeSent {
  email?: string;
  availableAt?: number;
  expiresAt?: number;
}

function readCodeSent(email: string): CodeSent {
  try {
    const raw = window.sessionStorage.getItem(CODE_SENT_KEY);
    const parsed = raw ? (JSON.parse(raw) as CodeSent) : {};
    return parsed.email === email ? parsed : {};
  } catch {
    return {};
  }
}

/**
 * Remembers when a new code may be asked for `email` and, when known, when its code stops
 * working (epoch ms); without `expiresAt` the expiry already remembered for it is kept.
 */
export function rememberCodeSent(email: string, availableAt: number, expiresAt?: number): void {
  try {
    const kept = expiresAt ?? readCodeSent(email).expiresAt;
    window.sessionStorage.setItem(
      CODE_SENT_KEY,
      JSON.stringify({ email, availableAt, ...(kept ? { expiresAt: kept } : {}) }),
    );
  } catch {
    /* ignore */
  }
}

/** Epoch ms when a new code may be requested for `email`, or 0. */
export function resendAvailableAt(email: string): number {
  const { availableAt } = readCodeSent(email);
  return typeof availableAt === "number" ? availableAt : 0;
}

/** Epoch ms when the last code sent to `email` stops working, or 0 when it is not known. */
export function codeExpiresAt(email: string): number {
  const { expiresAt } = readCodeSent(email);
  return typeof expiresAt === "number" ? expiresAt : 0;
}

const NAMING_KEY = "parley.offer-naming";

/** Whether the chats should offer to set a display name (after a first login), or stop offering. */
export function offerNaming(on: boolean): void {
  try {
    if (on) window.sessionStorage.setItem(NAMING_KEY, "1");
    else window.sessionStorage.removeItem(NAMING_KEY);
  } catch {
    /* ignore */
  }
}

export function namingOffered(): boolean {
  try {
    return window.sessionStorage.getItem(NAMING_KEY) === "1";
  } catch {
    return false;
  }
}
