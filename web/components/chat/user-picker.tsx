"use client";

import { useEffect, useId, useState } from "react";
import * as api from "@/lib/api";
import { describeError } from "@/lib/errors";
import type { User } from "@/lib/types";
import { cn } from "@/lib/utils";
import { useDebounced } from "@/hooks/use-debounced";
import { useChats } from "@/components/providers/chats-provider";
import { useRealtime } from "@/components/providers/realtime-provider";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { CheckIcon, SearchIcon } from "@/components/ui/icons";
import { Input } from "@/components/ui/input";
import { Spinner } from "@/components/ui/spinner";

export interface UserPickerProps {
  /** People never offered (yourself, current members). */
  excludeIds: string[];
  /** Multi-select shows checkboxes; single-select calls onPick on click. */
  selectedIds?: string[];
  onPick: (user: User) => void;
  busyId?: string | null;
  searchLabel?: string;
  autoFocus?: boolean;
}

/** Search people by name or email (debounced) and pick one or several. */
export function UserPicker({
  excludeIds,
  selectedIds,
  onPick,
  busyId,
  searchLabel = "Search people",
  autoFocus,
}: UserPickerProps) {
  const { rememberPeople } = useChats();
  const { online } = useRealtime();
  const [query, setQuery] = useState("");
  const debounced = useDebounced(query.trim(), 300);
  const [users, setUsers] = useState<User[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const listId = useId();
  const multi = selectedIds !== undefined;

  useEffect(() => {
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    api
      .searchUsers({ q: debounced, limit: 20 }, controller.signal)
      .then((page) => {
        setUsers(page.users);
        setCursor(page.nextCursor);
        rememberPeople(page.users);
      })
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(describeError(err, "search"));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [debounced, rememberPeople]);

  async function loadMore() {
    if (!cursor) return;
    setLoadingMore(true);
    try {
      const page = await api.searchUsers({ q: debounced, limit: 20, cursor });
      setUsers((current) => {
        const known = new Set(current.map((u) => u._id));
        return [...current, ...page.users.filter((u) => !known.has(u._id))];
      });
      setCursor(page.nextCursor);
      rememberPeople(page.users);
    } catch (err) {
      setError(describeError(err, "search"));
    } finally {
      setLoadingMore(false);
    }
  }

  const excluded = new Set(excludeIds);
  const visible = users.filter((u) => !excluded.has(u._id));
  const selected = new Set(selectedIds ?? []);

  return (
    <div className="flex min-h-0 flex-1 flex-col">
      <div className="relative">
        <label htmlFor={inputId} className="sr-only">
          {searchLabel}
        </label>
        <SearchIcon
          size={16}
          className="pointer-events-none absolute top-1/2 left-3 -translate-y-1/2 text-muted"
        />
        <Input
          id={inputId}
          type="search"
          data-testid="user-search"
          placeholder="Search by name or email"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          autoFocus={autoFocus}
          autoComplete="off"
          aria-controls={visible.length > 0 ? listId : undefined}
          className="pl-9"
        />
      </div>
      <div className="mt-3 min-h-48 flex-1 overflow-y-auto scrollbar-thin" aria-busy={loading}>
        {loading && visible.length === 0 ? (
          <div className="flex h-32 items-center justify-center text-muted">
            <Spinner label="Searching" />
          </div>
        ) : error ? (
          <p role="alert" className="px-1 py-6 text-center text-sm text-danger">
            {error}
          </p>
        ) : visible.length === 0 ? (
          <p className="px-1 py-6 text-center text-sm text-muted">
            {debounced ? `No one matches “${debounced}”.` : "No one else is here yet."}
          </p>
        ) : (
          <ul id={listId} className="space-y-0.5" aria-label="People">
            {visible.map((user) => {
              const isSelected = selected.has(user._id);
              return (
                <li key={user._id}>
                  <button
                    type="button"
                    data-testid="user-result"
                    data-user-id={user._id}
                    aria-pressed={multi ? isSelected : undefined}
                    disabled={busyId === user._id}
                    onClick={() => onPick(user)}
                    className={cn(
                      "flex w-full items-center gap-3 rounded-xl px-2 py-2 text-left hover:bg-surface-2",
                      isSelected && "bg-accent-soft hover:bg-accent-soft",
                    )}
                  >
                    <Avatar
                      name={user.name}
                      seed={user._id}
                      image={user}
                      size="md"
                      online={online.has(user._id)}
                    />
                    <span className="min-w-0 flex-1">
                      {/* Named by what it shows; aria-pressed says whether a member is picked. */}
                      {multi ? null : <span className="sr-only">Chat with </span>}
                      <span className="block truncate text-sm font-medium">{user.name}</span>
                      <span className="block truncate text-xs text-muted">{user.email}</span>
                    </span>
                    {busyId === user._id ? <Spinner size={16} /> : null}
                    {multi ? (
                      <span
                        aria-hidden="true"
                        className={cn(
                          "flex h-5 w-5 items-center justify-center rounded-md border",
                          isSelected ? "border-accent bg-accent text-accent-fg" : "border-border",
                        )}
                      >
                        {isSelected ? <CheckIcon size={14} strokeWidth={3} /> : null}
                      </span>
                    ) : null}
                  </button>
                </li>
              );
            })}
          </ul>
        )}
        {cursor && !loading && !error ? (
          <div className="flex justify-center py-2">
            <Button variant="ghost" size="sm" onClick={loadMore} loading={loadingMore}>
              Show more people
            </Button>
          </div>
        ) : null}
      </div>
    </div>
  );
}
