"use client";

import { useRef } from "react";
import { OTP_LENGTH } from "@/lib/config";
import { cn } from "@/lib/utils";

export interface OtpInputProps {
  value: string;
  onChange: (value: string) => void;
  /** Called once all boxes hold a digit. */
  onComplete?: (code: string) => void;
  disabled?: boolean;
  invalid?: boolean;
  length?: number;
  describedBy?: string;
  autoFocus?: boolean;
}

/**
 * Six one-digit boxes that behave like one field: typing moves forward,
 * Backspace on an empty box moves back, arrows move, and a pasted or
 * autofilled code spreads over the boxes.
 */
export function OtpInput({
  value,
  onChange,
  onComplete,
  disabled,
  invalid,
  length = OTP_LENGTH,
  describedBy,
  autoFocus,
}: OtpInputProps) {
  const refs = useRef<(HTMLInputElement | null)[]>([]);
  const digits = Array.from({ length }, (_, i) => value[i] ?? "");

  function focus(index: number) {
    const target = refs.current[Math.max(0, Math.min(length - 1, index))];
    target?.focus();
    target?.select();
  }

  function commit(next: string[]) {
    const joined = next.join("").slice(0, length);
    // Keep positions: an empty box in the middle stays a gap in the value.
    const code = next
      .map((d) => d || " ")
      .join("")
      .replace(/\s+$/, "");
    onChange(code);
    if (joined.length === length && next.every(Boolean)) onComplete?.(joined);
  }

  /** Writes `text`'s digits into the boxes from `start`. */
  function fill(start: number, text: string) {
    const incoming = text.replace(/\D/g, "");
    if (!incoming) return;
    // A whole code pasted anywhere replaces the code.
    const from = incoming.length >= length ? 0 : start;
    const next = digits.slice();
    let i = from;
    for (const d of incoming) {
      if (i >= length) break;
      next[i++] = d;
    }
    commit(next);
    focus(Math.min(i, length - 1));
  }

  return (
    <div
      role="group"
      aria-label="Verification code"
      aria-describedby={describedBy}
      className="flex justify-between gap-2"
    >
      {digits.map((digit, index) => (
        <input
          key={index}
          ref={(el) => {
            refs.current[index] = el;
          }}
          data-testid={`otp-${index}`}
          aria-label={`Digit ${index + 1} of ${length}`}
          aria-invalid={invalid || undefined}
          inputMode="numeric"
          pattern="[0-9]*"
          autoComplete={index === 0 ? "one-time-code" : "off"}
          autoFocus={autoFocus && index === 0}
          disabled={disabled}
          value={digit.trim()}
          onFocus={(e) => e.currentTarget.select()}
          onChange={(e) => {
            const raw = e.currentTarget.value;
            const typed = raw.replace(/\D/g, "");
            if (!typed) {
              const next = digits.slice();
              next[index] = "";
              commit(next);
              return;
            }
            if (typed.length === 1) {
              const next = digits.slice();
              next[index] = typed;
              commit(next);
              focus(index + 1);
              return;
            }
            // Several digits at once: autofill, or typing over a selected digit.
            const fresh =
              digit && typed.length === 2 && typed.startsWith(digit) ? typed.slice(1) : typed;
            fill(index, fresh);
          }}
          onPaste={(e) => {
            e.preventDefault();
            fill(index, e.clipboardData.getData("text"));
          }}
          onKeyDown={(e) => {
            if (e.key === "Backspace" && !digits[index].trim()) {
              e.preventDefault();
              if (index > 0) {
                const next = digits.slice();
                next[index - 1] = "";
                commit(next);
                focus(index - 1);
              }
            } else if (e.key === "ArrowLeft") {
              e.preventDefault();
              focus(index - 1);
            } else if (e.key === "ArrowRight") {
              e.preventDefault();
              focus(index + 1);
            } else if (e.key === "Home") {
              e.preventDefault();
              focus(0);
            } else if (e.key === "End") {
              e.preventDefault();
              focus(length - 1);
            }
          }}
          className={cn(
            "h-12 w-full min-w-0 rounded-lg border border-border bg-surface text-center text-xl font-semibold tabular-nums text-fg sm:h-14",
            "caret-accent focus:border-accent focus:outline-none focus:ring-2 focus:ring-ring/30",
            invalid && "border-danger",
            disabled && "opacity-60",
          )}
        />
      ))}
    </div>
  );
}
