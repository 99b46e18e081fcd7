import { cn } from "@/lib/utils";

/** A round count, e.g. unread messages. Hidden when the count is 0. */
export function CountBadge({
  count,
  className,
  label,
  ...props
}: { count: number; className?: string; label?: string } & React.HTMLAttributes<HTMLSpanElement>) {
  if (count <= 0) return null;
  return (
    <span
      aria-label={label ?? `${count} unread`}
      className={cn(
        "inline-flex h-5 min-w-5 items-center justify-center rounded-full bg-accent px-1.5 text-[11px] font-semibold text-accent-fg tabular-nums",
        className,
      )}
      {...props}
    >
      {count > 99 ? "99+" : count}
    </span>
  );
}

export function Pill({ className, children }: { className?: string; children: React.ReactNode }) {
  return (
    <span
      className={cn(
        "inline-flex items-center rounded-full bg-surface-2 px-2 py-0.5 text-xs font-medium text-muted",
        className,
      )}
    >
      {children}
    </span>
  );
}
