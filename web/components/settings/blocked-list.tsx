"use client";

import { useCallback, useEffect, useState } from "react";
import * as api from "@/lib/api";
import { describeError } from "@/lib/errors";
import type { User } from "@/lib/types";
import { Avatar } from "@/components/ui/avatar";
import { Button } from "@/components/ui/button";
import { Spinner } from "@/components/ui/spinner";

type Load =
  | { kind: "loading" }
  | { kind: "ready"; users: User[]; next: string | null }
  | { kind: "error"; message: string };

/** The people the caller blocked, each with Unblock; more pages on request. */
export function BlockedList() {
  const [load, setLoad] = useState<Load>({ kind: "loading" });
  const [busy, setBusy] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    const controller = new AbortController();
    api
      .listBlocked({}, controller.signal)
      .then((page) => setLoad({ kind: "ready", users: page.users, next: page.nextCursor }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted)
          setLoad({ kind: "error", message: describeError(err, "load") });
      });
    return () => controller.abort();
  }, []);

  const more = useCallback(async () => {
    if (load.kind !== "ready" || !load.next) return;
    setBusy("more");
    try {
      const page = await api.listBlocked({ cursor: load.next });
      setLoad({ kind: "ready", users: [...load.users, ...page.users], next: page.nextCursor });
    } catch (err) {
      setNotice(describeError(err, "load"));
    } finally {
      setBusy(null);
    }
  }, [load]);

  async function unblock(person: User) {
    setBusy(person._id);
    setNotice(null);
    try {
      await api.unblockUser(person._id);
      setLoad((current) =>
        current.kind === "ready"
          ? { ...current, users: current.users.filter((u) => u._id !== person._id) }
          : current,
      );
      setNotice(`You unblocked ${person.name}.`);
    } catch (err) {
      setNotice(describeError(err));
    } finally {
      setBusy(null);
    }
  }

  return (
    <div className="mt-4 border-t border-border pt-4" data-testid="blocked-list">
      <h3 className="text-sm font-medium">Blocked people</h3>
      <p className="mt-0.5 text-sm text-muted">
        They can&apos;t message you or start a chat with you, and don&apos;t see when you&apos;re
        online. Block someone from the menu of your chat with them.
      </p>
      {load.kind === "loading" ? (
        <div className="flex justify-center py-3 text-muted">
          <Spinner label="Loading blocked people" />
        </div>
      ) : load.kind === "error" ? (
        <p role="alert" className="mt-2 text-sm text-danger">
          {load.message}
        </p>
      ) : load.users.length === 0 ? (
        <p className="mt-2 text-sm text-muted" data-testid="blocked-empty">
          You haven&apos;t blocked anyone.
        </p>
      ) : (
        <ul className="mt-2 divide-y divide-border">
          {load.users.map((person) => (
            <li
              key={person._id}
              className="flex items-center gap-3 py-2"
              data-testid="blocked-person"
              data-user-id={person._id}
            >
              <Avatar name={person.name} seed={person._id} size="sm" />
              <span className="min-w-0 flex-1 truncate text-sm">{person.name}</span>
              <Button
                variant="secondary"
                size="sm"
                loading={busy === person._id}
                onClick={() => void unblock(person)}
                aria-label={`Unblock ${person.name}`}
              >
                Unblock
              </Button>
            </li>
          ))}
        </ul>
      )}
      {load.kind === "ready" && load.next ? (
        <Button variant="ghost" size="sm" loading={busy === "more"} onClick={() => void more()}>
          More
        </Button>
      ) : null}
      <p role="status" aria-live="polite" className="mt-2 text-sm text-muted">
        {notice ?? ""}
      </p>
    </div>
  );
}
