import { cn } from "@/lib/utils";

export function Logo({ className, withName = true }: { className?: string; withName?: boolean }) {
  return (
    <span className={cn("inline-flex items-center gap-2 font-semibold tracking-tight", className)}>
      <svg viewBox="0 0 64 64" width="32" height="32" aria-hidden="true">
        <rect width="64" height="64" rx="16" fill="var(--accent)" />
        <path
          d="M18 20h28a4 4 0 0 1 4 4v14a4 4 0 0 1-4 4H30l-8 7v-7h-4a4 4 0 0 1-4-4V24a4 4 0 0 1 4-4z"
          fill="#fff"
        />
      </svg>
      {withName ? <span className="text-xl">Parley</span> : <span className="sr-only">Parley</span>}
    </span>
  );
}
