"use client";

import { useEffect, useId, useRef } from "react";
import { cn } from "@/lib/utils";
import { XIcon } from "./icons";

export interface DialogProps {
  open: boolean;
  onClose: () => void;
  title: string;
  description?: string;
  children: React.ReactNode;
  className?: string;
  /** Hide the title visually (it still names the dialog for screen readers). */
  hideTitle?: boolean;
  "data-testid"?: string;
}

/**
 * A modal built on the native <dialog>: the browser traps focus, puts it on the
 * top layer and closes it on Escape. Clicking the backdrop closes it too.
 */
export function Dialog({
  open,
  onClose,
  title,
  description,
  children,
  className,
  hideTitle,
  ...rest
}: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  if (!open) return null;

  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      data-testid={rest["data-testid"]}
      onCancel={(event) => {
        event.preventDefault();
        onCloseRef.current();
      }}
      onKeyDown={(event) => {
        // A search box would spend the first Escape on clearing itself: close at once instead.
        if (event.key === "Escape" && !event.defaultPrevented) {
          event.preventDefault();
          event.stopPropagation();
          onCloseRef.current();
        }
      }}
      onMouseDown={(event) => {
        if (event.target === ref.current) onCloseRef.current();
      }}
      className={cn(
        "m-auto w-[min(32rem,calc(100vw-2rem))] max-h-[min(40rem,calc(100dvh-2rem))] overflow-hidden rounded-2xl border border-border bg-surface p-0 text-fg shadow-2xl",
        "backdrop:bg-black/50 backdrop:backdrop-blur-[1px]",
        className,
      )}
    >
      <div className="flex max-h-[inherit] flex-col">
        <div
          className={cn(
            "flex items-start justify-between gap-4 px-5 pt-5 pb-3",
            hideTitle && "sr-only",
          )}
        >
          <div>
            <h2 id={titleId} className="text-lg font-semibold">
              {title}
            </h2>
            {description ? (
              <p id={descriptionId} className="mt-1 text-sm text-muted">
                {description}
              </p>
            ) : null}
          </div>
          <button
            type="button"
            onClick={() => onCloseRef.current()}
            aria-label="Close"
            className="-mt-1 -mr-2 inline-flex h-9 w-9 items-center justify-center rounded-full text-muted hover:bg-surface-2 hover:text-fg"
          >
            <XIcon size={18} />
          </button>
        </div>
        {children}
      </div>
    </dialog>
  );
}
