"""Bulk-invite CSV files (SPEC section 7) read into user entries shaped like the YAML ones.

Accepted headers (case-insensitive, any order, surrounding whitespace ignored):

* ToolJet's upload format: ``First Name,Last Name,Email,User Role,Group,Metadata``
* the documented format: ``Full Name,Email,Role,Groups,Metadata`` (the full name is split at the first
  space; the last name is empty when there is none)

``Email``, a role column (``Role``/``User Role``) and a name column (``Full Name`` or ``First Name``) are
required; ``Last Name``, ``Groups``/``Group``, ``Metadata`` and ``Expires`` are optional.

Decisions where SPEC is silent (also described in docs/):

* Rows are numbered as a spreadsheet numbers them: the header is row 1, and a quoted cell spanning several
  lines is still one row. Errors print as ``people.csv:4:3: row 4, column 'Role': ...``, i.e. the "line" of
  the location is the row number and the "column" the 1-based column index.
* A blank row (no cell or only empty cells) is skipped. Cells beyond the header, and columns with an empty
  header cell, are tolerated only while they are empty (spreadsheets sometimes export trailing commas); a
  value in them is an error.
* ``groups`` is always present in an entry; an empty Groups cell (or no Groups column) gives ``[]``, which
  means "no custom groups" exactly like a YAML entry without ``groups:``.
* ``metadata`` is present only when the Metadata cell is non-empty: an empty cell means absent (the tool
  leaves that membership's metadata alone). Use ``{}`` in the cell to mean "no metadata".
  CSV metadata values are plain strings; secret references (``{env: ...}``) are YAML-only.
* ``Expires`` (issue 18) holds the YAML ``expires`` value of the membership (a date, or a timestamp with zone),
  validated by the same model; an empty cell means the membership does not expire.
* A first name is required (ToolJet refuses rows without a name); the last name may be empty.
* The Python-style single-quoted metadata form from ToolJet's docs is parsed with :func:`ast.parse` and
  accepted only when the expression is a dict display of string literals; nothing is ever evaluated.
* Emails are checked and normalised by the YAML's own rules (``identity.py``: one plain address, NFC,
  lower-case, no look-alikes), so a CSV row cannot spell a YAML user differently.
* The file is read by the rules of ``files.py`` (a regular file, at most 16 MB, no key file). A first row that
  names no known column is not a header (``/etc/passwd``, an environment dump): no row is read and nothing of
  it is quoted. Other errors quote at most the offending cell, shortened.
"""

from __future__ import annotations

import ast
import csv
import difflib
import io
import json
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Location, Problem
from ..safetext import quoted
from .files import FileRefused, read_regular_file
from .identity import email_problem, normalise_email

__all__ = ["CSV_TEMPLATE", "CsvUserEntry", "load_users_csv", "neutralise_cell", "parse_users_csv", "read_users_csv"]

CSV_TEMPLATE = (
    "Full Name,Email,Role,Groups,Metadata\n"
    "William Cushing,william.cushing@altostrat.com,Admin,,\"{'key1': 'value1', 'key2': 'value2'}\"\n"
)
"""What ``reconciler csv template`` prints: the documented header and ToolJet's example row."""

MAX_NAME_CHARS = 255
MAX_GROUP_NAME_CHARS = 50
MAX_METADATA_VALUE_CHARS = 2_000
MAX_METADATA_TOTAL_CHARS = 200_000
MAX_METADATA_CELL_CHARS = 200_000
MAX_PROBLEMS = 1_000
"""Problems reported per file; further ones are summarised in one last problem."""

_FIELD_SIZE_LIMIT = 1_000_000
"""csv's default per-cell limit (131,072) is below what a legitimate Metadata cell can hold."""

_ROLE_VALUES = {"admin": "admin", "builder": "builder", "end user": "end-user", "enduser": "end-user"}
_ROLE_DISPLAY = "Admin, Builder, End User"

