/**
 * Where the API lives. Empty means the same origin that served the page, which is
 * how `parley up` and the web service run it. Set NEXT_PUBLIC_API_URL at build
 * time (for example https://api.example.com) when the API is on another origin;
 * Socket.IO and the dev mailbox follow it.
 */
export const API_ORIGIN = (process.env.NEXT_PUBLIC_API_URL ?? "").replace(/\/+$/, "");

export const API_BASE = `${API_ORIGIN}/api/v1`;

/** Socket.IO connects to the API's origin (undefined = this page's origin). */
export const SOCKET_URL: string | undefined = API_ORIGIN || undefined;

export const DEV_MAIL_URL = `${API_ORIGIN}/dev/mail`;

export const MESSAGE_PAGE_SIZE = 50;
/** Chats per page of the chat list (`GET /chat/all`); more load as the list scrolls. */
export const CHAT_PAGE_SIZE = 30;

export const MAX_IMAGE_BYTES = 5 * 1024 * 1024;

export const IMAGE_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;

export const OTP_LENGTH = 6;

export const OTP_RESEND_SECONDS = 60;

export const NAME_MAX_LENGTH = 50;

/** Group names: 1 to 100 visible characters (the server's `NewGroupIn.name`). */
export const GROUP_NAME_MAX_LENGTH = 100;

/** Message text: at most 4000 characters (code points) after trimming, as the server counts. */
export const MESSAGE_MAX_LENGTH = 4000;

/** The composer shows how many characters are left from this many on. */
export const MESSAGE_COUNTER_FROM = 3500;

/** How long after sending a message its sender may still edit it (the server's default window). */
export const EDIT_WINDOW_SECONDS = 3600;

/** The reaction bar's quick picks; the full picker adds `EMOJI_GRID`. */
export const QUICK_EMOJI = ["👍", "❤️", "😂", "😮", "😢", "🙏"] as const;

export const EMOJI_GRID = [
  "👍",
  "👎",
  "❤️",
  "😂",
  "😮",
  "😢",
  "🙏",
  "🎉",
  "🔥",
  "👏",
  "😀",
  "😃",
  "😄",
  "😁",
  "😆",
  "😅",
  "🤣",
  "😊",
  "😇",
  "🙂",
  "😉",
  "😍",
  "🥰",
  "😘",
  "😋",
  "😜",
  "🤔",
  "🤨",
  "😐",
  "🙄",
  "😏",
  "😬",
  "😌",
  "😴",
  "😷",
  "🤒",
  "🥳",
  "😎",
  "🤓",
  "😕",
  "😟",
  "😯",
  "😲",
  "😳",
  "🥺",
  "😭",
  "😱",
  "😤",
  "😡",
  "🤯",
  "🤗",
  "🤫",
  "🤝",
  "👌",
  "✌️",
  "🤞",
  "👋",
  "💪",
  "👀",
  "💯",
  "✅",
  "❌",
  "⭐",
  "☕",
] as const;
