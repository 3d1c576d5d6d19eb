"""The exception hierarchy. Errors carry data; only ``cli.py`` turns them into text and exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field


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
