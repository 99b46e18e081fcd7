/** People's pictures: where a user document says they are, and how the page loads them. */
import { API_ORIGIN } from "./config";
import type { components } from "./api-types.gen";

/** `{url, thumbUrl}`: square pictures of about 256 and 64 pixels (see `POST /user/avatar`). */
export type AvatarImage = components["schemas"]["AvatarDocument"];

/**
 * The avatar of a user document (or an avatar itself), or null when there is none. Documents
 * the chat service passes along are typed loosely, so the shape is checked here.
 */
export function avatarOf(source: object | null | undefined): AvatarImage | null {
  const avatar = source && "avatar" in source ? source.avatar : source;
  if (!avatar || typeof avatar !== "object") return null;
  const { url, thumbUrl } = avatar as { url?: unknown; thumbUrl?: unknown };
  return typeof url === "string" && typeof thumbUrl === "string" ? { url, thumbUrl } : null;
}

/** The address to load: the API's paths are relative to the API's origin. */
export function avatarSrc(path: string): string {
  return path.startsWith("/") ? `${API_ORIGIN}${path}` : path;
}
