import { forwardRef, type ButtonHTMLAttributes } from "react";
import { cn } from "@/lib/utils";
import { Spinner } from "./spinner";

type Variant = "primary" | "secondary" | "ghost" | "danger" | "link";
type Size = "sm" | "md" | "lg" | "icon";

const variants: Record<Variant, string> = {
  primary: "bg-accent text-accent-fg hover:bg-accent-hover shadow-sm",
  secondary: "bg-surface-2 text-fg hover:bg-surface-3 border border-border",
  ghost: "text-fg hover:bg-surface-2",
  danger: "bg-danger text-white hover:opacity-90",
  link: "text-accent hover:underline underline-offset-2 px-0 h-auto",
};

// On touch screens every button is at least 44 px tall (icon buttons 44 px square).
const sizes: Record<Size, string> = {
  sm: "h-8 px-3 text-sm gap-1.5 pointer-coarse:h-11",
  md: "h-10 px-4 text-sm gap-2 pointer-coarse:h-11",
  lg: "h-12 px-5 text-base gap-2",
  icon: "h-10 w-10 p-0 pointer-coarse:h-11 pointer-coarse:w-11",
};

export interface ButtonProps extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: Variant;
  size?: Size;
  loading?: boolean;
}

export const Button = forwardRef<HTMLButtonElement, ButtonProps>(function Button(
  {
    className,
    variant = "primary",
    size = "md",
    loading = false,
    disabled,
    children,
    type = "button",
    ...props
  },
  ref,
) {
  return (
    <button
      ref={ref}
      type={type}
      disabled={disabled || loading}
      aria-busy={loading || undefined}
      className={cn(
        "inline-flex shrink-0 items-center justify-center rounded-lg font-medium transition-colors select-none",
        "disabled:pointer-events-none disabled:opacity-50",
        variants[variant],
        sizes[size],
        className,
      )}
      {...props}
    >
      {loading ? <Spinner size={16} /> : null}
      {children}
    </button>
  );
});

/** A round icon-only button; `label` is required because the icon says nothing to a screen reader. */
export const IconButton = forwardRef<HTMLButtonElement, ButtonProps & { label: string }>(
  function IconButton(
    { label, className, variant = "ghost", size = "icon", title, ...props },
    ref,
  ) {
    return (
      <Button
        ref={ref}
        aria-label={label}
        title={title ?? label}
        variant={variant}
        size="icon"
        className={cn(
          "rounded-full text-muted hover:text-fg",
          size === "sm" && "h-8 w-8 pointer-coarse:h-11 pointer-coarse:w-11",
          className,
        )}
        {...props}
      />
    );
  },
);
