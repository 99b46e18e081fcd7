"""Message search: what a query means, which messages match it, and in which order.

A query is split into words (at most :data:`MAX_WORDS`); a message matches when every word
matches it. A word matches when, case and accents aside, it occurs anywhere in the text, inside
words too ("ello" finds "hello"), or, for a word of :data:`TYPO_MIN_LENGTH` letters or more, when
a word of the text is one wrong, missing or extra letter away from it ("hallo", "helllo" find
"hello").

The database finds candidates with its trigram index (PostgreSQL: ``pg_trgm`` on
``parley_fold(text)``; SQLite: the FTS5 table ``messages_fts``, and its vocabulary for a five-letter word
whose middle letter may be wrong), newest first and at most
:data:`MAX_CANDIDATES` of them; this module checks each candidate and ranks it: messages where
every word is a whole word of the text first, then those matched inside words, then those
matched with a typo; newest first within each.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from parley.chat.errors import InvalidCursor, InvalidSearch

MAX_QUERY_LENGTH = 200
MAX_WORDS = 8
TYPO_MIN_LENGTH = 5
# How many of the newest matching messages one query looks at: the bound on its work.
MAX_CANDIDATES = 500
DEFAULT_LIMIT = 20
MAX_LIMIT = 50

_WORD = re.compile(r"\w+")


def fold(text: str) -> str:
    """``text`` in lower case without accents: what the SQLite index holds and queries compare."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def query_words(folded_query: str) -> list[str]:
    """The distinct words of a folded query, in order; :class:`InvalidSearch` when there are none."""
    words = list(dict.fromkeys(folded_query.split()))
    if not words:
        raise InvalidSearch("Type something to search for")
    if len(words) > MAX_WORDS:
        raise InvalidSearch(f"Search for at most {MAX_WORDS} words at a time")
    return words


def check_query(raw: str) -> str:
    """The query, trimmed: 1–200 characters with something visible in them."""
    query = raw.strip()
    if not query or len(query) > MAX_QUERY_LENGTH:
        raise InvalidSearch(f"A search needs 1–{MAX_QUERY_LENGTH} characters")
    if not query.isprintable():
        raise InvalidSearch("A search cannot contain control characters")
    return query


def one_edit_apart(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` differ by at most one substituted, inserted or deleted character."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


# How a word matched, best first.
WHOLE, INSIDE, TYPO = 0, 1, 2


def word_match(word: str, folded_text: str, tokens: set[str]) -> int | None:
    """How ``word`` matches the text (:data:`WHOLE`, :data:`INSIDE`, :data:`TYPO`), or None."""
    if word in tokens:
        return WHOLE
    if word in folded_text:
        return INSIDE
    if len(word) >= TYPO_MIN_LENGTH and any(one_edit_apart(word, token) for token in tokens):
        return TYPO
    return None


@dataclass(frozen=True, order=True)
class Rank:
    """A match's place in the results: fewer typos, then fewer words found only inside words, then newer."""

    typos: int
    inside: int
    newer: int  # minus the message's seq

    def cursor(self) -> str:
        raw = json.dumps([self.typos, self.inside, self.newer], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def rank(words: list[str], folded_text: str, seq: int) -> Rank | None:
    """Where a message with this folded text ranks for ``words``; None when it does not match."""
    tokens = set(_WORD.findall(folded_text))
    kinds = []
    for word in words:
        kind = word_match(word, folded_text, tokens)
        if kind is None:
            return None
        kinds.append(kind)
    return Rank(kinds.count(TYPO), kinds.count(INSIDE), -seq)


def decode_cursor(cursor: str) -> Rank:
    """The rank a cursor continues after; :class:`InvalidCursor` for anything we did not make."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw.decode())
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    if not isinstance(key, list) or len(key) != 3 or not all(type(k) is int for k in key):
        raise InvalidCursor()
    return Rank(*key)


def trigrams(word: str) -> list[str]:
    """The word's three-character pieces, in order, without repeats."""
    return list(dict.fromkeys(word[i : i + 3] for i in range(len(word) - 2)))


def _phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def needs_middle_variants(word: str) -> bool:
    """Whether a typo in ``word`` can leave it no trigram in common with what it should match.

    A typo leaves every trigram that does not touch the changed letter; only a wrong middle letter
    of a five-letter word touches all three ("hexlo" shares none with "hello"). Such a word is
    looked for as its variants with another middle letter (see :func:`fts_query`).
    """
    return len(word) == TYPO_MIN_LENGTH


def middle_variants(word: str, middles: Iterable[str]) -> list[str]:
    """``word`` with its middle letter replaced by each of ``middles`` (other than its own)."""
    mid = len(word) // 2
    return [word[:mid] + c + word[mid + 1 :] for c in dict.fromkeys(middles) if c != word[mid]]


def fts_query(words: list[str], middles: Mapping[str, Iterable[str]] | None = None) -> str | None:
    """An FTS5 (trigram) query for the candidates of ``words``; None when no word has 3 characters.

    A word of three or more characters must occur; one of five or more may instead share one of
    its trigrams with the text (any typo leaves at least one intact), or, for a five-letter word,
    be one of its variants with another middle letter: ``middles[word]``, the letters that follow
    the word's first two in the index (see :func:`needs_middle_variants`). Shorter words are
    checked with ``LIKE`` (see the store).
    """
    middles = middles or {}
    parts = []
    for word in words:
        if len(word) < 3:
            continue
        if len(word) >= TYPO_MIN_LENGTH:
            alternatives = [word, *trigrams(word), *middle_variants(word, middles.get(word, ()))]
            parts.append("(" + " OR ".join(_phrase(t) for t in alternatives) + ")")
        else:
            parts.append(_phrase(word))
    return " AND ".join(parts) if parts else None


def like_pattern(word: str) -> str:
    """``%word%`` for ``LIKE … ESCAPE '\\'``."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
