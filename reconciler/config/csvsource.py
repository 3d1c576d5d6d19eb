"""Bulk-invite CSV files (SPEC section 7) read into user entries shaped like the YAML ones.

Stage: config. This module knows the CSV *format*: headers, rows, cells, the spellings a spreadsheet uses. It turns
each row into the dict a YAML user entry is (``email``, ``first_name``, ``last_name``, ``role``, ``groups``,
``metadata``) and remembers which cell each key came from; the *value* rules (a valid email, a name's length, a
group name that is no role name, a metadata value's length, a group listed twice, a duplicate email) are the
YAML's, applied by the loader with the same pydantic models and cross-document checks, and reported at the cell.

Accepted headers (case-insensitive, any order, surrounding whitespace ignored):

* ToolJet's upload format: ``First Name,Last Name,Email,User Role,Group,Metadata``
* the documented format: ``Full Name,Email,Role,Groups,Metadata`` (the full name is split at the first
  space; the last name is empty when there is none)

``Email``, a role column (``Role``/``User Role``) and a name column (``Full Name`` or ``First Name``) are
required; ``Last Name``, ``Groups``/``Group``, ``Metadata`` and ``Expires`` are optional.

Decisions where SPEC is silent (also in docs/architecture.md, "The configuration layer"):

* Rows are numbered as a spreadsheet numbers them: the header is row 1, and a quoted cell spanning several
  lines is still one row. Errors print as ``people.csv:4:3: row 4, column 'Role': ...``, i.e. the "line" of
  the location is the row number and the "column" the 1-based column index. A problem with one metadata key
  adds it: ``row 4, column 'Metadata', key 'team'``.
* A blank row (no cell or only empty cells) is skipped. Cells beyond the header, and columns with an empty
  header cell, are tolerated only while they are empty (spreadsheets sometimes export trailing commas); a
  value in them is an error.
* Cells are stripped. An empty cell of a required field (Email, Role, the first name) is an empty value, which
  the model refuses at that cell; an empty Last Name is the empty last name.
* Roles are read case-insensitively, ``-``, ``_`` and spaces alike: ``Admin``, ``Builder``, ``End User``,
  ``end-user``; any other text is passed on as written, for the model to refuse.
* ``groups`` is always present in an entry; an empty Groups cell (or no Groups column) gives ``[]``, which
  means "no custom groups" exactly like a YAML entry without ``groups:``.
* ``metadata`` is present only when the Metadata cell is non-empty: an empty cell means absent (the tool
  leaves that membership's metadata alone). Use ``{}`` in the cell to mean "no metadata".
  CSV metadata values are plain strings: any other value (a number, ``true``, an object) is refused here,
  since an object would otherwise reach the model as a secret reference, which are YAML-only.
* ``Expires`` (issue 18) holds the YAML ``expires`` value of the membership (a date, or a timestamp with zone),
  checked by the same model; an empty cell means the membership does not expire.
* The Python-style single-quoted metadata form from ToolJet's docs is parsed with :func:`ast.parse` and
  accepted only when the expression is a dict display of literals; nothing is ever evaluated. A key given
  twice in one cell is an error (JSON would keep the last silently).
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

from ..errors import Location, Problem
from ..safetext import quoted
from .files import FileRefused, read_regular_file

__all__ = ["CSV_TEMPLATE", "CsvUserEntry", "neutralise_cell", "parse_users_csv", "read_users_csv"]

CSV_TEMPLATE = (
    "Full Name,Email,Role,Groups,Metadata\n"
    "William Cushing,william.cushing@altostrat.com,Admin,,\"{'key1': 'value1', 'key2': 'value2'}\"\n"
)
"""What ``reconciler csv template`` prints: the documented header and ToolJet's example row."""

MAX_METADATA_CELL_CHARS = 200_000
"""A Metadata cell is refused before parsing beyond this (it bounds the parser's work, not a value rule)."""
MAX_PROBLEMS = 1_000
"""Format problems reported per file; further ones are summarised in one last problem."""
MAX_BYTES = 16 * 1024 * 1024

_FIELD_SIZE_LIMIT = 1_000_000
"""csv's default per-cell limit (131,072) is below what a legitimate Metadata cell can hold."""

