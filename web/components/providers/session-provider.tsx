"use client";

import { useRouter } from "next/navigation";
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState } from "react";
import * as api from "@/lib/api";
import { describeError, isApiError } from "@/lib/errors";
import { userFromToken } from "@/lib/jwt";
import { getToken, setToken, subscribeToken } from "@/lib/session";
import type { User } from "@/lib/types";
import { Button } from "@/components/ui/button";
import { AppShellSkeleton } from "@/components/app-shell-skeleton";

interface SessionValue {
  user: User;
  token: string;
  /** Stores a fresh token and user (after a profile change). */
  update: (user: User, token?: string) => void;
  logout: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession must be used inside <SessionProvider>");
  return value;
}

type State =
  | { kind: "loading"; token: string | null; user: User | null }
  | { kind: "ready"; token: string; user: User }
  | { kind: "error"; token: string; message: string };

/**
 * Guards the signed-in part of the app: no token, or a token the server
 * refuses, sends the visitor to the login page.
 */
export function SessionProvider({ children }: { children: React.ReactNode }) {
  const router = useRouter();
  const [state, setState] = useState<State>({ kind: "loading", token: null, user: null });
  const [attempt, setAttempt] = useState(0);
  // The token this tab is using, to tell our own token changes from other tabs'.
  const tokenRef = useRef<string | null>(null);

  // After an explicit logout the next person should land on their own chats, not ours.
  const loggingOut = useRef(false);

  const goToLogin = useCallback(() => {
    const here = window.location.pathname + window.location.search;
    const keep = !loggingOut.current && (here.startsWith("/chats?") || here.startsWith("/profile"));
    const next = keep ? `?next=${encodeURIComponent(here)}` : "";
    router.replace(`/login${next}`);
  }, [router]);

  useEffect(() => {
    const token = getToken();
    tokenRef.current = token;
    if (!token) {
      goToLogin();
      return;
    }
    setState({ kind: "loading", token, user: userFromToken(token) });
    const controller = new AbortController();
    api
      .me(controller.signal)
      .then((user) => setState({ kind: "ready", token, user }))
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        if (isApiError(error, 401)) {
          setToken(null);
          return;
        }
        setState({ kind: "error", token, message: describeError(error, "load") });
      });
    return () => controller.abort();
  }, [attempt, goToLogin]);

  // A refused token anywhere, or a logout in another tab, ends the session here.
  useEffect(() => {
    api.onUnauthorized(() => setToken(null));
    const unsubscribe = subscribeToken((token) => {
      if (!token) goToLogin();
      else if (token !== tokenRef.current) setAttempt((n) => n + 1);
    });
    return () => {
      api.onUnauthorized(null);
      unsubscribe();
    };
  }, [goToLogin]);

  const update = useCallback((user: User, token?: string) => {
    setState((current) => {
      if (current.kind !== "ready") return current;
      return { kind: "ready", user, token: token ?? current.token };
    });
    if (token) {
      tokenRef.current = token;
      setToken(token);
    }
  }, []);

  const logout = useCallback(async () => {
    loggingOut.current = true;
    try {
      await api.logout();
    } catch {
      // The token is dropped locally whatever the server said.
    }
    setToken(null);
  }, []);

  const value = useMemo<SessionValue | null>(
    () => (state.kind === "ready" ? { user: state.user, token: state.token, update, logout } : null),
    [state, update, logout],
  );

  if (state.kind === "error") {
    return (
      <div className="flex h-dvh items-center justify-center p-6">
        <div role="alert" className="max-w-sm text-center">
          <p className="text-base font-medium">{state.message}</p>
          <Button className="mt-4" onClick={() => setAttempt((n) => n + 1)}>
            Try again
          </Button>
        </div>
      </div>
    );
  }
  if (!value) return <AppShellSkeleton />;
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
