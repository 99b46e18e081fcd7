/** Calendar helpers for message lists, in the viewer's local time zone. */

/** "2024-05-03" for the local calendar day of a date. */
export function dayKey(date: Date): string {
  const y = date.getFullYear();
  const m = String(date.getMonth() + 1).padStart(2, "0");
  const d = String(date.getDate()).padStart(2, "0");
  return `${y}-${m}-${d}`;
}

function startOfDay(date: Date): number {
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** Whole calendar days from `date` to `now` (0 = same day). */
export function daysAgo(date: Date, now: Date): number {
  return Math.round((startOfDay(now) - startOfDay(date)) / 86_400_000);
}

function parse(value: string | Date): Date {
  return value instanceof Date ? value : new Date(value);
}

/** A day separator's label: Today, Yesterday, a weekday this week, else a date. */
export function dayLabel(value: string | Date, now: Date = new Date(), locale?: string): string {
  const date = parse(value);
  const ago = daysAgo(date, now);
  if (ago === 0) return "Today";
  if (ago === 1) return "Yesterday";
  if (ago > 1 && ago < 7) return date.toLocaleDateString(locale, { weekday: "long" });
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(locale, {
    weekday: sameYear ? "short" : undefined,
    day: "numeric",
    month: "long",
    year: sameYear ? undefined : "numeric",
  });
}

/** Time of day for a bubble, e.g. "14:05" or "2:05 PM" depending on locale. */
export function clockTime(value: string | Date, locale?: string): string {
  return parse(value).toLocaleTimeString(locale, { hour: "numeric", minute: "2-digit" });
}

/** Compact time for the chat list: a time today, "Yesterday", a weekday, or a short date. */
export function listTime(
  value: string | Date | null | undefined,
  now: Date = new Date(),
  locale?: string,
): string {
  if (!value) return "";
  const date = parse(value);
  if (Number.isNaN(date.getTime())) return "";
  const ago = daysAgo(date, now);
  if (ago <= 0) return clockTime(date, locale);
  if (ago === 1) return "Yesterday";
  if (ago < 7) return date.toLocaleDateString(locale, { weekday: "short" });
  return date.toLocaleDateString(locale, {
    day: "numeric",
    month: "short",
    year: date.getFullYear() === now.getFullYear() ? undefined : "2-digit",
  });
}

export interface DayGroup<T> {
  key: string;
  label: string;
  items: T[];
}

/** Splits time-ordered items into runs of the same local calendar day. */
export function groupByDay<T extends { createdAt: string }>(
  items: T[],
  now: Date = new Date(),
  locale?: string,
): DayGroup<T>[] {
  const groups: DayGroup<T>[] = [];
  for (const item of items) {
    const date = new Date(item.createdAt);
    const key = Number.isNaN(date.getTime()) ? "unknown" : dayKey(date);
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.items.push(item);
    else
      groups.push({
        key,
        label: key === "unknown" ? "" : dayLabel(date, now, locale),
        items: [item],
      });
  }
  return groups;
}

/**
 * Whether a bubble starts a new run: a different sender, or more than five
 * minutes after the previous one. Runs share one sender name and tail.
 */
export function startsRun(
  previous: { sender: string; createdAt: string } | undefined,
  current: { sender: string; createdAt: string },
): boolean {
  if (!previous) return true;
  if (previous.sender !== current.sender) return true;
  return Date.parse(current.createdAt) - Date.parse(previous.createdAt) > 5 * 60_000;
}
