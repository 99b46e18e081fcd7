/** The app's frame while the session loads: same boxes as the real shell, so nothing jumps. */
export function AppShellSkeleton() {
  return (
    <div
      className="flex h-dvh w-full overflow-hidden bg-bg"
      aria-busy="true"
      aria-label="Loading Parley"
    >
      <aside className="flex w-full flex-col border-r border-border bg-surface md:w-[22rem] md:shrink-0">
        <div className="flex h-16 items-center gap-3 border-b border-border px-4">
          <div className="h-10 w-10 animate-pulse rounded-full bg-surface-2" />
          <div className="h-4 w-28 animate-pulse rounded bg-surface-2" />
        </div>
        <div className="p-3">
          <div className="h-10 animate-pulse rounded-lg bg-surface-2" />
        </div>
        <ul className="flex-1 space-y-1 px-2">
          {Array.from({ length: 6 }, (_, i) => (
            <li key={i} className="flex items-center gap-3 rounded-xl px-2 py-2.5">
              <div className="h-12 w-12 animate-pulse rounded-full bg-surface-2" />
              <div className="flex-1 space-y-2">
                <div className="h-3.5 w-1/2 animate-pulse rounded bg-surface-2" />
                <div className="h-3 w-3/4 animate-pulse rounded bg-surface-2" />
              </div>
            </li>
          ))}
        </ul>
      </aside>
      <main className="hidden flex-1 bg-conversation md:block" />
    </div>
  );
}
