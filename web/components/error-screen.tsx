"use client";

import { useEffect } from "react";
import { Button } from "@/components/ui/button";

/**
 * What a route group shows when rendering it threw (a bug, not a refused request): the page
 * stays, with a way to try again or to reload. The error is logged for whoever debugs it.
 */
export function ErrorScreen({
  error,
  reset,
  fullHeight = true,
}: {
  error: Error & { digest?: string };
  reset: () => void;
  fullHeight?: boolean;
}) {
  useEffect(() => {
    console.error(error);
  }, [error]);
  return (
    <div
      role="alert"
      data-testid="error-boundary"
      className={
        fullHeight
          ? "flex min-h-dvh flex-col items-center justify-center gap-3 p-6 text-center"
          : "flex flex-col items-center gap-3 text-center"
      }
    >
      <h1 className="text-xl font-semibold">Something went wrong</h1>
      <p className="max-w-sm text-sm text-muted">
        This part of Parley stopped working. Try again; if it keeps happening, reload the page.
      </p>
      <div className="flex gap-2">
        <Button variant="secondary" onClick={() => window.location.reload()}>
          Reload the page
        </Button>
        <Button onClick={reset}>Try again</Button>
      </div>
    </div>
  );
}