_ROLE_SPELLINGS = {"admin": "admin", "builder": "builder", "end user": "end-user", "enduser": "end-user"}

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
_SURROGATE = re.compile(r"[\udc80-\udcff]")
_UTF8_HINT = 'save the file as UTF-8 ("CSV UTF-8" in Excel)'
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvUserEntry:
    """One CSV row as a YAML-shaped user entry, with where each field came from.

    ``entry`` holds the cells as the YAML would hold them, not yet validated: ``email``, ``first_name``,
    ``last_name``, ``role`` (a known spelling turned into ``admin``/``builder``/``end-user``), ``groups``
    (always present, possibly empty) and ``metadata`` (only when the cell is non-empty). ``locations`` has a
    :class:`Location` for ``row`` and for each key of ``entry``. ``broken``: the fields whose cells had format
    problems (already reported, and left out of ``entry``), ``row`` for a problem of the row as a whole.
    """

    entry: dict[str, Any]
    locations: dict[str, Location] = field(default_factory=dict)
    broken: frozenset[str] = frozenset()

    def location(self, name: str) -> Location:
        """The location of field ``name``, or of the row when the field has none."""
        return self.locations.get(name, self.locations["row"])

    def locate(self, path: tuple = (), key: bool = False) -> Location:
        """Where ``path`` inside the entry is: the cell of its field (the loader's ``locate`` for a user entry,
        so that the models' and the checks' problems are reported at the cell). Inside the Metadata cell, the
        key is named, as the YAML path would name it."""
        where = self.location(str(path[0])) if path else self.locations["row"]
        if len(path) > 1 and path[0] == "metadata" and where.path:
            return Location(where.file, where.line, where.column, f"{where.path}, key {_show(str(path[1]), 40)}")
        return where


def neutralise_cell(value: str) -> str:
    """Defuse spreadsheet formula injection in a cell the tool writes to a CSV file.

    A value starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'``.
    """
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _norm_header(text: str) -> str:
    return " ".join(text.split()).lower()


def _role(text: str) -> str:
    """A role as the YAML spells it, when ``text`` is one of the CSV's spellings; else ``text`` unchanged."""
    spelled = " ".join(text.replace("-", " ").replace("_", " ").split()).lower()
    return _ROLE_SPELLINGS.get(spelled, text)


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

    def all_problems(self) -> list[Problem]:
        if not self.dropped:
            return list(self.problems)
        more = Problem(Location(self.display), f"{self.dropped} more problem(s) not shown; fix the ones above")
        return [*self.problems, more]


def read_users_csv(
    path: Path, *, display_name: str | None = None, max_bytes: int = MAX_BYTES
) -> tuple[list[CsvUserEntry], list[Problem]]:
    """Read a bulk-invite CSV file into YAML-shaped user entries, with the file's format problems.

    Rows with format problems are returned too (marked ``broken``, holding the cells that were read without
    problems), so that the loader can still check their other cells (unknown groups, duplicate emails across YAML
    and CSV). A broken file or header gives no rows. ``display_name`` is the file name used in locations
    (default: ``str(path)``).
    """
    display = display_name if display_name is not None else str(path)
    out = _Collector(display)
    try:
        data = read_regular_file(Path(path), max_bytes=max_bytes)
    except FileRefused as exc:
        out.file(exc.message)
        return [], out.all_problems()
    except OSError as exc:
        out.file(f"cannot read file: {exc.strerror or exc}")
        return [], out.all_problems()
    return parse_users_csv(data, display_name=display)


def parse_users_csv(data: bytes, *, display_name: str) -> tuple[list[CsvUserEntry], list[Problem]]:
    """:func:`read_users_csv` for the bytes of a file already read (by the loader, see files.py)."""
    out = _Collector(display_name)
    text = _decode(data, out)
    entries = [] if text is None else _parse(text, out)
    problems = out.all_problems()
    if any(p.location.line in (None, 1) for p in problems):
        return [], problems  # the file or its header is broken: no row can be trusted
    return entries, problems


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
    return [_parse_row(row, cells, columns, out) for row, cells in rows if any(c.strip() for c in cells)]


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