# normalised header -> field
_HEADERS = {
    "first name": "first_name",
    "last name": "last_name",
    "full name": "full_name",
    "email": "email",
    "user role": "role",
    "role": "role",
    "group": "groups",
    "groups": "groups",
    "metadata": "metadata",
    "expires": "expires",
}
_HEADER_HINT = (
    "accepted headers: First Name, Last Name, Email, User Role, Group, Metadata (ToolJet's upload format) "
    "or Full Name, Email, Role, Groups, Metadata"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_UTF8_HINT = 'save the file as UTF-8 ("CSV UTF-8" in Excel)'
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvUserEntry:
    """One CSV row as a YAML-shaped user entry, with where each field came from.

    ``entry`` has ``email`` (lower-case), ``first_name``, ``last_name`` (possibly empty), ``role``
    (``admin``/``builder``/``end-user``), ``groups`` (always present, possibly empty) and ``metadata`` (only
    when the cell is non-empty). ``locations`` has a :class:`Location` for ``row`` and each key of ``entry``.
    """

    entry: dict[str, Any]
    locations: dict[str, Location] = field(default_factory=dict)
    # Fields whose cells had problems (reported), ``row`` for a problem of the row as a whole. ``entry`` then
    # holds only the fields that were read without problems (a Groups cell: the valid names).
    broken: frozenset[str] = frozenset()

    def location(self, name: str) -> Location:
        """The location of field ``name``, or of the row when the field has none."""
        return self.locations.get(name, self.locations["row"])


def neutralise_cell(value: str) -> str:
    """Defuse spreadsheet formula injection in a cell the tool writes to a CSV file.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``.
    """
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _norm_header(text: str) -> str:
    return " ".join(text.split()).lower()


def _norm_role(text: str) -> str:
    return " ".join(text.replace("-", " ").replace("_", " ").split()).lower()


def _show(value: str, limit: int = 60) -> str:
    """A cell value for an error message: repr-quoted and shortened (safetext.quoted)."""
    return quoted(value, limit)


class _Collector:
    def __init__(self, display: str) -> None:
        self.display = display
        self.problems: list[Problem] = []
        self.dropped = 0

    def add(self, location: Location, message: str, hint: str | None = None) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(location, message, hint))
        else:
            self.dropped += 1

    def file(self, message: str, hint: str | None = None) -> None:
        self.add(Location(self.display), message, hint)

    def raise_if_any(self) -> None:
        if not self.problems:
            return
        problems = list(self.problems)
        if self.dropped:
            problems.append(
                Problem(Location(self.display), f"{self.dropped} more problem(s) not shown; fix the ones above")
            )
        raise ConfigError(problems=problems)


MAX_BYTES = 16 * 1024 * 1024


def load_users_csv(path: Path, *, display_name: str | None = None, max_bytes: int = MAX_BYTES) -> list[CsvUserEntry]:
    """Read a bulk-invite CSV file into user entries.

    Raises :class:`ConfigError` carrying every problem of the file (all rows are checked first).
    ``display_name`` is the file name used in locations (default: ``str(path)``).
    """
    entries, out = _collect(path, display_name, max_bytes)
    out.raise_if_any()
    return [e for e in entries if not e.broken]


def read_users_csv(
    path: Path, *, display_name: str | None = None, max_bytes: int = MAX_BYTES
) -> tuple[list[CsvUserEntry], list[Problem]]:
    """Like :func:`load_users_csv`, but return the rows together with the problems, rows with problems
    included (marked ``broken``, holding the cells that were read without problems).

    The config loader uses this so that the rules needing the whole configuration (unknown groups, duplicate
    emails across YAML and CSV) are still checked for every row of a file that has bad ones, bad rows included.
    """
    return _rows_and_problems(*_collect(path, display_name, max_bytes))


def parse_users_csv(data: bytes, *, display_name: str) -> tuple[list[CsvUserEntry], list[Problem]]:
    """:func:`read_users_csv` for the bytes of a file already read (by the loader, see files.py)."""
    out = _Collector(display_name)
    text = _decode(data, out)
    return _rows_and_problems([] if text is None else _parse(text, out), out)


def _rows_and_problems(entries: list[CsvUserEntry], out: _Collector) -> tuple[list[CsvUserEntry], list[Problem]]:
    try:
        out.raise_if_any()
    except ConfigError as exc:
        if any(p.location.line in (None, 1) for p in exc.problems):
            return [], exc.problems  # the file or its header is broken: no row can be trusted
        return entries, exc.problems
    return entries, []


def _collect(path: Path, display_name: str | None, max_bytes: int) -> tuple[list[CsvUserEntry], _Collector]:
    display = display_name if display_name is not None else str(path)
    out = _Collector(display)
    try:
        data = read_regular_file(Path(path), max_bytes=max_bytes)
    except FileRefused as exc:
        out.file(exc.message)
        return [], out
    except OSError as exc:
        out.file(f"cannot read file: {exc.strerror or exc}")
        return [], out
    text = _decode(data, out)
    if text is None:
        return [], out
    return _parse(text, out), out


