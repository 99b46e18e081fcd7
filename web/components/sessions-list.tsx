"use client";

import { useCallback, useEffect, useId, useRef, useState } from "react";
import * as api from "@/lib/api";
import { listTime } from "@/lib/dates";
import { describeError, isApiError } from "@/lib/errors";
import { describeDevice } from "@/lib/sessions";
import type { Session } from "@/lib/types";
import { useSession } from "@/components/providers/session-provider";
import { Pill } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Spinner } from "@/components/ui/spinner";

type Load =
  { kind: "loading" } | { kind: "ready"; sessions: Session[] } | { kind: "error"; message: string };

function when(value: string | null | undefined): string {
  return listTime(value) || "unknown";
}

/** This device first, then the most recently used. */
function ordered(sessions: Session[]): Session[] {
  const last = (s: Session) => Date.parse(s.lastUsedAt ?? s.createdAt) || 0;
  return [...sessions].sort((a, b) => Number(b.current) - Number(a.current) || last(b) - last(a));
}

/**
 * The person's signed-in sessions (one per login, on any device), with a way to
 * sign out any other one, or all of them at once.
 */
export function SessionsList() {
  const { logoutEverywhere } = useSession();
  const [load, setLoad] = useState<Load>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);
  const [ending, setEnding] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const [endingAll, setEndingAll] = useState(false);
  const headingId = useId();
  const heading = useRef<HTMLHeadingElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const everywhereButton = useRef<HTMLButtonElement>(null);
  const wasConfirming = useRef(false);

  useEffect(() => {
    const controller = new AbortController();
    setLoad({ kind: "loading" });
    api
      .listSessions(controller.signal)
      .then((sessions) => setLoad({ kind: "ready", sessions: ordered(sessions) }))
      .catch((err: unknown) => {
        if (!controller.signal.aborted)
          setLoad({ kind: "error", message: describeError(err, "load") });
      });
    return () => controller.abort();
  }, [attempt]);

  // Focus follows the question: onto the confirm button, and back when it is cancelled.
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
    else if (wasConfirming.current) everywhereButton.current?.focus();
    wasConfirming.current = confirming;
  }, [confirming]);

  const signOut = useCallback(async (session: Session) => {
    setEnding(session._id);
    setError(null);
    setNotice(null);
    try {
      await api.endSession(session._id);
    } catch (err) {
      // Already gone (ended elsewhere) is what was wanted; anything else is said.
      if (!isApiError(err, 404)) {
        setError(describeError(err));
        setEnding(null);
        return;
      }
    }
    setLoad((current) =>
      current.kind === "ready"
        ? { kind: "ready", sessions: current.sessions.filter((s) => s._id !== session._id) }
        : current,
    );
    setEnding(null);
    setNotice(`Signed out ${describeDevice(session.userAgent)}.`);
    // The button that had focus is gone: keep the keyboard in this section.
    heading.current?.focus();
  }, []);

  const sessions = load.kind === "ready" ? load.sessions : [];

  return (
    <section
      aria-labelledby={headingId}
      className="mt-6 rounded-2xl border border-border bg-surface p-5 sm:p-6"
      data-testid="sessions"
    >
      <h2
        id={headingId}
        ref={heading}
        tabIndex={-1}
        className="text-base font-semibold outline-none"
      >
        Where you&apos;re signed in
      </h2>
      <p className="mt-1 text-sm text-muted">
        Sign out any device you don&apos;t recognise or no longer use.
      </p>

      {load.kind === "loading" ? (
        <div
          role="status"
          className="mt-4 flex justify-center"
          aria-busy="true"
          aria-label="Loading sessions"
        >
          <Spinner size={20} />
        </div>
      ) : null}
      {load.kind === "error" ? (
        <div role="alert" className="mt-4 text-sm">
          <p>{load.message}</p>
          <Button
            variant="secondary"
            size="sm"
            className="mt-2"
            onClick={() => setAttempt((n) => n + 1)}
          >
            Try again
          </Button>
        </div>
      ) : null}

      {load.kind === "ready" ? (
        <ul className="mt-4 divide-y divide-border" data-testid="session-list">
          {sessions.map((session) => {
            const device = describeDevice(session.userAgent);
            const detailId = `${headingId}-${session._id}`;
            return (
              <li
                key={session._id}
                className="flex items-center gap-3 py-3"
                data-testid="session"
                data-session-id={session._id}
                data-current={session.current ? "true" : "false"}
              >
                <div className="min-w-0 flex-1">
                  <p className="flex flex-wrap items-center gap-2 text-sm font-medium">
                    <span className="truncate">{device}</span>
                    {session.current ? (
                      <Pill className="bg-accent-soft text-accent">This device</Pill>
                    ) : null}
                  </p>
                  <p id={detailId} className="text-xs text-muted">
                    Signed in {when(session.createdAt)} · Last active{" "}
                    {when(session.lastUsedAt ?? session.createdAt)}
                  </p>
                </div>
                {session.current ? null : (
                  <Button
                    variant="secondary"
                    size="sm"
                    loading={ending === session._id}
                    disabled={ending !== null}
                    onClick={() => void signOut(session)}
                    aria-label={`Sign out ${device}`}
                    aria-describedby={detailId}
                    data-testid="session-sign-out"
                  >
                    Sign out
                  </Button>
                )}
              </li>
            );
          })}
        </ul>
      ) : null}

      {error ? (
        <p role="alert" className="mt-2 text-sm text-danger">
          {error}
        </p>
      ) : null}
      <p
        role="status"
        className="text-sm text-muted [&:not(:empty)]:mt-2"
        data-testid="sessions-status"
      >
        {notice}
      </p>

      {load.kind === "ready" ? (
        confirming ? (
          <div
            className="mt-4 rounded-xl bg-danger-soft p-3"
            data-testid="logout-everywhere-confirm"
          >
            <p className="text-sm">This signs you out on every device, this one too.</p>
            <div className="mt-3 flex flex-wrap justify-end gap-2">
              <Button
                variant="ghost"
                size="sm"
                onClick={() => setConfirming(false)}
                disabled={endingAll}
              >
                Cancel
              </Button>
              <Button
                ref={confirmButton}
                variant="danger"
                size="sm"
                loading={endingAll}
                onClick={async () => {
                  setEndingAll(true);
                  await logoutEverywhere();
                }}
                data-testid="logout-everywhere-confirm-button"
              >
                Sign out everywhere
              </Button>
            </div>
          </div>
        ) : (
          <Button
            ref={everywhereButton}
            variant="secondary"
            className="mt-4 w-full"
            onClick={() => setConfirming(true)}
            data-testid="logout-everywhere"
          >
            Sign out everywhere
          </Button>
        )
      ) : null}
    </section>
  );
}
