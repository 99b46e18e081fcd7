"""Checking the text people type: names (display names, group names) and free text (messages).

One set of rules for every service, so a name that is refused in one place is refused everywhere:

* Text must be valid Unicode: a lone surrogate (which JSON's ``\\ud800`` escapes can produce) can be
  neither stored nor sent on, so it is refused, never a 500.
* Names are NFC-normalised and trimmed (of spaces and of invisible characters at either end), hold
  no control characters, line or paragraph separators,
  private-use or unassigned code points, and no invisible formatting characters: bidirectional
  overrides, embeddings and isolates (which make "evil‮gpj.exe" read as "evilexe.jpg"), zero-width
  spaces, joiners and marks, soft hyphens, word joiners, byte-order marks. The exceptions are the
  ones real names need: a zero-width joiner inside an emoji sequence (👩‍💻), a zero-width non-joiner
  between letters (Persian, Indic scripts), and the tag characters of flag sequences (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
* Names need something visible and are counted in code points after normalisation.

The functions raise :class:`TextRefused` (a ``ValueError``) with a message for people; each service
turns it into its own typed error.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

ZWNJ: Final = "\u200c"
ZWJ: Final = "\u200d"
_BLACK_FLAG: Final = "\U0001f3f4"
_TAG_SPECS: Final = range(0xE0020, 0xE007F)
_CANCEL_TAG: Final = "\U000e007f"
# Anywhere in a name: controls, line and paragraph separators, surrogates, private use, unassigned.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
# Characters that show something of their own: letters, numbers, punctuation, symbols.
_VISIBLE_CATEGORIES: Final = frozenset("LNPS")
# Control characters other than tab and line breaks: invisible, and NUL is refused by PostgreSQL.
_TEXT_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE: Final = re.compile(r"[\ud800-\udfff]")


class TextRefused(ValueError):
    """Text a person typed that cannot be accepted; ``str(error)`` says why, for that person."""


def valid_unicode(text: str) -> str:
    """``text`` unchanged; :class:`TextRefused` when it holds a lone surrogate."""
    if _SURROGATE.search(text):
        raise TextRefused("The text contains characters that are not valid Unicode")
    return text


def clean_text(text: str, *, max_length: int, what: str = "Messages") -> str:
    """Free text (a message): valid Unicode, without control characters or surrounding whitespace.

    Tabs and line breaks stay; so do right-to-left text and its marks, which messages legitimately use.
    """
    cleaned = _TEXT_CONTROLS.sub("", valid_unicode(text)).strip()
    if len(cleaned) > max_length:
        raise TextRefused(f"{what} can be at most {max_length} characters")
    return cleaned


def clean_name(raw: str, *, max_length: int, what: str = "a name") -> str:
    """A name: NFC, trimmed, 1–``max_length`` code points, something visible, nothing hidden.

    ``what`` names the thing in the messages ("a name", "a group name").
    """
    name = _trim(unicodedata.normalize("NFC", valid_unicode(raw)))
    if not name:
        raise TextRefused(f"Please enter {what}")
    subject = what[:1].upper() + what[1:]
    for index, char in enumerate(name):
        category = unicodedata.category(char)
        if category in _FORBIDDEN_CATEGORIES:
            raise TextRefused(f"{subject} cannot contain control characters or line breaks")
        if category == "Cf" and not _allowed_format_character(name, index):
            raise TextRefused(f"{subject} cannot contain invisible formatting characters")
    if not any(unicodedata.category(char)[0] in _VISIBLE_CATEGORIES for char in name):
        raise TextRefused(f"{subject} needs at least one visible character")
    if len(name) > max_length:
        raise TextRefused(f"{subject} is at most {max_length} characters")
    return name


def _trim(text: str) -> str:
    """``text`` without spaces or invisible characters at either end (a flag's closing tag stays)."""
    start, end = 0, len(text)
    while start < end and _trimmable(text[start]):
        start += 1
    while end > start and _trimmable(text[end - 1]):
        end -= 1
    return text[start:end]


def _trimmable(char: str) -> bool:
    if char.isspace():
        return True
    return unicodedata.category(char) == "Cf" and ord(char) not in _TAG_SPECS and char != _CANCEL_TAG


def _allowed_format_character(text: str, index: int) -> bool:
    """Whether the format character at ``index`` is one a real name needs where it stands."""
    char = text[index]
    before = text[index - 1] if index > 0 else ""
    after = text[index + 1] if index + 1 < len(text) else ""
    if char == ZWJ:
        return _ends_emoji(text, index) and _is_emoji(after)
    if char == ZWNJ:
        return _is_letter_or_mark(before) and _is_letter_or_mark(after)
    if ord(char) in _TAG_SPECS or char == _CANCEL_TAG:
        return _in_flag_tag_sequence(text, index)
    return False


def _is_emoji(char: str) -> bool:
    """A pictographic symbol (the emoji of ZWJ sequences are ``So``; keycap digits never join)."""
    return bool(char) and unicodedata.category(char) == "So"


def _ends_emoji(text: str, index: int) -> bool:
    """Whether an emoji (maybe with a variation selector or skin tone) ends just before ``index``."""
    position = index - 1
    while position >= 0 and _is_emoji_modifier(text[position]):
        position -= 1
    return position >= 0 and _is_emoji(text[position])


def _is_emoji_modifier(char: str) -> bool:
    # U+FE0F (emoji presentation) is a mark; the skin tones U+1F3FB–U+1F3FF are symbols (Sk).
    return char == "\ufe0f" or 0x1F3FB <= ord(char) <= 0x1F3FF


def _is_letter_or_mark(char: str) -> bool:
    return bool(char) and unicodedata.category(char)[0] in "LM"


def _in_flag_tag_sequence(text: str, index: int) -> bool:
    """Tag characters only spell a subdivision flag: 🏴, tag letters, then the cancel tag."""
    end = index if text[index] == _CANCEL_TAG else index + 1
    while end < len(text) and ord(text[end]) in _TAG_SPECS:
        end += 1
    start = min(index, end) - 1
    while start >= 0 and ord(text[start]) in _TAG_SPECS:
        start -= 1
    return (
        start >= 0
        and text[start] == _BLACK_FLAG
        and start + 1 < end
        and end < len(text)
        and text[end] == _CANCEL_TAG
    )