class _Row:
    """The cells of one row, read by field; each cell's format problems are reported and mark the field broken."""

    def __init__(self, row: int, cells: list[str], columns: _Columns, out: _Collector) -> None:
        self.row, self.cells, self.columns, self.out = row, cells, columns, out
        self.locations: dict[str, Location] = {"row": Location(out.display, row, None, f"row {row}")}
        self.broken: set[str] = set()

    def cell(self, key: str, *fields: str) -> str | None:
        """The stripped cell of column ``key`` (None when the column is absent or the cell is unreadable), which
        ``fields`` of the entry (default: ``key``) are located at."""
        col = self.columns.index.get(key)
        if col is None:
            return None
        fields = fields or (key,)
        loc = self.columns.loc(self.out.display, self.row, col)
        for name in fields:
            self.locations[name] = loc
        value = self.cells[col].strip() if col < len(self.cells) else ""
        if _SURROGATE.search(value):
            self.fail(loc, fields, "cell is not valid UTF-8", _UTF8_HINT)
            return None
        if "\x00" in value:
            self.fail(loc, fields, "cell contains a NUL byte", "the file may be binary or not UTF-8; " + _UTF8_HINT)
            return None
        return value

    def fail(self, loc: Location, fields: tuple[str, ...], message: str, hint: str | None = None) -> None:
        self.out.add(loc, message, hint)
        self.broken.update(fields)


def _parse_row(row: int, cells: list[str], columns: _Columns, out: _Collector) -> CsvUserEntry:
    r = _Row(row, cells, columns, out)
    ncols = len(columns.names)
    if len(cells) > ncols and any(c.strip() for c in cells[ncols:]):
        where = columns.loc(out.display, row, ncols)
        r.fail(
            where,
            ("row",),
            f"row has {len(cells)} cells but the header has {ncols} columns",
            "quote cells that contain commas",
        )
    for col in columns.unnamed:
        if col < len(cells) and cells[col].strip():
            r.fail(
                columns.loc(out.display, row, col),
                ("row",),
                f"column {col + 1} has no header but this row has a value in it",
            )

    entry: dict[str, Any] = {}
    email = r.cell("email")
    if email is not None:
        entry["email"] = email
    if "full_name" in columns.index:
        full = r.cell("full_name", "first_name", "last_name")
        if full is not None:
            first, _, last = full.partition(" ")
            entry["first_name"], entry["last_name"] = first, last.strip()
    else:
        first = r.cell("first_name")
        if first is not None:
            entry["first_name"] = first
        last = r.cell("last_name") if "last_name" in columns.index else ""
        if "last_name" not in columns.index:
            r.locations["last_name"] = r.locations.get("first_name", r.locations["row"])
        if last is not None:
            entry["last_name"] = last
    role = r.cell("role")
    if role is not None:
        entry["role"] = _role(role)
    groups = r.cell("groups")
    entry["groups"] = [] if groups is None else [name for name in (g.strip() for g in groups.split("|")) if name]
    metadata = r.cell("metadata")
    if metadata == "":
        del r.locations["metadata"]  # an empty cell: absent (unmanaged), like a YAML entry without the key
    elif metadata is not None:
        parsed = _parse_metadata(metadata, r.locations["metadata"], lambda loc, *a: r.fail(loc, ("metadata",), *a))
        if parsed is not None:
            entry["metadata"] = parsed
    expires = r.cell("expires")  # issue 18: the YAML's expires value, checked by the model; empty: none
    if expires == "":
        del r.locations["expires"]
    elif expires is not None:
        entry["expires"] = expires
    return CsvUserEntry(entry, r.locations, frozenset(r.broken))


_Fail = Callable[..., None]
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


def _parse_metadata(value: str, loc: Location, fail: _Fail) -> dict[Any, str] | None:
    """The cell as a mapping of keys to string values, or None after reporting why it is not one. The keys and
    the values' lengths are the model's to check."""
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
    result: dict[Any, str] = {}
    good = True
    for key, val in parsed:
        if key in result:
            fail(loc, f"metadata key {_show(str(key))} appears twice", "keys must be unique")
            good = False
        elif not isinstance(val, str):
            fail(loc, f"metadata value of {_show(str(key))} must be a string, not {_kind(val)}", "quote it")
            good = False
        else:
            result[key] = val
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
