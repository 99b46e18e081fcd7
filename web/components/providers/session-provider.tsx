"use client";

import { useRouter } from "next/navigation";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from "react";
import * as api from "@/lib/api";
import { describeError, isApiError } from "@/lib/errors";
import {
  announceSession,
  dropLegacyToken,
  forgetSession,
  lastUser,
  maybeSignedIn,
  rememberUser,
  subscribeSession,
} from "@/lib/session";
import type { User } from "@/lib/types";
import { forgetShownConversations } from "@/lib/shown";
import { Button } from "@/components/ui/button";
import { AppShellSkeleton } from "@/components/app-shell-skeleton";

interface SessionValue {
  user: User;
  /** Shows a changed user (after a profile change; the server renewed the cookie itself). */
  update: (user: User) => void;
  logout: () => Promise<void>;
  /** Ends every session of this person, on every device, this one included. */
  logoutEverywhere: () => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const value = useContext(SessionContext);
  if (!value) throw new Error("useSession must be used inside <SessionProvider>");
  return value;
}

type State =
  { kind: "loading" } | { kind: "ready"; user: User } | { kind: "error"; message: string };

/**
 * Guards the signed-in part of the app: no session, or a session the server
 * refuses (logged out here, in another tab, or from another device), sends the
 * visitor to the login page.
 */
export function SessionProvider({ children }: { children: React.ReactNode }) {
  const router = useRouter();
  const [state, setState] = useState<State>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);

  // After an explicit logout the next person should land on their own chats, not ours.
  const loggingOut = useRef(false);

  const goToLogin = useCallback(() => {
    const here = window.location.pathname + window.location.search;
    const keep = !loggingOut.current && (here.startsWith("/chats?") || here.startsWith("/profile"));
    const next = keep ? `?next=${encodeURIComponent(here)}` : "";
    router.replace(`/login${next}`);
  }, [router]);

  /** The server refused the session: forget it here and ask for a login. */
  const ended = useCallback(() => {
    forgetSession();
    forgetShownConversations();
    setState({ kind: "loading" });
    goToLogin();
  }, [goToLogin]);

  useEffect(() => {
    dropLegacyToken();
    if (!maybeSignedIn()) {
      goToLogin();
      return;
    }
    const controller = new AbortController();
    api
      .me(controller.signal, { quiet: true })
      .then((user) => {
        rememberUser(user);
        setState({ kind: "ready", user });
      })
      .catch((error: unknown) => {
        if (controller.signal.aborted) return;
        if (isApiError(error, 401)) return ended();
        // Offline: open the app as the person last signed in here; the server decides once back.
        const known = isApiError(error) && error.status > 0 ? null : lastUser<User>();
        if (known) setState({ kind: "ready", user: known });
        else setState({ kind: "error", message: describeError(error, "load") });
      });
    return () => controller.abort();
  }, [attempt, goToLogin, ended]);

  // A refused session anywhere, or a login or logout in another tab, is seen here.
  useEffect(() => {
    api.onUnauthorized(ended);
    const unsubscribe = subscribeSession((change) => {
      if (change === "signed-out") goToLogin();
      // Someone logged in in another tab: this browser's session may be another person's now.
      else setAttempt((n) => n + 1);
    });
    return () => {
      api.onUnauthorized(null);
      unsubscribe();
    };
  }, [goToLogin, ended]);

  const update = useCallback((user: User) => {
    setState((current) => (current.kind === "ready" ? { kind: "ready", user } : current));
  }, []);

  const finish = useCallback(
    async (request: () => Promise<unknown>) => {
      loggingOut.current = true;
      try {
        await request();
      } catch {
        // The session is dropped here whatever the server said.
      }
      forgetSession();
      forgetShownConversations();
      announceSession("signed-out");
      goToLogin();
    },
    [goToLogin],
  );
  const logout = useCallback(() => finish(api.logout), [finish]);
  const logoutEverywhere = useCallback(() => finish(api.logoutEverywhere), [finish]);

  const value = useMemo<SessionValue | null>(
    () => (state.kind === "ready" ? { user: state.user, update, logout, logoutEverywhere } : null),
    [state, update, logout, logoutEverywhere],
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
