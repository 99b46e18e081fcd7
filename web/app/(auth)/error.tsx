"use client";

import { ErrorScreen } from "@/components/error-screen";

/** A rendering failure in this route group: said plainly, with a way back. */
export default function GroupError({
  error,
  reset,
}: {
  error: Error & { digest?: string };
  reset: () => void;
}) {
  return <ErrorScreen error={error} reset={reset} fullHeight={false} />;
}
