"use client";

import { useEffect, useId, useRef, useState } from "react";
import * as api from "@/lib/api";
import { describeError } from "@/lib/errors";
import { MUTE_CHOICES, isMuted, muteUntil, mutedLabel } from "@/lib/mute";
import { cn } from "@/lib/utils";
import { IconButton } from "@/components/ui/button";
import { BanIcon, BellIcon, BellOffIcon, DownloadIcon, MoreIcon } from "@/components/ui/icons";

export interface ChatMenuProps {
  chatId: string;
  isGroup: boolean;
  /** The other person of a 1:1 chat (block and unblock them), null for groups. */
  other: { _id: string; name: string } | null;
  mutedUntil: string | null | undefined;
  /** Whether the caller blocked `other`. */
  blocking: boolean;
  onMuted: (until: string | null) => void;
  /** Block (true) or unblock (false) the other person; the caller asks for a confirmation. */
  onBlock: (block: boolean) => void;
  /** Says what happened, or why it failed. */
  say: (text: string) => void;
}

/** Saves a downloaded file under its name (an object URL behind a temporary link). */
function save({ blob, filename }: api.Download): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * The conversation's "More options" menu: mute (8 hours, a week, always) or unmute, export as
 * JSON or HTML, and in a 1:1 chat block or unblock. Arrow keys move between items, Escape closes
 * it and puts focus back on its button.
 */
export function ChatMenu({
  chatId,
  isGroup,
  other,
  mutedUntil,
  blocking,
  onMuted,
  onBlock,
  say,
}: ChatMenuProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const menuId = useId();
  const muted = isMuted(mutedUntil);

  useEffect(() => {
    if (!open) return;
    menu.current?.querySelector<HTMLElement>("[role=menuitem]")?.focus();
    const away = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!menu.current?.contains(target) && !button.current?.contains(target)) setOpen(false);
    };
    document.addEventListener("pointerdown", away);
    return () => document.removeEventListener("pointerdown", away);
  }, [open]);

  function close(focusButton = true) {
    setOpen(false);
    if (focusButton) button.current?.focus({ preventScroll: true });
  }

  function onKeyDown(event: React.KeyboardEvent) {
    if (event.key === "Escape" || event.key === "Tab") {
      if (event.key === "Escape") event.preventDefault();
      event.stopPropagation();
      close(event.key === "Escape");
      return;
    }
    const keys = ["ArrowDown", "ArrowUp", "Home", "End"];
    if (!keys.includes(event.key)) return;
    event.preventDefault();
    const items = Array.from(menu.current?.querySelectorAll<HTMLElement>("[role=menuitem]") ?? []);
    const index = items.indexOf(document.activeElement as HTMLElement);
    let next = index;
    if (event.key === "Home") next = 0;
    else if (event.key === "End") next = items.length - 1;
    else if (event.key === "ArrowDown") next = index + 1;
    else next = index - 1;
    items[(next + items.length) % items.length]?.focus();
  }

  async function mute(until: string | null) {
    close();
    setBusy(true);
    try {
      const answer = await api.muteChat(chatId, until);
      onMuted(answer.mutedUntil ?? null);
      say(answer.mutedUntil ? mutedLabel(answer.mutedUntil) || "Muted" : "Unmuted");
    } catch (err) {
      say(describeError(err, "chat"));
    } finally {
      setBusy(false);
    }
  }

  async function download(format: "json" | "html") {
    close();
    setBusy(true);
    try {
      save(await api.exportChat(chatId, format));
      say("Chat exported");
    } catch (err) {
      say(describeError(err, "load"));
    } finally {
      setBusy(false);
    }
  }

  const item =
    "flex w-full items-center gap-3 rounded-lg px-3 py-2 text-left text-sm hover:bg-surface-2 focus-visible:bg-surface-2 focus-visible:outline-none pointer-coarse:py-3";

  return (
    <div className="relative">
      <IconButton
        ref={button}
        label="More options"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-controls={open ? menuId : undefined}
        loading={busy}
        onClick={() => setOpen((v) => !v)}
        data-testid="chat-menu-button"
      >
        {busy ? null : <MoreIcon />}
      </IconButton>
      {open ? (
        <div
          ref={menu}
          id={menuId}
          role="menu"
          aria-label="Chat options"
          onKeyDown={onKeyDown}
          data-testid="chat-menu"
          className={cn(
            "absolute top-full right-0 z-40 mt-1 w-64 rounded-2xl border border-border bg-surface p-1.5 text-fg shadow-xl",
          )}
        >
          {muted ? (
            <>
              <p className="px-3 pt-1 pb-1.5 text-xs text-muted" data-testid="muted-until">
                {mutedLabel(mutedUntil)}
              </p>
              <button
                type="button"
                role="menuitem"
                className={item}
                onClick={() => void mute(null)}
                data-testid="unmute"
              >
                <BellIcon size={18} />
                Unmute
              </button>
            </>
          ) : (
            MUTE_CHOICES.map(({ choice, label }) => (
              <button
                key={choice}
                type="button"
                role="menuitem"
                className={item}
                onClick={() => void mute(muteUntil(choice))}
                data-testid={`mute-${choice}`}
              >
                <BellOffIcon size={18} />
                Mute {label.toLowerCase()}
              </button>
            ))
          )}
          <div role="separator" className="my-1 border-t border-border" />
          <button
            type="button"
            role="menuitem"
            className={item}
            onClick={() => void download("json")}
            data-testid="export-json"
          >
            <DownloadIcon size={18} />
            Export as JSON
          </button>
          <button
            type="button"
            role="menuitem"
            className={item}
            onClick={() => void download("html")}
            data-testid="export-html"
          >
            <DownloadIcon size={18} />
            Export as a web page
          </button>
          {!isGroup && other ? (
            <>
              <div role="separator" className="my-1 border-t border-border" />
              <button
                type="button"
                role="menuitem"
                className={cn(item, !blocking && "text-danger")}
                onClick={() => {
                  close(false);
                  onBlock(!blocking);
                }}
                data-testid={blocking ? "unblock-user" : "block-user"}
              >
                <BanIcon size={18} />
                {blocking ? `Unblock ${other.name}` : `Block ${other.name}`}
              </button>
            </>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}
