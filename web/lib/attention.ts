/** Getting a person's attention outside the page: desktop notifications, a sound, the tab's icon. */
import { isMuted } from "./mute";
import type { ChatEntry, Message } from "./types";

export interface NotifyContext {
  myId: string;
  /** The chat being read: on screen in a visible tab. */
  readingChatId: string | null;
  /** The chat as listed, when it is (its mute state). */
  entry: ChatEntry | null;
  now?: number;
}

/** Whether a new message deserves a notification (and a sound). */
export function worthNotifying(message: Message, context: NotifyContext): boolean {
  if (message.sender === context.myId) return false;
  if (message.messageType === "system" || message.deleted) return false;
  if (message.chatId === context.readingChatId) return false;
  return !isMuted(context.entry?.chat.mutedUntil, context.now);
}

let audio: AudioContext | null = null;

/** A short two-tone chime, made with WebAudio (no file to fetch). */
export function playChime(): void {
  try {
    const Context =
      window.AudioContext ??
      (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Context) return;
    audio ??= new Context();
    const ctx = audio;
    if (ctx.state === "suspended") void ctx.resume().catch(() => undefined);
    const start = ctx.currentTime + 0.01;
    [880, 1320].forEach((frequency, i) => {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = "sine";
      osc.frequency.value = frequency;
      const t = start + i * 0.12;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.15, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t);
      osc.stop(t + 0.2);
    });
  } catch {
    // No audio output (or autoplay refused before any click): stay silent.
  }
}

/** The app's icon (the speech bubble of icon.svg) with a red count badge, as a PNG data URL. */
export function badgedIcon(count: number, size = 64): string | null {
  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  const scale = size / 64;
  ctx.scale(scale, scale);
  ctx.fillStyle = "#4f46e5";
  ctx.beginPath();
  ctx.roundRect(0, 0, 64, 64, 16);
  ctx.fill();
  ctx.fillStyle = "#fff";
  ctx.fill(
    new Path2D(
      "M18 20h28a4 4 0 0 1 4 4v14a4 4 0 0 1-4 4H30l-8 7v-7h-4a4 4 0 0 1-4-4V24a4 4 0 0 1 4-4z",
    ),
  );
  if (count > 0) {
    const label = count > 99 ? "99+" : String(count);
    ctx.fillStyle = "#dc2626";
    ctx.beginPath();
    ctx.arc(44, 20, 20, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = "#fff";
    ctx.font = `bold ${label.length > 2 ? 18 : label.length > 1 ? 22 : 28}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(label, 44, 21);
  }
  return canvas.toDataURL("image/png");
}
