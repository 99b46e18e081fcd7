"use client";

import { useId, useRef, useState } from "react";
import { IconButton } from "@/components/ui/button";
import { SearchIcon, XIcon } from "@/components/ui/icons";
import { Input } from "@/components/ui/input";
import { MessageSearchResults } from "./message-search-results";

/**
 * Search within one conversation: a box under its header and the matching messages; choosing
 * one shows it in the history. Escape (or the close button) ends the search.
 */
export function ChatSearchPanel({
  chatId,
  onChoose,
  onClose,
}: {
  chatId: string;
  onChoose: (messageId: string) => void;
  onClose: () => void;
}) {
  const [query, setQuery] = useState("");
  const inputId = useId();
  const panel = useRef<HTMLDivElement>(null);

  return (
    <div
      ref={panel}
      role="search"
      data-testid="chat-search"
      className="shrink-0 border-b border-border bg-surface"
      onKeyDown={(event) => {
        if (event.key === "Escape") {
          event.preventDefault();
          onClose();
        }
      }}
    >
      <div className="flex items-center gap-2 px-3 py-2">
        <label htmlFor={inputId} className="sr-only">
          Search in this chat
        </label>
        <div className="relative min-w-0 flex-1">
          <SearchIcon
            size={16}
            className="pointer-events-none absolute top-1/2 left-3 -translate-y-1/2 text-muted"
          />
          <Input
            id={inputId}
            type="search"
            autoFocus
            autoComplete="off"
            placeholder="Search in this chat"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(event) => {
              // Down arrow from the box to the first result.
              if (event.key === "ArrowDown") {
                const first = panel.current?.querySelector<HTMLElement>(
                  '[data-testid="search-result"]',
                );
                if (first) {
                  event.preventDefault();
                  first.focus();
                }
              }
            }}
            data-testid="chat-search-input"
            className="rounded-full bg-surface-2 pl-9"
          />
        </div>
        <IconButton label="Close search" onClick={onClose} data-testid="chat-search-close">
          <XIcon size={18} />
        </IconButton>
      </div>
      {query.trim() ? (
        <div className="max-h-[40dvh] overflow-y-auto px-2 pb-2 scrollbar-thin">
          <MessageSearchResults
            query={query}
            chatId={chatId}
            onChoose={(result) => onChoose(result.message._id)}
          />
        </div>
      ) : null}
    </div>
  );
}
