"""Storage backends: where the access configuration lives.

A backend reads a :class:`reconciler.state.Snapshot` of the declared workspaces, takes and releases the
apply lock, and executes a plan's operations in one transaction. The planner, the role rules and the
renderers only see the snapshot types, so they never know which database schema they talk to.

``builtin`` is the first backend: reconciler's own SQLAlchemy tables with Alembic migrations shipped inside
the package (SQLite and PostgreSQL). A second one, planned, reads and writes ToolJet's own PostgreSQL
tables."""
