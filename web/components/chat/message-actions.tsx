"use client";

import { useEffect, useLayoutEffect, useRef, useState } from "react";
import { EMOJI_GRID, QUICK_EMOJI } from "@/lib/config";
import { cn } from "@/lib/utils";
import { CopyIcon, PencilIcon, ReplyIcon, TrashIcon } from "@/components/ui/icons";

export interface MessageActionsMenuProps {
  /** The element the menu opened from: it is placed next to it, and focus returns there. */
  anchor: HTMLElement | null;
  own: boolean;
  canEdit: boolean;
  canDelete: boolean;
  canCopy: boolean;
  /** Emoji the caller has already used on this message (shown pressed). */
  mine: ReadonlySet<string>;
  /** Open on the full emoji grid (the "React" button) rather than the menu. */
  startWithPicker?: boolean;
  onReact: (emoji: string) => void;
  onReply: () => void;
  onCopy: () => void;
  onEdit: () => void;
  onDelete: () => void;
  onClose: () => void;
}

const MENU_WIDTH = 288;

/**
 * The actions of one message: a row of frequent emoji (with a fuller grid
 * behind "More emoji"), then reply, copy, edit and delete. A popover next to
 * the message on wide screens, a sheet at the bottom on phones. Arrow keys move
 * between items, Escape closes it and focus goes back to where it came from.
 */
export function MessageActionsMenu({
  anchor,
  own,
  canEdit,
  canDelete,
  canCopy,
  mine,
  startWithPicker = false,
  onReact,
  onReply,
  onCopy,
  onEdit,
  onDelete,
  onClose,
}: MessageActionsMenuProps) {
  const menu = useRef<HTMLDivElement>(null);
  const [full, setFull] = useState(startWithPicker);
  const [position, setPosition] = useState<React.CSSProperties | null>(null);
  const [sheet] = useState(
    () => typeof window !== "undefined" && window.matchMedia("(max-width: 767px)").matches,
  );

  // Next to the message, kept inside the viewport; above it when there is no room below.
  useLayoutEffect(() => {
    if (sheet || !anchor || !menu.current) return;
    const rect = anchor.getBoundingClientRect();
    const height = menu.current.offsetHeight;
    const margin = 8;
    let top = rect.bottom + 4;
    if (top + height > window.innerHeight - margin) top = Math.max(margin, rect.top - height - 4);
    let left = own ? rect.right - MENU_WIDTH : rect.left;
    left = Math.min(Math.max(margin, left), window.innerWidth - MENU_WIDTH - margin);
    setPosition({ top, left, width: MENU_WIDTH });
  }, [anchor, own, sheet, full]);

  useEffect(() => {
    const first = menu.current?.querySelector<HTMLElement>("[data-menu-item]");
    first?.focus();
  }, [full]);

  /** Closing without choosing anything puts focus back where the menu came from. */
  function dismiss() {
    onClose();
    anchor?.focus({ preventScroll: true });
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      dismiss();
      return;
    }
    const keys = ["ArrowDown", "ArrowUp", "ArrowRight", "ArrowLeft", "Home", "End"];
    if (!keys.includes(event.key)) return;
    const items = Array.from(menu.current?.querySelectorAll<HTMLElement>("[data-menu-item]") ?? []);
    const index = items.indexOf(document.activeElement as HTMLElement);
    let next = index;
    if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    else if (event.key === "ArrowDown" || event.key === "ArrowRight") next = index + 1;
    else next = index - 1;
    event.preventDefault();
    items[(next + items.length) % items.length]?.focus();
  }

  const act = (run: () => void) => () => {
    onClose();
    run();
  };

  const emojiButton = (emoji: string) => (
    <button
      key={emoji}
      type="button"
      role="menuitemcheckbox"
      aria-checked={mine.has(emoji)}
      aria-label={`React with ${emoji}`}
      data-menu-item
      data-testid="react-emoji"
      data-emoji={emoji}
      onClick={act(() => onReact(emoji))}
      className={cn(
        "flex h-10 w-10 items-center justify-center rounded-full text-xl hover:bg-surface-2 focus-visible:bg-surface-2 focus-visible:outline-none",
        mine.has(emoji) && "bg-accent/15 ring-1 ring-accent",
      )}
    >
      {emoji}
    </button>
  );

  const item = (
    label: string,
    icon: React.ReactNode,
    run: () => void,
    testId: string,
    danger = false,
  ) => (
    <button
      type="button"
      role="menuitem"
      data-menu-item
      data-testid={testId}
      onClick={act(run)}
      className={cn(
        "flex w-full items-center gap-3 rounded-lg px-3 py-2 text-left text-sm hover:bg-surface-2 focus-visible:bg-surface-2 focus-visible:outline-none",
        danger && "text-danger",
      )}
    >
      {icon}
      {label}
    </button>
  );

  return (
    <>
      <div
        className={cn("fixed inset-0 z-40", sheet && "bg-black/40")}
        aria-hidden="true"
        onMouseDown={dismiss}
        onTouchStart={dismiss}
        data-testid="message-menu-backdrop"
      />
      <div
        ref={menu}
        role="menu"
        aria-label="Message actions"
        data-testid="message-menu"
        onKeyDown={onKeyDown}
        style={sheet ? undefined : (position ?? { top: -9999, left: -9999, width: MENU_WIDTH })}
        className={cn(
          "z-50 rounded-2xl border border-border bg-surface p-2 text-fg shadow-xl",
          sheet
            ? "fixed inset-x-0 bottom-0 rounded-b-none pb-[max(0.5rem,env(safe-area-inset-bottom))]"
            : "fixed",
        )}
      >
        {full ? (
          <div
            className="grid max-h-64 grid-cols-8 gap-0.5 overflow-y-auto"
            data-testid="emoji-grid"
          >
            {EMOJI_GRID.map(emojiButton)}
          </div>
        ) : (
          <>
            <div className="flex items-center justify-between gap-0.5 pb-1">
              {QUICK_EMOJI.map(emojiButton)}
              <button
                type="button"
                role="menuitem"
                aria-label="More emoji"
                data-menu-item
                data-testid="more-emoji"
                onClick={() => setFull(true)}
                className="flex h-10 w-10 items-center justify-center rounded-full text-lg text-muted hover:bg-surface-2 focus-visible:bg-surface-2 focus-visible:outline-none"
              >
                +
              </button>
            </div>
            <div className="border-t border-border pt-1">
              {item("Reply", <ReplyIcon size={18} />, onReply, "action-reply")}
              {canCopy ? item("Copy text", <CopyIcon size={18} />, onCopy, "action-copy") : null}
              {canEdit ? item("Edit", <PencilIcon size={18} />, onEdit, "action-edit") : null}
              {canDelete
                ? item("Delete", <TrashIcon size={18} />, onDelete, "action-delete", true)
                : null}
            </div>
          </>
        )}
      </div>
    </>
  );
}
