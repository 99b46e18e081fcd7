/**
 * Unsent text per chat, kept in localStorage so it survives chat switches and reloads; the chat
 * list shows it. Drafts are per browser profile, and logging out clears them.
 */

const KEY = "parley.drafts";
const EVENT = "parley:drafts";

function readAll(): Record<string, string> {
  try {
    const value: unknown = JSON.parse(window.localStorage.getItem(KEY) ?? "{}");
    return value && typeof value === "object" ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

/** Every chat's draft, by chat id. */
export function allDrafts(): Record<string, string> {
  if (typeof window === "undefined") return {};
  return readAll();
}

export function readDraft(chatId: string): string {
  return allDrafts()[chatId] ?? "";
}

export function writeDraft(chatId: string, text: string): void {
  if (typeof window === "undefined") return;
  const drafts = readAll();
  if ((drafts[chatId] ?? "") === text) return;
  if (text.trim()) drafts[chatId] = text;
  else delete drafts[chatId];
  try {
    window.localStorage.setItem(KEY, JSON.stringify(drafts));
  } catch {
    return; // storage full or disabled: the draft lives as long as the page
  }
  window.dispatchEvent(new Event(EVENT));
}

/** The stored drafts as one string (a stable snapshot for `useSyncExternalStore`). */
export function draftsSnapshot(): string {
  try {
    return window.localStorage.getItem(KEY) ?? "{}";
  } catch {
    return "{}";
  }
}

/** Parses a snapshot of `draftsSnapshot`. */
export function parseDrafts(snapshot: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(snapshot);
    return value && typeof value === "object" ? (value as Record<string, string>) : {};
  } catch {
    return {};
  }
}

export function clearDrafts(): void {
  try {
    window.localStorage.removeItem(KEY);
  } catch {
    /* ignore */
  }
}

/** Calls `listener` when a draft changes in this tab or another one; returns the unsubscribe. */
export function onDraftsChange(listener: () => void): () => void {
  const onStorage = (event: StorageEvent) => {
    if (event.key === KEY || event.key === null) listener();
  };
  window.addEventListener(EVENT, listener);
  window.addEventListener("storage", onStorage);
  return () => {
    window.removeEventListener(EVENT, listener);
    window.removeEventListener("storage", onStorage);
  };
}
