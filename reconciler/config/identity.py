"""Who a user is, and names that must not pass for others: the email and look-alike rules (docs/security.md,
"Identity of users").

Stage: config. Pure. One validation for every email the configuration holds (YAML users, ``protected_users``,
CSV rows): :func:`email_problem` says why an address is refused, :func:`normalise_email` gives the form that
is stored and compared.

**One plain address.** ``local@domain`` and nothing else: no list (``a@x.com,b``), no display name, comment or
quoted local part, no ``%`` or ``!`` routing (``x@acme.com%evil.example``, ``host!x@acme.com``), no RFC 2047
encoded word (``=?utf-8?q?...?=``). The local part is a dot-atom (no leading, trailing or doubled dot) of
letters, digits, marks and ``# $ & ' * + - / = ? ^ _ ` { | } ~``; the domain is two or more labels of letters,
digits and inner hyphens, ending in a top-level domain of two or more letters (or ``xn--...``). This is what
ToolJet accepts (class-validator's ``IsEmail``), minus the routing and encoding forms a mail server could act
on. Lengths are checked on the stored form: local part at most 64 bytes, domain at most 253, address at most
320 characters (the database column).

**One spelling per person.** Stored and compared: Unicode NFC, lower-case (``José@ACME.com`` and its NFD
spelling are one user, ``josé@acme.com``). Refused, so that no two different-looking strings are one user and
no address passes for another:

- a character whose compatibility form or case folding holds ASCII, such as the Kelvin sign U+212A (``K``),
  fullwidth ``ａ`` or the ligature ``ﬁ``, and a character whose case folding differs from its lower case
  (``ß``, final sigma ``ς``): lower-casing and case folding then agree for every accepted address;
- invisible characters (format characters such as U+200B, bidi controls) and white space;
- a local part, or a domain label, whose letters mix scripts (``аdmin`` with a Cyrillic ``а``); Chinese,
  Japanese and Korean scripts count as one, and may be mixed with Latin letters;
- a local part or domain label that is not ASCII but looks exactly like an ASCII one through
  :data:`CONFUSABLES` (``аррӏе`` in Cyrillic letters, ``admın`` with a dotless i).

:func:`role_skeleton` is the look-alike test for custom group names against the role names.
"""

from __future__ import annotations

import re
import unicodedata

from ..safetext import UNSAFE, quoted

__all__ = [
    "CONFUSABLES",
    "MAX_EMAIL_CHARS",
    "email_problem",
    "normalise_email",
    "role_skeleton",
    "shown",
    "skeleton",
]

MAX_EMAIL_CHARS = 320
MAX_LOCAL_BYTES = 64
MAX_DOMAIN_BYTES = 253

