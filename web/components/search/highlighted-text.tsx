import { highlightSegments } from "@/lib/highlight";

/** A message's text with the query's words marked (accents and case aside). */
export function HighlightedText({ text, query }: { text: string; query: string }) {
  const segments = highlightSegments(text, query);
  return (
    <>
      {segments.map((segment, i) =>
        segment.match ? (
          <mark
            key={i}
            data-testid="search-match"
            className="rounded-sm bg-accent-soft px-0.5 font-semibold text-fg"
          >
            {segment.text}
          </mark>
        ) : (
          <span key={i}>{segment.text}</span>
        ),
      )}
    </>
  );
}
