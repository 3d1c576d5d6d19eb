"""safetext.escape: every user string shown by reconciler looks like what the file says (issue 14)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from reconciler.render.text import escape_control
from reconciler.safetext import UNSAFE, escape, quoted, shorten


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b]0;PWNED\x07RED", "\\x1b]0;PWNED\\x07RED"),  # an OSC title sequence
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("a\x9bb", "a\\x9bb"),  # C1 CSI
        ("line\nforged", "line\\x0aforged"),
        ("\x7f", "\\x7f"),
        ("abc\u202edcba", "abc<U+202E>dcba"),  # right-to-left override
        ("\u2066x\u2069", "<U+2066>x<U+2069>"),  # isolates
        ("\u200e\u200f\u061c", "<U+200E><U+200F><U+061C>"),  # marks
        ("ad\u200bmin\u200d\ufeff", "ad<U+200B>min<U+200D><U+FEFF>"),  # zero-width
        ("a\u2028b\u2029c", "a<U+2028>b<U+2029>c"),  # line and paragraph separators
        ("tag\U000e0041", "tag<U+E0041>"),  # an invisible tag character
        ("\udcff", "<U+DCFF>"),  # a byte that was not UTF-8 (surrogateescape)
        ("\ufffe", "<U+FFFE>"),  # a noncharacter
        ("\u3164", "<U+3164>"),  # the Hangul filler, blank
    ],
)
def test_escape_makes_control_and_invisible_characters_visible(text: str, shown: str) -> None:
    assert escape(text) == shown
    assert UNSAFE.search(escape(text)) is None


@pytest.mark.parametrize("text", ["Alice", "José Müller", "Ωmega 山田 ✓ 😀", "back\\slash", "tab-free"])
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert escape(text) == text


def test_escaping_twice_changes_nothing() -> None:
    once = escape("\x1b\u202e\x00")
    assert escape(once) == once


def test_every_control_format_and_separator_character_is_escaped() -> None:
    """UNSAFE lists the format characters by hand (no table at start-up): it must cover the running Python's."""
    categories = {"Cc", "Cf", "Cs", "Zl", "Zp"}
    missing = [
        f"U+{cp:04X}"
        for cp in range(sys.maxunicode + 1)
        if unicodedata.category(chr(cp)) in categories and not UNSAFE.match(chr(cp))
    ]
    assert missing == []


def test_render_escape_control_delegates() -> None:
    """The plan renderers' escape_control is the same function (a superset of its C0/C1 escaping)."""
    assert escape_control("a\x1bb\u202ec") == "a\\x1bb<U+202E>c"


def test_quoted_hides_long_hex_runs_and_shortens() -> None:
    key = "5e" * 32
    assert quoted(key) == "'<64 hex digits>'"
    assert quoted(f"token={key}!") == "'token=<64 hex digits>!'"
    assert quoted("deadbeef") == "'deadbeef'"  # short hex is a value like any other
    assert quoted("x" * 100, 10) == "'xxxxxxx...'"
    assert quoted("\x1b[31m") == "'\\x1b[31m'"


def test_shorten() -> None:
    assert shorten("abcdef", 6) == "abcdef"
    assert shorten("abcdefg", 6) == "abc..."
