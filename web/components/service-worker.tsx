"use client";

import { useEffect } from "react";

/** Registers the service worker that keeps the app shell available offline (built app only). */
export function ServiceWorker() {
  useEffect(() => {
    if (process.env.NODE_ENV !== "production" || !("serviceWorker" in navigator)) return;
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
      // Without it the app still works online; only offline reloads are lost.
    });
  }, []);
  return null;
}
