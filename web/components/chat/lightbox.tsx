"use client";

import { useEffect, useRef } from "react";
import { XIcon } from "@/components/ui/icons";

export interface LightboxImage {
  url: string;
  alt: string;
  caption?: string;
}

/** Shows an image large. Escape, the close button or a click outside the image closes it. */
export function Lightbox({ image, onClose }: { image: LightboxImage | null; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (image && dialog && !dialog.open) dialog.showModal();
  }, [image]);

  if (!image) return null;
  return (
    <dialog
      ref={ref}
      aria-label="Image viewer"
      data-testid="lightbox"
      onCancel={(event) => {
        event.preventDefault();
        onCloseRef.current();
      }}
      onClick={(event) => {
        if (event.target === event.currentTarget || (event.target as HTMLElement).dataset.backdrop)
          onCloseRef.current();
      }}
      className="m-0 h-dvh max-h-none w-screen max-w-none bg-black/90 p-0 text-white backdrop:bg-black/80"
    >
      <div
        data-backdrop="true"
        className="flex h-full w-full flex-col items-center justify-center gap-3 p-4 sm:p-10"
      >
        <button
          type="button"
          onClick={() => onCloseRef.current()}
          aria-label="Close image"
          autoFocus
          className="absolute top-3 right-3 inline-flex h-11 w-11 items-center justify-center rounded-full bg-white/10 text-white hover:bg-white/20"
          data-testid="lightbox-close"
        >
          <XIcon />
        </button>
        {/* eslint-disable-next-line @next/next/no-img-element */}
        <img
          src={image.url}
          alt={image.alt}
          className="max-h-[85dvh] max-w-full rounded-lg object-contain shadow-2xl"
        />
        {image.caption ? (
          <p className="max-w-2xl text-center text-sm text-white/85">{image.caption}</p>
        ) : null}
      </div>
    </dialog>
  );
}
