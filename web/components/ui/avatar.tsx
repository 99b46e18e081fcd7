"use client";

import { useState } from "react";
import { avatarOf, avatarSrc, type AvatarImage } from "@/lib/avatars";
import { avatarHue, cn, initials } from "@/lib/utils";

const sizes = {
  xs: "h-6 w-6 text-[10px]",
  sm: "h-8 w-8 text-xs",
  md: "h-10 w-10 text-sm",
  lg: "h-12 w-12 text-base",
  xl: "h-20 w-20 text-2xl",
} as const;

/** Each size in CSS pixels, so the browser picks the 64 or 256 px file for the screen's density. */
const pixels: Record<keyof typeof sizes, number> = { xs: 24, sm: 32, md: 40, lg: 48, xl: 80 };

export interface AvatarProps {
  /** Name the initials come from. */
  name: string;
  /** What the colour is derived from (an id), so renames keep the colour. */
  seed: string;
  /** The person's picture: their user document, or its `avatar`; initials without one. */
  image?: AvatarImage | object | null;
  size?: keyof typeof sizes;
  online?: boolean;
  className?: string;
}

/**
 * The person's picture, or their initials on a colour picked from the seed (also while the
 * picture cannot be loaded); an optional green dot shows presence.
 */
export function Avatar({ name, seed, image, size = "md", online, className }: AvatarProps) {
  const hue = avatarHue(seed);
  const picture = avatarOf(image);
  // Remembers the picture that failed, so a new one is tried again.
  const [failed, setFailed] = useState<string | null>(null);
  const shown = picture && failed !== picture.url ? picture : null;
  return (
    <span className={cn("relative inline-flex shrink-0", className)}>
      {shown ? (
        // eslint-disable-next-line @next/next/no-img-element -- a static export has no image optimizer
        <img
          src={avatarSrc(shown.thumbUrl)}
          srcSet={`${avatarSrc(shown.thumbUrl)} 64w, ${avatarSrc(shown.url)} 256w`}
          sizes={`${pixels[size]}px`}
          alt=""
          aria-hidden="true"
          data-testid="avatar-image"
          decoding="async"
          loading="lazy"
          onError={() => setFailed(shown.url)}
          className={cn("rounded-full bg-surface-2 object-cover", sizes[size])}
        />
      ) : (
        <span
          aria-hidden="true"
          data-testid="avatar-initials"
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
      )}
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
