import type { User } from "./types";

/**
 * Reads the `user` claim of a Parley token without verifying it, only to draw
 * the signed-in user's name before `/me` answers. The server stays the judge.
 */
export function userFromToken(token: string | null | undefined): User | null {
  if (!token) return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
    const payload = JSON.parse(new TextDecoder().decode(bytes)) as { user?: Partial<User>; sub?: string; exp?: number };
    if (typeof payload.exp === "number" && payload.exp * 1000 < Date.now()) return null;
    const user = payload.user;
    if (!user || typeof user._id !== "string") return null;
    return { _id: user._id, name: user.name ?? "", email: user.email ?? "" };
  } catch {
    return null;
  }
}
