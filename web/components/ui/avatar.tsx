import { avatarHue, cn, initials } from "@/lib/utils";

const sizes = {
  xs: "h-6 w-6 text-[10px]",
  sm: "h-8 w-8 text-xs",
  md: "h-10 w-10 text-sm",
  lg: "h-12 w-12 text-base",
  xl: "h-20 w-20 text-2xl",
} as const;

export interface AvatarProps {
  /** Name the initials come from. */
  name: string;
  /** What the colour is derived from (an id), so renames keep the colour. */
  seed: string;
  size?: keyof typeof sizes;
  online?: boolean;
  className?: string;
}

/** Initials on a colour picked from the seed; an optional green dot shows presence. */
export function Avatar({ name, seed, size = "md", online, className }: AvatarProps) {
  const hue = avatarHue(seed);
  return (
    <span className={cn("relative inline-flex shrink-0", className)}>
      <span
        aria-hidden="true"
        className={cn(
          "inline-flex items-center justify-center rounded-full font-semibold select-none",
          sizes[size],
        )}
        style={{
          backgroundColor: `oklch(0.72 0.12 ${hue})`,
          color: `oklch(0.22 0.06 ${hue})`,
        }}
      >
        {initials(name)}
      </span>
      {online ? (
        <span
          data-testid="online-dot"
          role="img"
          aria-label="Online"
          className="absolute right-0 bottom-0 block h-3 w-3 rounded-full bg-success ring-2 ring-surface"
        />
      ) : null}
    </span>
  );
}
