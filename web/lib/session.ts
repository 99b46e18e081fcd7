/**
 * The login token, kept in localStorage so a reload stays logged in. Other tabs
 * hear about changes through the `storage` event; this tab through `subscribe`.
 */

const TOKEN_KEY = "parley.token";

type Listener = (token: string | null) => void;
const listeners = new Set<Listener>();

export function getToken(): string | null {
  if (typeof window === "undefined") return null;
  try {
    return window.localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(token: string | null): void {
  if (typeof window === "undefined") return;
  try {
    if (token) window.localStorage.setItem(TOKEN_KEY, token);
    else window.localStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage can be unavailable (private mode quotas); the session then lasts this tab.
  }
  listeners.forEach((listener) => listener(token));
}

export function subscribeToken(listener: Listener): () => void {
  listeners.add(listener);
  const onStorage = (event: StorageEvent) => {
    if (event.key === TOKEN_KEY || event.key === null) listener(getToken());
  };
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("storage", onStorage);
  };
}

/** When the last code was requested for an email, so the resend countdown survives a reload. */
const CODE_SENT_KEY = "parley.codeSent";

export function rememberCodeSent(email: string, availableAt: number): void {
  try {
    window.sessionStorage.setItem(CODE_SENT_KEY, JSON.stringify({ email, availableAt }));
  } catch {
    /* ignore */
  }
}

/** Epoch ms when a new code may be requested for `email`, or 0. */
export function resendAvailableAt(email: string): number {
  try {
    const raw = window.sessionStorage.getItem(CODE_SENT_KEY);
    if (!raw) return 0;
    const parsed = JSON.parse(raw) as { email?: string; availableAt?: number };
    return parsed.email === email && typeof parsed.availableAt === "number" ? parsed.availableAt : 0;
  } catch {
    return 0;
  }
}
