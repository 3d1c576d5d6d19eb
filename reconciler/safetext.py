"""User-controlled text made safe to show: what a terminal or a review shows is what the file says.

Stage: output (shared by every stage that prints user data: config errors, the plan renderers, reports). Pure.

:func:`escape` leaves ordinary text alone and makes visible every character that could make a terminal, a log
viewer or a pull-request comment show something other than the text:

- C0 and C1 control characters and DEL (ESC sequences, BEL, CR, LF, ``\\x9b``) become ``\\xNN``;
- characters that are invisible or reorder the text around them become ``<U+XXXX>``: Unicode format characters
  (category Cf: the bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, the marks U+200E,
  U+200F and U+061C, zero-width characters U+200B-U+200D, U+2060 and U+FEFF, the soft hyphen, the tag
  characters U+E0000-U+E007F, ...), the line and paragraph separators U+2028 and U+2029, the invisible fillers
  U+034F, U+115F, U+1160, U+17B4, U+17B5, U+3164 and U+FFA0, lone surrogates (bytes that were not UTF-8) and
  the noncharacters (U+FDD0-U+FDEF and the last two code points of every plane, such as U+FFFE).

Backslashes are left as they are, so escaping twice changes nothing (a name that really contains the four
characters ``\\x1b`` looks like an escaped ESC; it cannot do anything either way).
"""

from __future__ import annotations

import re

__all__ = ["UNSAFE", "escape", "escape_json", "quoted", "shorten"]

_CONTROL = "\x00-\x1f\x7f-\x9f"
# Unicode 15's format characters (Cf), listed so that the module needs no table at import time;
# tests/unit/test_safetext.py checks that every Cf character of the running Python's Unicode is included.
_FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_SEPARATORS = "\u2028\u2029"
_FILLERS = "\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0"
_SURROGATES = "\ud800-\udfff"
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
UNSAFE = re.compile(f"[{_CONTROL}{_FORMAT}{_SEPARATORS}{_FILLERS}{_SURROGATES}{_NONCHARACTERS}]")
"""Every character :func:`escape` replaces."""
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_FORMAT}{_SEPARATORS}{_FILLERS}{_SURROGATES}{_NONCHARACTERS}]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0x9F else f"<U+{code:04X}>"


def escape(text: str) -> str:
    """``text`` with every control, invisible or reordering character made visible (see the module docstring)."""
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(_visible, text)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``...`` when it was cut."""
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


_HEX_RUN = re.compile(r"[0-9A-Fa-f]{32,}")


def quoted(value: str, limit: int = 60) -> str:
    """A value read from a file, for an error message: a run of 32 or more hex digits (a key, a token) hidden,
    cut to ``limit`` characters, escaped (:func:`escape`), in single quotes (double quotes when it holds a single
    quote and no double quote, as Python writes it)."""
    hidden = _HEX_RUN.sub(lambda m: f"<{len(m.group())} hex digits>", value) if len(value) >= 32 else value
    text = escape(shorten(hidden, limit))
    if "'" in text and '"' not in text:
        return f'"{text}"'
    return "'" + text.replace("'", "\\'") + "'"


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code > 0xFFFF:  # JSON spells a character beyond the BMP as a surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def escape_json(document: str) -> str:
    """A JSON text (``json.dumps(..., ensure_ascii=False)``, which escapes C0 itself) with every other character
    :func:`escape` would mark written as a ``\\uXXXX`` escape: the data is unchanged for a program, and a terminal
    shows the document as it is."""
    return _JSON_UNSAFE.sub(_json_escape, document)
