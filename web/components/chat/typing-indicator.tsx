import { cn } from "@/lib/utils";

/** "Alice is typing…" with animated dots; floats over the bottom of the message list. */
export function TypingIndicator({ text, className }: { text: string; className?: string }) {
  if (!text) return null;
  return (
    <div
      role="status"
      data-testid="typing-indicator"
      className={cn(
        "pointer-events-none absolute bottom-2 left-3 inline-flex items-center gap-2 rounded-full bg-surface px-3 py-1.5 text-xs text-muted shadow-md sm:left-6",
        className,
      )}
    >
      <span aria-hidden="true" className="inline-flex gap-0.5">
        <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
        <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
        <span className="typing-dot h-1.5 w-1.5 rounded-full bg-current" />
      </span>
      <span>{text}</span>
    </div>
  );
}
