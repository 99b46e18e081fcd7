"use client";

import { useEffect, useState } from "react";

/** Whole seconds left until `until` (epoch ms), ticking every second; 0 when past. */
export function useCountdown(until: number): number {
  const compute = () => Math.max(0, Math.ceil((until - Date.now()) / 1000));
  const [left, setLeft] = useState(compute);
  useEffect(() => {
    setLeft(compute());
    if (until <= Date.now()) return;
    const timer = setInterval(() => {
      const next = compute();
      setLeft(next);
      if (next <= 0) clearInterval(timer);
    }, 250);
    return () => clearInterval(timer);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [until]);
  return left;
}
