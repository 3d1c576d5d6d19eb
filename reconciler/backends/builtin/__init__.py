"""The built-in backend: reconciler's own schema on SQLite or PostgreSQL.

- ``models``      SQLAlchemy tables (the schema of record; ``migrations/`` must match it)
- ``db``          URLs, engines, opening and upgrading a database (Alembic)
- ``reader``      bulk read of the declared workspaces into a ``Snapshot`` plus the database ids
- ``seed``        rows every new workspace starts with (its three role groups)
- ``executor``    writes a plan's operations in one transaction
"""
