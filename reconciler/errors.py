"""The exception hierarchy. Errors carry data; only ``reconciler.cli`` turns them into text and exit codes."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .safetext import escape, shorten


class ReconcilerError(Exception):
    """Base class of every error a user can cause or fix. The CLI prints these without a traceback."""

    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def lines(self) -> list[str]:
        """One line per problem, without the ``Error:`` prefix."""
        return [self.message]

    def hints(self) -> list[str]:
        """What to do about it, one line per hint, without the ``Hint:`` prefix."""
        return [self.hint] if self.hint else []


@dataclass(frozen=True)
class Location:
    """Where a problem is: a file, a 1-based line and column, and the path inside the document."""

    file: str
    line: int | None = None
    column: int | None = None
    path: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.path}" if self.path else where


@dataclass(frozen=True)
class Problem:
    location: Location
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


MAX_PROBLEM_LINES = 100
"""At most this many ``Error:`` lines for one ConfigError; the last one says how many problems were left out."""
MAX_LINE_CHARS = 1_000
"""A problem's line is cut to this many characters (a value or key written in the file can be long)."""
SHOWN_PER_KIND = 5
"""Problems of one kind (same rule at the same place pattern) shown in full before they are counted."""


@dataclass
class ConfigError(ReconcilerError):
    """One or more problems in the configuration; all problems of a run are reported together.

    ``problems`` holds every problem; :meth:`lines` is what a person reads: repeated problems grouped, the
    output bounded, user text escaped (see :func:`problem_lines`).
    """

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        first = _line(self.problems[0]) if self.problems else "invalid configuration"
        super().__init__(first)

    def lines(self) -> list[str]:
        return problem_lines(self.problems)

    def __str__(self) -> str:
        return "\n".join(self.lines())


def problem_lines(
    problems: Sequence[Problem],
    *,
    max_lines: int = MAX_PROBLEM_LINES,
    shown_per_kind: int = SHOWN_PER_KIND,
) -> list[str]:
    """One line per problem, in order, for a person to read: one mistake, one error.

    - Problems of one *kind* (the same message once quoted values and numbers are set aside, in the same file,
      at the same path once list indexes and row numbers are set aside: ``users[*].email``) are shown in full
      ``shown_per_kind`` times; right after the last of those, one line counts the rest:
      ``file: workspaces[0].users[*].email: ... and 19,995 more: Duplicate email found. ...`` (the message itself
      when all of the rest say the same, else its shape, with ``'...'`` for quoted values and N for numbers).
    - At most ``max_lines`` lines; the last one then says how many problems were not shown.
    - Every line is escaped (:func:`reconciler.safetext.escape`) and cut to ``MAX_LINE_CHARS`` characters.

    Time is linear in the number of problems; only the lines shown are formatted.
    """
    kinds = [_kind(p) for p in problems]
    totals = Counter(kinds)
    rest_message: dict[Kind, str | None] = {}  # the message all hidden problems of a kind share, or None
    entries: list[tuple[Problem | Kind, int]] = []  # a problem shown in full, or a kind's summary, with its count
    seen: Counter[Kind] = Counter()
    for problem, kind in zip(problems, kinds, strict=True):
        seen[kind] += 1
        if seen[kind] <= shown_per_kind or totals[kind] == shown_per_kind + 1:  # (no summary for just one more)
            entries.append((problem, 1))
            if seen[kind] == shown_per_kind and totals[kind] > shown_per_kind + 1:
                entries.append((kind, totals[kind] - shown_per_kind))
        elif rest_message.setdefault(kind, problem.message) not in (problem.message, None):
            rest_message[kind] = None
    if len(entries) > max_lines:
        left_out = sum(count for _, count in entries[max_lines - 1 :])
        entries = entries[: max_lines - 1]
    else:
        left_out = 0
    lines = [
        _line(entry) if isinstance(entry, Problem) else _summary(entry, count, rest_message) for entry, count in entries
    ]
    if left_out:
        lines.append(f"... and {left_out:,} more problem(s) not shown; fix the ones above first")
    return lines


Kind = tuple[str, str, str]


def _line(problem: Problem) -> str:
    return shorten(escape(str(problem)), MAX_LINE_CHARS)


def _summary(kind: Kind, count: int, rest_message: dict[Kind, str | None]) -> str:
    file, pattern, shape = kind
    where = f"{file}: {pattern}" if pattern else file
    return shorten(escape(f"{where}: ... and {count:,} more: {rest_message.get(kind) or shape}"), MAX_LINE_CHARS)


_INDEX = re.compile(r"\[\d+\]")
_ROW = re.compile(r"^row \d+")
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_NUMBER = re.compile(r"\d[\d,]*")


def _kind(problem: Problem) -> Kind:
    """(file, path pattern, message shape): problems that differ only in list indexes, row numbers, quoted
    values or numbers are of one kind."""
    location = problem.location
    pattern = _ROW.sub("row *", _INDEX.sub("[*]", location.path))
    shape = _NUMBER.sub("N", _QUOTED.sub("'...'", problem.message))
    return location.file, pattern, shape


class SecretError(ReconcilerError):
    """A secret reference could not be resolved, or no key is available for encrypted data."""