def _decode(data: bytes, out: _Collector) -> str | None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        out.file("file is UTF-16 encoded", hint=_UTF8_HINT)
        return None
    # Invalid bytes become lone surrogates; they are reported per cell, with row and column.
    text = data.decode("utf-8-sig", errors="surrogateescape")
    if not text.strip():
        out.file("file is empty", hint=f"expected a header row such as {CSV_TEMPLATE.splitlines()[0]!r}")
        return None
    return text


@dataclass
class _Columns:
    index: dict[str, int]  # field -> 0-based column index
    names: list[str]  # header text per column, as written (stripped)
    unnamed: list[int] = field(default_factory=list)  # columns whose header cell is empty

    def loc(self, display: str, row: int, col: int) -> Location:
        if col < len(self.names) and self.names[col]:
            path = f"row {row}, column {_show(self.names[col], 40)}"
        else:
            path = f"row {row}, column {col + 1}"
        return Location(display, row, col + 1, path)


def _rows(text: str, out: _Collector) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells); csv errors are reported at their row and that row is skipped."""
    if csv.field_size_limit() < _FIELD_SIZE_LIMIT:
        csv.field_size_limit(_FIELD_SIZE_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), dialect="excel")
    row = 0
    while True:
        row += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            out.add(Location(out.display, row, None, f"row {row}"), f"cannot read row: {exc}")
            continue
        yield row, cells


def _parse(text: str, out: _Collector) -> list[CsvUserEntry]:
    rows = _rows(text, out)
    first = next(rows, None)
    if first is None:
        out.file("file has no header row")
        return []
    if not any(_HEADERS.get(_norm_header(cell)) for cell in first[1]):
        _not_a_header(first[1], out)  # no row of such a file can be read
        return []
    columns = _parse_header(first[1], out)
    entries: list[CsvUserEntry] = []
    seen_emails: dict[str, int] = {}
    for row, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        entries.append(_parse_row(row, cells, columns, out, seen_emails))
    return entries


def _not_a_header(cells: list[str], out: _Collector) -> None:
    """A first row without a single known column is not a header: maybe not a CSV file at all (``/etc/passwd``,
    a key, an environment dump). Nothing of it is quoted."""
    hint = _HEADER_HINT
    if any(";" in cell or "\t" in cell for cell in cells):
        hint = "the file must be comma-separated; " + hint
    out.add(
        Location(out.display, 1, None, "row 1"),
        "the first row is not a CSV header: none of its cells names a known column (its content is not shown)",
        hint,
    )


def _parse_header(cells: list[str], out: _Collector) -> _Columns:
    names = [c.strip() for c in cells]
    columns = _Columns({}, names)
    row1 = Location(out.display, 1, None, "row 1")
    for col, name in enumerate(names):
        loc = columns.loc(out.display, 1, col)
        if _SURROGATE.search(name):
            out.add(loc, "header is not valid UTF-8", _UTF8_HINT)
            continue
        if not name:
            columns.unnamed.append(col)
            continue
        key = _HEADERS.get(_norm_header(name))
        if key is None:
            hint = _HEADER_HINT
            if ";" in name or "\t" in name:
                hint = "the file must be comma-separated; " + hint
            else:
                close = difflib.get_close_matches(_norm_header(name), list(_HEADERS), n=1)
                if close:
                    hint = f"did you mean {close[0].title()!r}? " + hint
            out.add(loc, f"unknown column {_show(name, 40)}", hint)
            continue
        if key in columns.index:
            other = columns.index[key]
            out.add(
                loc,
                f"column {_show(name, 40)} duplicates column {other + 1} ({_show(names[other], 40)})",
                _HEADER_HINT,
            )
            continue
        columns.index[key] = col
    idx = columns.index
    if "email" not in idx:
        out.add(row1, "missing column 'Email'", _HEADER_HINT)
    if "role" not in idx:
        out.add(row1, "missing a role column ('Role' or 'User Role')", _HEADER_HINT)
    if "full_name" in idx and ("first_name" in idx or "last_name" in idx):
        out.add(
            columns.loc(out.display, 1, idx["full_name"]),
            "'Full Name' cannot be combined with 'First Name' or 'Last Name'",
            _HEADER_HINT,
        )
    elif "full_name" not in idx and "first_name" not in idx:
        out.add(row1, "missing a name column ('Full Name', or 'First Name' and 'Last Name')", _HEADER_HINT)
    return columns


def _parse_row(
    row: int, cells: list[str], columns: _Columns, out: _Collector, seen_emails: dict[str, int]
) -> CsvUserEntry:
    d = out.display
    reported = len(out.problems)
    row_loc = Location(d, row, None, f"row {row}")
    ok = True
    ncols = len(columns.names)
    if len(cells) > ncols and any(c.strip() for c in cells[ncols:]):
        out.add(
            columns.loc(d, row, ncols),
            f"row has {len(cells)} cells but the header has {ncols} columns",
            "quote cells that contain commas",
        )
        ok = False
    for col in columns.unnamed:
        if col < len(cells) and cells[col].strip():
            out.add(columns.loc(d, row, col), f"column {col + 1} has no header but this row has a value in it")
            ok = False

    def cell(key: str) -> tuple[str, Location] | None:
        """The stripped cell of field ``key`` (None when the column is absent or the cell is unreadable)."""
        nonlocal ok
        col = columns.index.get(key)
        if col is None:
            return None
        value = cells[col].strip() if col < len(cells) else ""
        loc = columns.loc(d, row, col)
        if _SURROGATE.search(value):
            out.add(loc, "cell is not valid UTF-8", _UTF8_HINT)
            ok = False
            return None
        if "\x00" in value:
            out.add(loc, "cell contains a NUL byte", "the file may be binary or not UTF-8; " + _UTF8_HINT)
            ok = False
            return None
        return value, loc

    def fail(loc: Location, message: str, hint: str | None = None) -> None:
        nonlocal ok
        out.add(loc, message, hint)
        ok = False

    entry: dict[str, Any] = {}
    locations: dict[str, Location] = {"row": row_loc}

    # email
    got = cell("email")
    if got is not None:
        value, loc = got
        locations["email"] = loc
        if not value:
            fail(loc, "email is required")
        else:
            problem = email_problem(value)  # the YAML's validation (models.Email), see identity.py
            if problem:
                fail(loc, problem)
            else:
                email = normalise_email(value)
                if email in seen_emails:
                    fail(
                        loc,
                        "Duplicate email found. Please provide a unique email address.",
                        f"{email!r} is already on row {seen_emails[email]}",
                    )
                else:
                    entry["email"] = email  # (a duplicate's email is left out: it is not checked again)
                    seen_emails[email] = row

    # names
    first = last = None
    if "full_name" in columns.index and not {"first_name", "last_name"} & columns.index.keys():
        got = cell("full_name")
        if got is not None:
            value, loc = got
            locations["first_name"] = locations["last_name"] = loc
            if _name_ok(value, loc, "full name", fail, limit=2 * MAX_NAME_CHARS + 1):
                parts = value.split(" ", 1)
                first = parts[0].strip()
                last = parts[1].strip() if len(parts) > 1 else ""
                if not first:
                    fail(loc, "full name is required")
                else:
                    _name_ok(first, loc, "first name", fail)
                    _name_ok(last, loc, "last name", fail)
    elif "first_name" in columns.index:
        got = cell("first_name")
        if got is not None:
            first, loc = got
            locations["first_name"] = loc
            if not first:
                fail(loc, "first name is required")
            else:
                _name_ok(first, loc, "first name", fail)
        got = cell("last_name")
        if got is not None:
            last, loc = got
            locations["last_name"] = loc
            _name_ok(last, loc, "last name", fail)
        elif "last_name" not in columns.index:
            last = ""
            locations["last_name"] = locations.get("first_name", row_loc)
    if first is not None:
        entry["first_name"] = first
    if last is not None:
        entry["last_name"] = last

    # role
    got = cell("role")
    if got is not None:
        value, loc = got
        locations["role"] = loc
        if not value:
            fail(loc, f"role is required (one of {_ROLE_DISPLAY})")
        else:
            role = _ROLE_VALUES.get(_norm_role(value))
            if role is None:
                fail(loc, f"{_show(value)} is not one of {_ROLE_DISPLAY}")
            else:
                entry["role"] = role

    # groups
    groups: list[str] = []
    listed: set[str] = set()  # (not `name in groups`: a cell may name 100,000 groups)
    got = cell("groups")
    locations["groups"] = row_loc
    if got is not None:
        value, loc = got
        locations["groups"] = loc
        for name in (g.strip() for g in value.split("|")):
            if not name:
                continue
            if _CONTROL.search(name):
                fail(loc, f"group name {_show(name)} contains a control character")
            elif len(name) > MAX_GROUP_NAME_CHARS:
                fail(loc, f"group name {_show(name)} is longer than {MAX_GROUP_NAME_CHARS} characters")
            elif name in listed:
                fail(loc, f"group {_show(name)} is listed twice")
            else:
                groups.append(name)
                listed.add(name)
    entry["groups"] = groups

    # metadata
    got = cell("metadata")
    if got is not None:
        value, loc = got
        if value:
            locations["metadata"] = loc
            metadata = _parse_metadata(value, loc, fail)
            if metadata is not None:
                entry["metadata"] = metadata

    # expires (issue 18): the YAML key's value, checked by the model like the YAML's; an empty cell means none
    got = cell("expires")
    if got is not None and got[0]:
        entry["expires"], locations["expires"] = got

    return CsvUserEntry(entry, locations, frozenset() if ok else _broken_fields(locations, out.problems[reported:]))


def _broken_fields(locations: dict[str, Location], problems: list[Problem]) -> frozenset[str]:
    """The fields whose cells the problems of a row are about (a Full Name cell holds two fields); ``row``
    for a problem that is about no field's cell, or when the problems were not recorded (past MAX_PROBLEMS)."""
    broken: set[str] = set()
    for problem in problems:
        names = {n for n, loc in locations.items() if loc == problem.location and loc != locations["row"]}
        broken |= names or {"row"}
    return frozenset(broken or {"row"})


