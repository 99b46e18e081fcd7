/** Splits text into plain parts and web links, so links can be rendered clickable. */
export type TextPart =
  { kind: "text"; value: string } | { kind: "link"; value: string; href: string };

const URL_RE = /\b(https?:\/\/[^\s<>"']+|www\.[^\s<>"']+)/gi;
const TRAILING = /[.,!?;:)\]}'"]+$/;

export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const start = match.index ?? 0;
    let url = match[0];
    const trailing = url.match(TRAILING)?.[0] ?? "";
    // Keep a closing bracket that belongs to the URL, e.g. wiki links with (…).
    if (trailing && !(trailing.startsWith(")") && url.includes("(")))
      url = url.slice(0, url.length - trailing.length);
    if (start > last) parts.push({ kind: "text", value: text.slice(last, start) });
    parts.push({ kind: "link", value: url, href: url.startsWith("http") ? url : `https://${url}` });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ kind: "text", value: text.slice(last) });
  return parts;
}
