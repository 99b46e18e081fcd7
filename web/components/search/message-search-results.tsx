"use client";

import { useCallback, useEffect, useRef, useState } from "react";
import * as api from "@/lib/api";
import { chatTitle } from "@/lib/chats";
import { listTime } from "@/lib/dates";
import { describeError } from "@/lib/errors";
import { useDebounced } from "@/hooks/use-debounced";
import { useChats } from "@/components/providers/chats-provider";
import { useSession } from "@/components/providers/session-provider";
import { Button } from "@/components/ui/button";
import { Spinner } from "@/components/ui/spinner";
import { HighlightedText } from "./highlighted-text";

export interface MessageSearchResultsProps {
  /** What the person typed; searched once they pause. */
  query: string;
  /** Only this chat's messages; all chats when absent. */
  chatId?: string | null;
  onChoose: (result: api.SearchResult) => void;
  /** Heading over the results ("Messages"), for the search over all chats. */
  heading?: string;
  className?: string;
}

type State =
  | { kind: "idle" }
  | { kind: "loading" }
  | { kind: "ready"; results: api.SearchResult[]; next: string | null }
  | { kind: "error"; message: string };

/**
 * Messages matching a query: chat, sender, time and the text with the matches marked, best
 * match first; more with "More results" (the server's cursor). Each result is a button.
 */
export function MessageSearchResults({
  query,
  chatId = null,
  onChoose,
  heading,
  className,
}: MessageSearchResultsProps) {
  const { user } = useSession();
  const { chats, people, rememberPeople } = useChats();
  const q = useDebounced(query.trim(), 300);
  const [state, setState] = useState<State>({ kind: "idle" });
  const [loadingMore, setLoadingMore] = useState(false);
  const asked = useRef(new Set<string>());

  useEffect(() => {
    if (!q) {
      setState({ kind: "idle" });
      return;
    }
    const controller = new AbortController();
    setState({ kind: "loading" });
    api
      .searchMessages({ q, chatId }, controller.signal)
      .then((page) => setState({ kind: "ready", results: page.results, next: page.nextCursor }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted)
          setState({ kind: "error", message: describeError(err, "search") });
      });
    return () => controller.abort();
  }, [q, chatId]);

  // Senders we do not know by name yet (members of groups never opened): look them up once.
  useEffect(() => {
    if (state.kind !== "ready") return;
    const unknown = [
      ...new Set(state.results.map((r) => r.message.sender).filter((id) => id !== user._id)),
    ].filter((id) => !people.has(id) && !asked.current.has(id));
    if (unknown.length === 0) return;
    unknown.forEach((id) => asked.current.add(id));
    api
      .usersByIds(unknown)
      .then(rememberPeople)
      .catch(() => undefined);
  }, [state, people, rememberPeople, user._id]);

  const more = useCallback(async () => {
    if (state.kind !== "ready" || !state.next) return;
    setLoadingMore(true);
    try {
      const page = await api.searchMessages({ q, chatId, cursor: state.next });
      setState((current) =>
        current.kind === "ready"
          ? { kind: "ready", results: [...current.results, ...page.results], next: page.nextCursor }
          : current,
      );
    } catch (err) {
      setState({ kind: "error", message: describeError(err, "search") });
    } finally {
      setLoadingMore(false);
    }
  }, [state, q, chatId]);

  if (!query.trim()) return null;

  const titleOf = (result: api.SearchResult): string => {
    const entry = chats.find((e) => e.chat._id === result.chat._id);
    if (entry) return chatTitle(entry);
    return result.chat.isGroup ? result.chat.name?.trim() || "Unnamed group" : "Chat";
  };
  const senderOf = (id: string): string =>
    id === user._id ? "You" : (people.get(id)?.name ?? "Someone");

  const pending = state.kind === "loading" || state.kind === "idle" || q !== query.trim();

  return (
    <section aria-label={heading ?? "Search results"} className={className}>
      {heading ? (
        <h2 className="px-3 pt-3 pb-1 text-xs font-semibold tracking-wide text-muted uppercase">
          {heading}
        </h2>
      ) : null}
      <p role="status" aria-live="polite" className="sr-only" data-testid="search-status">
        {pending
          ? "Searching…"
          : state.kind === "ready"
            ? state.results.length
              ? `${state.results.length}${state.next ? "+" : ""} messages found`
              : "No messages found"
            : ""}
      </p>
      {state.kind === "error" ? (
        <p role="alert" className="px-3 py-4 text-sm text-danger">
          {state.message}
        </p>
      ) : state.kind === "ready" && state.results.length === 0 && !pending ? (
        <p className="px-3 py-4 text-sm text-muted" data-testid="search-empty">
          No messages match “{q}”.
        </p>
      ) : state.kind === "ready" ? (
        <ul className="space-y-0.5" data-testid="search-results">
          {state.results.map((result) => (
            <li key={result.message._id}>
              <button
                type="button"
                onClick={() => onChoose(result)}
                data-testid="search-result"
                data-result-id={result.message._id}
                data-chat-id={result.chat._id}
                className="block w-full rounded-xl px-3 py-2 text-left hover:bg-surface-2 focus-visible:bg-surface-2"
              >
                <span className="flex items-baseline justify-between gap-2">
                  <span className="truncate text-sm font-semibold">
                    {chatId ? senderOf(result.message.sender) : titleOf(result)}
                  </span>
                  <span className="shrink-0 text-xs text-muted tabular-nums">
                    {listTime(result.message.createdAt)}
                  </span>
                </span>
                <span className="mt-0.5 line-clamp-2 text-sm text-muted">
                  {chatId ? null : (
                    <span className="font-medium text-fg">{senderOf(result.message.sender)}: </span>
                  )}
                  <HighlightedText text={result.message.text || "Photo"} query={q} />
                </span>
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <div className="flex justify-center py-4 text-muted">
          <Spinner label="Searching messages" />
        </div>
      )}
      {state.kind === "ready" && state.next ? (
        <div className="flex justify-center py-2">
          <Button
            variant="ghost"
            size="sm"
            loading={loadingMore}
            onClick={() => void more()}
            data-testid="search-more"
          >
            More results
          </Button>
        </div>
      ) : null}
    </section>
  );
}
