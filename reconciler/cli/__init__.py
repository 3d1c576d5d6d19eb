"""The command line (SPEC 3): ``main`` is the ``reconciler`` console script and ``python -m reconciler``.

``app`` holds the click group ``cli``, its global options, the one list of commands and the edge where errors
become ``Error:`` lines and exit codes. One module per command family (``config``, ``database``, ``plan``,
``drift``, ``export``, ``people``, ``report``) defines plain click commands and never imports ``app``; what they
share is below them: ``runtime`` (the options, backend and key of one invocation), ``options``, ``workspaces``
(workspace selection, one wording) and ``output`` (the only writer of ``Error:``/``Warning:``/``Note:`` lines).
"""

from .app import cli, main

__all__ = ["cli", "main"]
