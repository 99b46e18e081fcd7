/** Muting a chat: the choices, and whether a chat is muted now. */

export type MuteChoice = "8h" | "week" | "always";

/** Muted "always" is muted until this far-future time (the server's convention). */
export const FOREVER = "9999-12-31T23:59:59Z";

export const MUTE_CHOICES: { choice: MuteChoice; label: string }[] = [
  { choice: "8h", label: "For 8 hours" },
  { choice: "week", label: "For a week" },
  { choice: "always", label: "Always" },
];

/** The `until` time a choice means, from `now` (epoch ms). */
export function muteUntil(choice: MuteChoice, now: number = Date.now()): string {
  if (choice === "always") return FOREVER;
  const hours = choice === "8h" ? 8 : 24 * 7;
  return new Date(now + hours * 3600 * 1000).toISOString();
}

/** Whether a chat with this `mutedUntil` is muted at `now`. */
export function isMuted(mutedUntil: string | null | undefined, now: number = Date.now()): boolean {
  if (!mutedUntil) return false;
  const until = Date.parse(mutedUntil);
  return !Number.isNaN(until) && until > now;
}

/** "Muted", "Muted until 18:30", "Muted until 12 December". */
export function mutedLabel(
  mutedUntil: string | null | undefined,
  now: number = Date.now(),
  locale?: string,
): string {
  if (!isMuted(mutedUntil, now)) return "";
  const until = new Date(Date.parse(mutedUntil as string));
  if (until.getUTCFullYear() >= 9999) return "Muted";
  const sameDay = until.toDateString() === new Date(now).toDateString();
  const time = until.toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });
  if (sameDay) return `Muted until ${time}`;
  return `Muted until ${until.toLocaleDateString(locale, { day: "numeric", month: "long" })}, ${time}`;
}
