"use client";

import { useId } from "react";
import { cn } from "@/lib/utils";

export interface SwitchProps {
  label: string;
  /** A sentence under the label saying what the setting does. */
  description?: React.ReactNode;
  checked: boolean;
  disabled?: boolean;
  busy?: boolean;
  onChange: (checked: boolean) => void;
  "data-testid"?: string;
}

/** An on/off setting: a labelled `role="switch"` button with its explanation. */
export function Switch({
  label,
  description,
  checked,
  disabled,
  busy,
  onChange,
  ...rest
}: SwitchProps) {
  const labelId = useId();
  const descriptionId = useId();
  return (
    <div className="flex items-start justify-between gap-4 py-3">
      <div className="min-w-0">
        <p id={labelId} className="text-sm font-medium">
          {label}
        </p>
        {description ? (
          <p id={descriptionId} className="mt-0.5 text-sm text-muted">
            {description}
          </p>
        ) : null}
      </div>
      <button
        type="button"
        role="switch"
        aria-checked={checked}
        aria-labelledby={labelId}
        aria-describedby={description ? descriptionId : undefined}
        aria-busy={busy || undefined}
        disabled={disabled || busy}
        onClick={() => onChange(!checked)}
        data-testid={rest["data-testid"]}
        className={cn(
          "relative mt-0.5 inline-flex h-7 w-12 shrink-0 items-center rounded-full border-2 border-transparent transition-colors disabled:opacity-60",
          "focus-visible:ring-2 focus-visible:ring-ring focus-visible:ring-offset-2 focus-visible:outline-none",
          checked ? "bg-accent" : "bg-surface-3",
        )}
      >
        <span
          aria-hidden="true"
          className={cn(
            "inline-block h-6 w-6 rounded-full bg-white shadow transition-transform motion-reduce:transition-none",
            checked ? "translate-x-5" : "translate-x-0",
          )}
        />
      </button>
    </div>
  );
}