_Fail = Callable[..., None]


def _name_ok(value: str, loc: Location, what: str, fail: _Fail, limit: int = MAX_NAME_CHARS) -> bool:
    if _CONTROL.search(value):
        fail(loc, f"{what} contains a control character")
        return False
    if len(value) > limit:
        fail(loc, f"{what} is longer than {limit} characters")
        return False
    return True


_METADATA_HINT = 'write a JSON object and quote the cell, e.g. "{""team"": ""finance""}"'


class _Pairs(list):
    """The key/value pairs of an object, in order (duplicates kept so that they can be reported)."""


def _kind(value: Any) -> str:
    if isinstance(value, _Pairs):
        return "an object"
    if isinstance(value, list | tuple | set):
        return "an array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | complex):
        return f"a number ({value!r})"[:60]
    return type(value).__name__


def _parse_metadata(value: str, loc: Location, fail: _Fail) -> dict[str, str] | None:
    if len(value) > MAX_METADATA_CELL_CHARS:
        fail(loc, f"metadata is longer than {MAX_METADATA_CELL_CHARS:,} characters")
        return None
    try:
        parsed: Any = json.loads(value, object_pairs_hook=_Pairs, strict=False)
    except (ValueError, RecursionError) as exc:
        parsed = _literal_pairs(value)
        if parsed is None:
            detail = f" ({exc.msg} at character {exc.pos + 1})" if isinstance(exc, json.JSONDecodeError) else ""
            fail(loc, f"metadata is not a JSON object{detail}", _METADATA_HINT)
            return None
    if not isinstance(parsed, _Pairs):
        fail(loc, f"metadata must be an object of string keys to string values, not {_kind(parsed)}")
        return None
    result: dict[str, str] = {}
    good = True
    total = 0
    for key, val in parsed:
        if not isinstance(key, str) or not key:
            fail(loc, f"metadata keys must be non-empty strings, not {key!r}"[:200])
            good = False
        elif key in result:
            fail(loc, f"metadata key {_show(key)} appears twice", "keys must be unique")
            good = False
        elif not isinstance(val, str):
            fail(loc, f"metadata value of {_show(key)} must be a string, not {_kind(val)}", "quote it")
            good = False
        elif len(val) > MAX_METADATA_VALUE_CHARS:
            fail(loc, f"metadata value of {_show(key)} is longer than {MAX_METADATA_VALUE_CHARS:,} characters")
            good = False
        else:
            total += len(val)
            result[key] = val
    if total > MAX_METADATA_TOTAL_CHARS:
        fail(loc, f"metadata values together are longer than {MAX_METADATA_TOTAL_CHARS:,} characters")
        good = False
    return result if good else None


def _literal_pairs(value: str) -> _Pairs | None:
    """The pairs of a Python dict display of literals (``{'k': 'v'}``, as in ToolJet's docs), or None.

    The text is only parsed (:func:`ast.parse`, which is what :func:`ast.literal_eval` does first), never
    evaluated; anything but a dict of constants is refused. The caller has bounded the length.
    """
    if not (value.startswith("{") and value.endswith("}")):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. invalid escape sequences: keep the backslash, stay quiet
            node = ast.parse(value, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not isinstance(node, ast.Dict):
        return None
    pairs = _Pairs()
    for key, val in zip(node.keys, node.values, strict=True):
        if not isinstance(key, ast.Constant):  # includes {**x}, where the key is None
            return None
        if isinstance(val, ast.Constant):
            pairs.append((key.value, val.value))
        elif isinstance(val, ast.Dict):
            pairs.append((key.value, _Pairs()))  # reported as a wrong type
        elif isinstance(val, ast.List | ast.Tuple | ast.Set):
            pairs.append((key.value, []))
        else:
            return None
    return pairs
