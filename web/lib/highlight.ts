/**
 * Where a search query's words appear in a message, for highlighting results. Matching folds
 * case and accents ("cafe" marks "Café"), as the server's search does. The server also forgives
 * a typo, so a result may contain none of the words exactly: then nothing is marked.
 */

/** One character of `text` folded (lower case, accents dropped), with where it came from. */
interface Folded {
  folded: string;
  /** For each UTF-16 unit of `folded`, its start and end in the original text. */
  starts: number[];
  ends: number[];
}

const MARKS = /\p{Mn}/gu;

/** Folds one character or grapheme piece: decomposed, combining marks removed, lower case. */
function foldPiece(piece: string): string {
  return piece.normalize("NFKD").replace(MARKS, "").toLocaleLowerCase();
}

/** Lower case without accents, for comparing what a person typed with what was written. */
export function fold(text: string): string {
  return foldPiece(text);
}

/** The user-perceived characters of `text` (a letter with its accents is one). */
function graphemes(text: string): Iterable<string> {
  const Segmenter = (Intl as { Segmenter?: typeof Intl.Segmenter }).Segmenter;
  if (!Segmenter) return text;
  const segmenter = new Segmenter(undefined, { granularity: "grapheme" });
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

function foldWithMap(text: string): Folded {
  let folded = "";
  const starts: number[] = [];
  const ends: number[] = [];
  let index = 0;
  for (const char of graphemes(text)) {
    const end = index + char.length;
    const piece = foldPiece(char);
    for (let i = 0; i < piece.length; i++) {
      starts.push(index);
      ends.push(end);
    }
    folded += piece;
    index = end;
  }
  return { folded, starts, ends };
}

/** The query's words, folded, longest first (so "hello" wins over "he" where both match). */
export function queryWords(query: string): string[] {
  const words = fold(query)
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 0);
  return [...new Set(words)].sort((a, b) => b.length - a.length);
}

export interface Range {
  start: number;
  end: number;
}

/** The parts of `text` matching any word of `query`, in order and not overlapping. */
export function matchRanges(text: string, query: string): Range[] {
  const words = queryWords(query);
  if (!text || words.length === 0) return [];
  const { folded, starts, ends } = foldWithMap(text);
  const ranges: Range[] = [];
  for (const word of words) {
    let from = 0;
    for (;;) {
      const at = folded.indexOf(word, from);
      if (at === -1) break;
      ranges.push({ start: starts[at], end: ends[at + word.length - 1] });
      from = at + word.length;
    }
  }
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const merged: Range[] = [];
  for (const range of ranges) {
    const last = merged[merged.length - 1];
    if (last && range.start <= last.end) last.end = Math.max(last.end, range.end);
    else merged.push({ ...range });
  }
  return merged;
}

export interface Segment {
  text: string;
  match: boolean;
}

/**
 * `text` cut into plain and matching segments. Long texts are trimmed to a window around the
 * first match (`…` on the cut sides), so a result shows why it was found.
 */
export function highlightSegments(text: string, query: string, maxLength = 160): Segment[] {
  let ranges = matchRanges(text, query);
  let body = text;
  let prefix = "";
  let suffix = "";
  if (text.length > maxLength) {
    const first = ranges[0]?.start ?? 0;
    let start = Math.max(0, first - Math.floor(maxLength / 4));
    // Not in the middle of a surrogate pair.
    if (start > 0 && /[\uDC00-\uDFFF]/.test(text[start])) start -= 1;
    let end = Math.min(text.length, start + maxLength);
    if (end < text.length && /[\uDC00-\uDFFF]/.test(text[end])) end += 1;
    body = text.slice(start, end);
    prefix = start > 0 ? "…" : "";
    suffix = end < text.length ? "…" : "";
    ranges = ranges
      .filter((r) => r.end > start && r.start < end)
      .map((r) => ({ start: Math.max(r.start, start) - start, end: Math.min(r.end, end) - start }));
  }
  const segments: Segment[] = [];
  let at = 0;
  for (const range of ranges) {
    if (range.start > at) segments.push({ text: body.slice(at, range.start), match: false });
    segments.push({ text: body.slice(range.start, range.end), match: true });
    at = range.end;
  }
  if (at < body.length) segments.push({ text: body.slice(at), match: false });
  if (prefix) segments.unshift({ text: prefix, match: false });
  if (suffix) segments.push({ text: suffix, match: false });
  return segments;
}