# Non-ASCII letters that look like ASCII ones, after NFKC and case folding (so lower case only). A small table
# of the common ones (Unicode's confusables.txt has thousands): Cyrillic, Greek, Armenian and Latin look-alikes.
CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "а": "a", "с": "c", "ԁ": "d", "е": "e", "һ": "h", "і": "i", "ј": "j", "ӏ": "l", "о": "o", "р": "p",
    "ԛ": "q", "ѕ": "s", "у": "y", "х": "x", "ԝ": "w", "ь": "b",
    # Greek
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "ϲ": "c", "ϳ": "j",
    # Armenian
    "հ": "h", "ո": "n", "ս": "u", "օ": "o",
    # Latin look-alikes
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ʟ": "l",
}  # fmt: skip
_CONFUSABLE_TABLE = str.maketrans(CONFUSABLES)
_EAST_ASIAN = frozenset({"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "BOPOMOFO", "IDEOGRAPHIC"})
_LOCAL_SPECIALS = frozenset("#$&'*+-/=?^_`{|}~")
_SEPARATORS = re.compile(r"[\s_\-\u2010-\u2015\u2212\ufe58\ufe63\uff0d]+")


def normalise_email(value: str) -> str:
    """The stored and compared form of an accepted address: NFC, lower-case (see the module docstring)."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", value).lower())


def email_problem(value: str) -> str | None:
    """Why ``value`` is not accepted as an email address (a whole message), or None."""
    reason = _reason(value)
    return None if reason is None else f"{shown(value, 80)} is not a valid email address ({reason})"


def shown(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message (safetext.quoted), with every character that passes for an ASCII one
    written ``<U+XXXX>``: the message must show which ``K`` is not a K."""
    if not value.isascii():
        value = "".join(f"<U+{ord(ch):04X}>" if _passes_for_ascii(ch) else ch for ch in value[: 4 * limit])
    return quoted(value, limit)


def _passes_for_ascii(ch: str) -> bool:
    if ch.isascii():
        return False
    folded = ch.casefold()
    return ch in CONFUSABLES or folded in CONFUSABLES or _ascii_form(ch) is not None


def _ascii_form(ch: str) -> str | None:
    """The first ASCII character of the compatibility form or the case folding of ``ch`` (``K`` for U+212A)."""
    return next((c for c in unicodedata.normalize("NFKC", ch) + ch.casefold() if c.isascii()), None)


# The common case, checked in one match: a plain ASCII address that every rule below accepts (tested to agree with
# them). Anything else goes through the rules, which say what is wrong.
_ATOM = r"[A-Za-z0-9#$&'*+\-/=?^_`{|}~]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_ASCII = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+(?:[A-Za-z]{{2,63}}|[Xx][Nn]--[A-Za-z0-9-]{{0,58}}[A-Za-z0-9]))"
)


def _plain_ascii(value: str) -> bool:
    match = _PLAIN_ASCII.fullmatch(value) if value.isascii() and len(value) <= MAX_EMAIL_CHARS else None
    return (
        match is not None
        and "=?" not in value
        and len(match["local"]) <= MAX_LOCAL_BYTES
        and len(match["domain"]) <= MAX_DOMAIN_BYTES
    )


def _reason(value: str) -> str | None:
    if _plain_ascii(value):
        return None
    return _rules(value)


def _rules(value: str) -> str | None:
    if len(value) > 4 * MAX_EMAIL_CHARS:  # no normalisation can bring it back under the limit
        return f"it is longer than {MAX_EMAIL_CHARS} characters"
    disguised = _characters(value)  # before NFC, which turns the Kelvin sign into a plain K
    if disguised is not None:
        return disguised
    text = unicodedata.normalize("NFC", value)
    for check in (_plain, _characters, _shape, _scripts):
        reason = check(text)
        if reason is not None:
            return reason
    stored = normalise_email(text)
    local, domain = stored.split("@")
    if len(local.encode()) > MAX_LOCAL_BYTES:
        return f"the part before the '@' is longer than {MAX_LOCAL_BYTES} bytes"
    if len(domain.encode()) > MAX_DOMAIN_BYTES:
        return f"the domain is longer than {MAX_DOMAIN_BYTES} bytes"
    if len(stored) > MAX_EMAIL_CHARS:
        return f"it is longer than {MAX_EMAIL_CHARS} characters once lower-cased"
    if unicodedata.normalize("NFC", stored.casefold()) != stored:  # ΣΑΣ lower-cases to σας, with a final sigma
        return "its lower case and its case folding differ (a final sigma, ß, ...)"
    return None


def _plain(text: str) -> str | None:
    """One address, nothing around it."""
    for ch in text:
        if ch.isspace() or UNSAFE.match(ch):
            return f"it contains {_name(ch)}; write one plain address, local@domain"
        if ch in ',;<>()[]:"\\':
            return f"it contains {ch!r}; write one plain address, local@domain"
    if "%" in text or "!" in text:
        return "'%' and '!' route mail through another host; write one plain address, local@domain"
    if "=?" in text:
        return "it looks like an encoded word (=?charset?...?=); write the address itself"
    if text.count("@") != 1:
        return "it must contain exactly one '@'"
    return None


def _characters(text: str) -> str | None:
    """No character that is another one in disguise."""
    for ch in text:
        if ch.isascii():
            continue
        folded = ch.casefold()
        ascii_form = _ascii_form(ch)
        if ascii_form is not None:
            return f"it contains {_name(ch)}, which stands for the ASCII {ascii_form!r}; type the plain letter"
        if folded != ch.lower():
            return f"it contains {_name(ch)}, whose case folding ({folded!r}) differs from its lower case"
    return None


def _shape(text: str) -> str | None:
    local, domain = text.split("@")
    if not local:
        return "nothing before the '@'"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "the part before the '@' may not start or end with a dot, or hold two dots in a row"
    bad = next((ch for ch in local if ch != "." and ch not in _LOCAL_SPECIALS and not _word_char(ch)), None)
    if bad is not None:
        return f"{bad!r} is not allowed before the '@'"
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        return "the domain must look like 'example.com'"
    for label in labels:
        if len(label) > 63:
            return "a part of the domain is longer than 63 characters"
        if label.startswith("-") or label.endswith("-") or not all(ch == "-" or _word_char(ch) for ch in label):
            return f"the domain part {quoted(label, 40)} may hold only letters, digits and inner hyphens"
    tld = labels[-1]
    if not (tld.lower().startswith("xn--") or (len(tld) >= 2 and all(ch.isalpha() for ch in tld))):
        return "the domain must end in a top-level domain of two or more letters, such as .com"
    return None


def _word_char(ch: str) -> bool:
    """A letter, digit or combining mark (of any script)."""
    return unicodedata.category(ch)[0] in "LMN"


def _scripts(text: str) -> str | None:
    """Each part is written in one script and does not pass for an ASCII one."""
    local, domain = text.split("@")
    for part, what in [(local, "the part before the '@'"), *((label, "the domain") for label in domain.split("."))]:
        if part.isascii():
            continue
        scripts = sorted({s for s in map(_script, part) if s is not None})
        if len(scripts) > 1 and scripts != ["CJK", "LATIN"]:  # Latin with Chinese, Japanese or Korean is usual
            names = " and ".join(s.title() for s in scripts)
            return f"{what} mixes letters of different scripts ({names}), which can pass for another address"
        look_alike = skeleton(part)
        if look_alike.isascii():
            return f"{what} {shown(part, 40)} looks like the ASCII {look_alike!r}"
    return None


def _script(ch: str) -> str | None:
    """The script of a letter, from its Unicode name (``CYRILLIC SMALL LETTER A``); None for other characters."""
    if ch.isascii():
        return "LATIN" if ch.isalpha() else None
    if not unicodedata.category(ch).startswith("L"):
        return None
    word = unicodedata.name(ch, "UNKNOWN").split(" ")[0]
    return "CJK" if word in _EAST_ASIAN else word


def skeleton(text: str) -> str:
    """What ``text`` looks like: NFKC, case-folded, invisible characters dropped, look-alikes (CONFUSABLES)
    replaced by the ASCII letters they pass for. Two strings with the same skeleton can be mistaken for each
    other."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return UNSAFE.sub("", folded).translate(_CONFUSABLE_TABLE)


def role_skeleton(name: str) -> str:
    """The skeleton of a group name compared with the role names: also without accents and combining marks,
    and with every run of spaces, underscores and dashes read as one '-' (``End_User``, ``àdmin``, ``аdmin``)."""
    decomposed = unicodedata.normalize("NFD", skeleton(name))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SEPARATORS.sub("-", bare).strip("-")


def _name(ch: str) -> str:
    code = f"U+{ord(ch):04X}"
    name = unicodedata.name(ch, "")
    return f"{code} ({name})" if name else code
