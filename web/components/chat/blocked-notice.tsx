"use client";

import { useState } from "react";
import { Button } from "@/components/ui/button";

/**
 * In place of the composer of a blocked 1:1 chat: who blocked whom, and the way out (unblock
 * when it was the caller; check again otherwise, since nobody is told when they are unblocked).
 */
export function BlockedNotice({
  name,
  blocking,
  onUnblock,
  onCheckAgain,
}: {
  name: string;
  blocking: boolean;
  onUnblock: () => void;
  onCheckAgain: () => Promise<void>;
}) {
  const [checking, setChecking] = useState(false);
  return (
    <div
      role="status"
      data-testid="blocked-notice"
      data-blocking={blocking}
      className="shrink-0 border-t border-border bg-surface px-4 py-3 text-center text-sm"
    >
      {blocking ? (
        <>
          <p className="font-medium">You blocked {name}.</p>
          <p className="text-muted">
            Neither of you can send messages in this chat until you unblock them.
          </p>
          <Button
            variant="secondary"
            className="mt-2"
            onClick={onUnblock}
            data-testid="blocked-notice-unblock"
          >
            Unblock
          </Button>
        </>
      ) : (
        <>
          <p className="font-medium">You can&apos;t send messages to {name}.</p>
          <p className="text-muted">You can still read what was said in this chat.</p>
          <Button
            variant="secondary"
            className="mt-2"
            loading={checking}
            onClick={async () => {
              setChecking(true);
              try {
                await onCheckAgain();
              } finally {
                setChecking(false);
              }
            }}
            data-testid="blocked-notice-check"
          >
            Check again
          </Button>
        </>
      )}
    </div>
  );
}
