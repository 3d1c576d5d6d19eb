"""Alembic environment for the built-in schema.

Run programmatically only (see ``reconciler.backends.builtin.db``): the caller builds the ``Config`` in code
and passes an open connection in ``config.attributes["connection"]``, so there is no ``alembic.ini`` and no
URL here. Migrations run inside the caller's transaction, which makes the schema change all-or-nothing on
PostgreSQL and, because our SQLite engines emit their own ``BEGIN``, on SQLite as well.
"""

from alembic import context

from reconciler.backends.builtin.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("reconciler runs its migrations programmatically; pass config.attributes['connection']")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,  # SQLite can only ALTER by copying a table
    compare_server_default=True,
)
with context.begin_transaction():
    context.run_migrations()