class StateError(ReconcilerError):
    """The database is not usable as it is (wrong schema revision, not a reconciler database, ...)."""


class UnreadableMetadata(StateError):
    """Stored metadata that opens but is not a flat map of strings (ToolJet, issue 16). ``reason`` says what it
    is instead, never the value; the ToolJet reader records it and reads the membership's metadata as unread."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.reason = reason


class DatabaseMissing(StateError):
    """The database, or its reconciler schema, does not exist yet: only ``apply`` and ``db upgrade`` create them."""


class CryptoError(ReconcilerError):
    """Ciphertext or a signature did not verify, or a key is malformed."""


# What a refusal is about, for the workflow to say where the configuration writes it: (kind, workspace, name,
# field), kind ``member`` (name: the email), ``group`` (name: the group) or ``builder`` (name: "builder").
Subject = tuple[str, str, str, str]


class PlanRefused(ReconcilerError):
    """A safety rail refused the plan before anything was written. ``about`` names the entry of the configuration
    the refusal is about (see ``Subject``)."""

    def __init__(self, rule: str, message: str, *, hint: str | None = None, about: Subject | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rule = rule
        self.about = about


class StalePlan(ReconcilerError):
    """A saved plan no longer matches the database."""


class LockTimeout(ReconcilerError):
    """Another apply holds the lock."""


class ApplyError(ReconcilerError):
    """Apply failed; the transaction was rolled back."""


class Aborted(ReconcilerError):
    """The user declined, or confirmation was impossible."""


class PlanRefusals(PlanRefused):
    """Several refusals at once (every rail a plan breaks, every change a backend cannot make): one line each.

    ``rule`` and ``hint`` are the first refusal's; the CLI prints ``Error:`` per line, like a ConfigError, then
    ``Hint:`` per distinct hint.
    """

    def __init__(self, refusals: list[PlanRefused]) -> None:
        first = refusals[0]
        super().__init__(first.rule, first.message, hint=first.hint)
        self.refusals = list(refusals)

    def lines(self) -> list[str]:
        return [line for refusal in self.refusals for line in refusal.lines()]

    def hints(self) -> list[str]:
        """Every refusal's hint, each once, in the order of the refusals (different refusals, different fixes)."""
        return list(dict.fromkeys(hint for refusal in self.refusals for hint in refusal.hints()))


def refused(refusals: list[PlanRefused]) -> PlanRefused:
    """The one exception for a non-empty list of refusals."""
    return refusals[0] if len(refusals) == 1 else PlanRefusals(refusals)


class PlanFileError(ReconcilerError):
    """A saved plan file is not one this version can read (malformed, another format version, unknown op)."""


class DecryptionError(CryptoError):
    """A stored value could not be decrypted. ``what`` names the value; ``problem`` says why, after
    "could not be decrypted" (": it is not valid base64", " with the master key from ...: ...").

    The layer that read the value knows whose it is: :meth:`about` rewords the error for it (a member and a
    workspace rather than "a membership-metadata value"), keeping the reason and the hint.
    """

    def __init__(self, what: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{what} could not be decrypted{problem}", hint=hint)
        self.what = what
        self.problem = problem

    def about(self, what: str) -> DecryptionError:
        return DecryptionError(what, self.problem, hint=self.hint)


class InvitationError(ReconcilerError):
    """An invitation token or membership that cannot be used."""


class DeliveryInterrupted(ReconcilerError):
    """The outbox bookkeeping failed during a delivery (the database went away, the disk is full).

    ``report`` (the delivery report so far) says what was delivered and recorded before; ``unrecorded`` is the
    email that was handed to the transport but could not be marked as sent (it will be sent again), ``waiting``
    the recipients still pending.
    """

    def __init__(self, cause: str, report: Any, unrecorded: str | None, waiting: list[str]) -> None:
        self.report, self.unrecorded, self.waiting = report, unrecorded, waiting
        super().__init__(f"recording the delivery of invitation emails failed ({cause})")


class UnknownWorkspace(ReconcilerError):
    """``--workspace`` named workspaces that ``where`` (``the database``, or a configuration's path) does not hold.

    The one wording of an unknown workspace, for every command: the configuration's (``plan``, ``apply``,
    ``drift``) and the database's (``users``, ``explain``, ``invite-url``, ``export``, ``report``).
    """

    def __init__(self, missing: Iterable[str], known: Iterable[str], where: str) -> None:
        self.missing, self.known, self.where = sorted(missing), sorted(known), where
        super().__init__(
            f"--workspace {', '.join(self.missing)}: no such workspace in {where}",
            hint=f"workspaces in {where}: " + (", ".join(self.known) or "none"),
        )


class FileRefused(Exception):
    """A file that is not read; ``message`` says why without quoting anything of it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FileTooLarge(FileRefused):
    """A file over the size limit; ``size`` is None when it grew past the limit while being read."""

    def __init__(self, size: int | None, limit: int) -> None:
        shown = f" {size:,} bytes," if size is not None else ""
        super().__init__(f"file is{shown} larger than the limit of {limit:,} bytes")
        self.size, self.limit = size, limit
