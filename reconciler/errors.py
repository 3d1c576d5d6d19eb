"""The exception hierarchy. Errors carry data; only ``cli.py`` turns them into text and exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class ConfigError(ReconcilerError):
    """One or more problems in the configuration; all problems of a run are reported together."""

    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.lines()[0] if self.problems else "invalid configuration")

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class SecretError(ReconcilerError):
    """A secret reference could not be resolved, or no key is available for encrypted data."""


class StateError(ReconcilerError):
    """The database is not usable as it is (wrong schema revision, not a reconciler database, ...)."""


class DatabaseMissing(StateError):
    """The database, or its reconciler schema, does not exist yet: only ``apply`` and ``db upgrade`` create them."""


class CryptoError(ReconcilerError):
    """Ciphertext or a signature did not verify, or a key is malformed."""


class PlanRefused(ReconcilerError):
    """A safety rail refused the plan before anything was written."""

    def __init__(self, rule: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.rule = rule


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

    ``rule`` and ``hint`` are the first refusal's; the CLI prints ``Error:`` per line, like a ConfigError.
    """

    def __init__(self, refusals: list[PlanRefused]) -> None:
        first = refusals[0]
        super().__init__(first.rule, first.message, hint=first.hint)
        self.refusals = list(refusals)

    def lines(self) -> list[str]:
        return [line for refusal in self.refusals for line in refusal.lines()]


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
