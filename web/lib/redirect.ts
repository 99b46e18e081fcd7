/**
 * Where to go after logging in. `next` comes from the address bar, so anyone can
 * craft it: it is parsed the way the browser will parse it, and followed only
 * when it stays on this origin.
 */
export const AFTER_LOGIN = "/chats";

/**
 * The same-origin path (with query and fragment) that `next` names, else
 * `fallback`. Prefix checks are not enough: browsers read `/\evil.example`
 * and `/\t/evil.example` as `//evil.example`, another site.
 */
export function safeNext(
  next: string | null | undefined,
  origin: string,
  fallback: string = AFTER_LOGIN,
): string {
  if (!next) return fallback;
  let here: URL;
  let target: URL;
  try {
    here = new URL(origin);
    target = new URL(next, here);
  } catch {
    return fallback;
  }
  if (target.origin !== here.origin) return fallback;
  // A same-origin URL can still have a path like `//evil.example` (from `/.//evil.example`),
  // which the router would read as another host.
  if (!target.pathname.startsWith("/") || target.pathname.startsWith("//")) return fallback;
  return `${target.pathname}${target.search}${target.hash}`;
}
