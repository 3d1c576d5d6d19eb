"""The command line (SPEC 3): the ``reconciler`` console script and ``python -m reconciler`` run :func:`main`."""

from .app import CONFIRM_QUESTION, DISTRIBUTION, cli, main, register_later_commands, use_color

__all__ = ["CONFIRM_QUESTION", "DISTRIBUTION", "cli", "main", "register_later_commands", "use_color"]
