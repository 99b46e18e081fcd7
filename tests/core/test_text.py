"""The one set of rules for text people type (``parley.core.text``): names and message text."""

from __future__ import annotations

import pytest

from parley.core.text import TextRefused, clean_name, clean_text, valid_unicode

SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Alice  ", "Alice"),
        ("Zoe\u0308", "Zoë"),  # NFC
        ("👩\u200d💻 Devs", "👩\u200d💻 Devs"),  # a zero-width joiner inside an emoji sequence
        ("❤️\u200d🔥", "❤️\u200d🔥"),  # after a variation selector
        ("👨🏽\u200d🦰", "👨🏽\u200d🦰"),  # after a skin tone
        ("🏳️\u200d🌈 pride", "🏳️\u200d🌈 pride"),
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian needs the zero-width non-joiner
        (f"{SCOTLAND} fans", f"{SCOTLAND} fans"),  # a subdivision flag is spelled in tag characters
        (f"Go {SCOTLAND}", f"Go {SCOTLAND}"),  # its closing tag is not trimmed away
        ("\u200bBob\ufeff", "Bob"),  # invisible characters at either end are trimmed
        ("\u202eAdmin\u202c", "Admin"),  # an override at the edge overrides nothing once trimmed
        ("שלום", "שלום"),
        ("1️⃣", "1️⃣"),
    ],
)
def test_names_people_really_have_are_kept(raw: str, expected: str) -> None:
    assert clean_name(raw, max_length=50) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("evil\u202egpj.exe", "invisible"),  # right-to-left override: reads as "evilexe.jpg"
        ("x\u2066admin\u2069y", "invisible"),  # isolates
        ("a\u200eb", "invisible"),  # left-to-right mark
        ("a\u200fb", "invisible"),
        ("a\u061cb", "invisible"),  # Arabic letter mark
        ("ad\u200bmin", "invisible"),  # zero-width space
        ("ad\u200dmin", "invisible"),  # a joiner between letters joins nothing
        ("ad\u200c!", "invisible"),  # a non-joiner next to punctuation
        ("ad\u2060min", "invisible"),  # word joiner
        ("ad\u00admin", "invisible"),  # soft hyphen
        ("ad\ufeffmin", "invisible"),
        ("a\U000e0067b", "invisible"),  # tag characters outside a flag
        ("\U0001f3f4\U000e0067\U000e0062 x", "invisible"),  # a flag without its closing tag
        ("a\ud800b", "not valid Unicode"),  # lone surrogate
        ("\udfff", "not valid Unicode"),
        ("a\tb", "control"),
        ("a\u2028b", "control"),
        ("a\ue000b", "control"),  # private use
        ("", "enter"),
        ("\u200b\u200d", "enter"),
        ("\u0301", "visible"),
        ("x" * 51, "at most 50"),
    ],
)
def test_names_with_hidden_or_invalid_characters_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(TextRefused) as caught:
        clean_name(raw, max_length=50)
    assert reason in str(caught.value)


def test_messages_keep_right_to_left_text_but_not_lone_surrogates() -> None:
    assert clean_text(" \u202bשלום\u202c\n", max_length=100) == "\u202bשלום\u202c"
    with pytest.raises(TextRefused):
        clean_text("hi \ud83d", max_length=100)
    with pytest.raises(TextRefused):
        clean_text("x" * 101, max_length=100)


def test_valid_unicode() -> None:
    assert valid_unicode("😀 ok") == "😀 ok"
    with pytest.raises(TextRefused):
        valid_unicode("\ud83d\ude00")  # a surrogate pair in a str is two lone surrogates
