"use client";

import { useEffect, useState } from "react";
import { useRealtime } from "@/components/providers/realtime-provider";
import { Spinner } from "@/components/ui/spinner";
import { WifiOffIcon } from "@/components/ui/icons";

/**
 * Says when live updates are not flowing. It floats over the page (no layout
 * shift) and waits a moment before showing, so a quick reconnect stays quiet.
 */
export function OfflineBanner() {
  const { state } = useRealtime();
  const [show, setShow] = useState(false);

  useEffect(() => {
    if (state === "connected") {
      setShow(false);
      return;
    }
    if (state === "offline") {
      setShow(true);
      return;
    }
    const timer = setTimeout(() => setShow(true), state === "connecting" ? 4000 : 1500);
    return () => clearTimeout(timer);
  }, [state]);

  if (!show) return null;
  const offline = state === "offline";
  return (
    <div className="pointer-events-none fixed inset-x-0 top-2 z-50 flex justify-center px-3">
      <div
        role="status"
        data-testid="offline-banner"
        data-state={state}
        className="pointer-events-auto flex items-center gap-2 rounded-full bg-warning-bg px-4 py-2 text-sm font-medium text-warning-fg shadow-lg"
      >
        {offline ? <WifiOffIcon size={16} /> : <Spinner size={16} />}
        {offline
          ? "You're offline. You can read what is loaded; messages you write go out when you're back."
          : "Reconnecting… Messages you write go out once connected."}
      </div>
    </div>
  );
}
