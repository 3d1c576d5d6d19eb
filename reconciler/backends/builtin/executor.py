"""Execute a Plan against the built-in schema inside one open transaction.

Stage: apply. One handler per step of the SPEC 5 order, which ``reconciler.apply_order`` gives (creations,
promotions, permission gains and additions, metadata, losses and removals, demotions and archives, group
destruction). Writes are batched per table (executemany, INSERT ... RETURNING) so the number of statements does
not grow with the number of users.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Table, bindparam, delete, insert, select, update

from ... import ops
from ...apply_order import step_batches
from ...crypto import Keyring, encrypt_metadata
from ...errors import ApplyError, SecretError
from ...state import GroupPermissions
from . import models
from .models import FLAG_COLUMNS, utcnow
from .reader import SnapshotIds
from .seed import ROLE_PERMISSIONS

T_USERS = models.User.__table__
T_WORKSPACES = models.Workspace.__table__
T_APPS = models.App.__table__
T_SOURCES = models.DataSource.__table__
T_GROUPS = models.Group.__table__
T_APP_GRANTS = models.AppGrant.__table__
T_DS_GRANTS = models.DataSourceGrant.__table__
T_MEMBERSHIPS = models.Membership.__table__
T_METADATA = models.MembershipMetadata.__table__
T_GROUP_MEMBERS = models.group_members
T_GRANT_APPS = models.app_grant_apps
T_GRANT_SOURCES = models.data_source_grant_sources

INVITATION_TTL = timedelta(days=7)


@dataclass(frozen=True)
class Invitation:
    """A fresh invitation; the raw token exists only here and in the queued email, never in a table."""

    membership_id: str
    workspace: str
    workspace_id: str
    email: str
    token: str


def new_token() -> tuple[str, str]:
    """A 192-bit URL-safe token and its SHA-256 hex digest (only the digest is stored).

    Never one starting with '-': pasted into ``reconciler accept-invite TOKEN`` it would read as an option.
    """
    token = secrets.token_urlsafe(24)
    while token.startswith("-"):
        token = secrets.token_urlsafe(24)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Executor:
    conn: Connection
    ids: SnapshotIds
    keyring: Keyring | None
    invitation_ttl: timedelta = INVITATION_TTL
    progress: Callable[[int], None] | None = None
    now: datetime = field(default_factory=utcnow)
    invitations: list[Invitation] = field(default_factory=list)
    created_memberships: set[str] = field(default_factory=set)
    # Workspaces archived in the database: no invitation is sent for them unless the plan unarchives them.
    archived_workspaces: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.workspaces = dict(self.ids.workspaces)
        self.apps = dict(self.ids.apps)
        self.sources = dict(self.ids.data_sources)
        self.groups = dict(self.ids.groups)
        self.memberships = dict(self.ids.memberships)
        self.users = dict(self.ids.users)
        self.slugs = {ws_id: slug for slug, ws_id in self.workspaces.items()}  # workspace id -> slug
        self.no_invitations: frozenset[str] = self.archived_workspaces

    def run(self, plan: ops.Plan) -> None:
        """Every step of ``plan`` in the SPEC 5 order of ``apply_order``, one batch per step."""
        self.no_invitations = ops.archived_after(plan, self.archived_workspaces)
        handlers: dict[str, Callable[[list], None]] = {
            "create_workspace": self._create_workspaces,
            "update_workspace": lambda items: self._update_workspaces(items, archive=False),
            "unarchive_workspace": lambda items: self._set_workspace_status(items, "active"),
            "create_app": self._create_apps,
            "update_app": self._update_apps,
            "create_data_source": self._create_sources,
            "rename_group": self._rename_groups,
            "create_group": self._create_groups,
            "promote": self._set_roles,
            "set_permissions": lambda items: self._set_permissions(
                [(op.workspace, _group_name(op), op.after) for op in items]
            ),
            "create_user": self._create_users,
            "update_user": self._update_users,
            "create_membership": self._create_memberships,
            "unarchive_membership": self._unarchive,
            "join_groups": lambda items: self._add_to_groups(
                [(op.workspace, op.email, g) for op in items for g in _joined(op)]
            ),
            "write_metadata": lambda items: self._write_metadata(
                [(op.workspace, op.email, dict(op.metadata.values)) for op in items]
            ),
            "leave_groups": lambda items: self._remove_from_groups(
                [(op.workspace, op.email, g) for op in items for g in op.groups_removed]
            ),
            "transfer_apps": self._no_app_owners,
            "demote": self._set_roles,
            "archive_membership": self._archive,
            "archive_workspace": self._archive_workspaces,
            "destroy_group": self._destroy_groups,
        }
        for step, items in step_batches(plan):
            handlers[step](items)

    def _no_app_owners(self, items: list[ops.TransferApps]) -> None:
        """The built-in schema has no app owners, so its snapshots never lead to a ``TransferApps``."""
        if items:
            raise ApplyError("the builtin backend has no app owners to transfer; nothing was changed")

    # --- workspaces and registry ---------------------------------------------------------------

    def _create_workspaces(self, items: list[ops.CreateWorkspace]) -> None:
        if not items:
            return
        rows = [
            {
                "id": models.new_uuid(),
                "slug": op.workspace,
                "name": op.name,
                "status": op.status,
                "created_at": self.now,
                "updated_at": self.now,
            }
            for op in items
        ]
        self.conn.execute(insert(T_WORKSPACES), rows)
        self.workspaces.update({r["slug"]: r["id"] for r in rows})
        self.slugs.update({r["id"]: r["slug"] for r in rows})
        role_rows = [
            {"workspace_id": r["id"], "name": name, "kind": "role", **_flag_values(perms)}
            for r in rows
            for name, perms in ROLE_PERMISSIONS.items()
        ]
        self._insert_groups(role_rows)
        self._replace_grants(
            [(op.workspace, name, perms) for op in items for name, perms in ROLE_PERMISSIONS.items()],
            existing=False,
        )
        self._tick(len(items))

    def _update_workspaces(self, items: list[ops.UpdateWorkspace], *, archive: bool) -> None:
        for op in items:
            values = {c.field: c.new for c in op.changes if (c.field == "status" and c.new == "archived") == archive}
            if values:
                values["updated_at"] = self.now
                self.conn.execute(
                    update(T_WORKSPACES).where(T_WORKSPACES.c.id == self.workspaces[op.workspace]).values(**values)
                )
        self._tick(len(items))

    def _archive_workspaces(self, items: list[ops.UpdateWorkspace | ops.ArchiveWorkspace]) -> None:
        """An old saved plan's ``status: archived`` changes, then the ``ArchiveWorkspace`` ops."""
        self._update_workspaces([op for op in items if isinstance(op, ops.UpdateWorkspace)], archive=True)
        self._set_workspace_status([op for op in items if isinstance(op, ops.ArchiveWorkspace)], "archived")

    def _set_workspace_status(
        self, items: list[ops.ArchiveWorkspace] | list[ops.UnarchiveWorkspace], status: str
    ) -> None:
        rows = [{"b_id": self.workspaces[op.workspace], "v_status": status, "v_now": self.now} for op in items]
        self._executemany(
            update(T_WORKSPACES)
            .where(T_WORKSPACES.c.id == bindparam("b_id"))
            .values(status=bindparam("v_status"), updated_at=bindparam("v_now")),
            rows,
        )
        self._tick(len(items))

    def _create_apps(self, items: list[ops.CreateApp]) -> None:
        rows = [{"workspace_id": self.workspaces[op.workspace], "slug": op.slug, "name": op.name} for op in items]
        for (ws_id, slug), new_id in self._insert_returning(T_APPS, rows, ("workspace_id", "slug")):
            self.apps[(self._slug(ws_id), slug)] = new_id
        self._tick(len(items))

    def _update_apps(self, items: list[ops.UpdateApp]) -> None:
        rows = [
            {"b_id": self.apps[(op.workspace, op.slug)], "v_name": c.new}
            for op in items
            for c in op.changes
            if c.field == "name"
        ]
        self._executemany(update(T_APPS).where(T_APPS.c.id == bindparam("b_id")).values(name=bindparam("v_name")), rows)
        self._tick(len(items))

    def _create_sources(self, items: list[ops.CreateDataSource]) -> None:
        rows = [{"workspace_id": self.workspaces[op.workspace], "name": op.name} for op in items]
        for (ws_id, name), new_id in self._insert_returning(T_SOURCES, rows, ("workspace_id", "name")):
            self.sources[(self._slug(ws_id), name)] = new_id
        self._tick(len(items))

    # --- groups --------------------------------------------------------------------------------

    def _rename_groups(self, items: list[ops.RenameGroup]) -> None:
        for op in items:
            group_id = self.groups.pop((op.workspace, op.old_name))
            self.conn.execute(update(T_GROUPS).where(T_GROUPS.c.id == group_id).values(name=op.new_name))
            self.groups[(op.workspace, op.new_name)] = group_id
        self._tick(len(items))

    def _create_groups(self, items: list[ops.CreateGroup]) -> None:
        rows = [
            {
                "workspace_id": self.workspaces[op.workspace],
                "name": op.name,
                "kind": "custom",
                **_flag_values(op.permissions),
            }
            for op in items
        ]
        self._insert_groups(rows)
        self._replace_grants([(op.workspace, op.name, op.permissions) for op in items], existing=False)
        self._tick(len(items))

    def _insert_groups(self, rows: list[dict]) -> None:
        for (ws_id, name), new_id in self._insert_returning(T_GROUPS, rows, ("workspace_id", "name")):
            self.groups[(self._slug(ws_id), name)] = new_id

    def _set_permissions(self, items: list[tuple[str, str, GroupPermissions]]) -> None:
        rows = [
            {"b_id": self.groups[(slug, name)], **{f"v_{k}": v for k, v in _flag_values(perms).items()}}
            for slug, name, perms in items
        ]
        values = {column: bindparam(f"v_{column}") for column in FLAG_COLUMNS.values()}
        self._executemany(update(T_GROUPS).where(T_GROUPS.c.id == bindparam("b_id")).values(**values), rows)
        self._replace_grants(items, existing=True)
        self._tick(len(items))

    def _replace_grants(self, items: list[tuple[str, str, GroupPermissions]], *, existing: bool) -> None:
        """Delete a group's grants and write them anew, in their declared order (position)."""
        group_ids = [self.groups[(slug, name)] for slug, name, _ in items]
        if existing:
            by_group = [{"b_group": group_id} for group_id in group_ids]
            self._executemany(delete(T_APP_GRANTS).where(T_APP_GRANTS.c.group_id == bindparam("b_group")), by_group)
            self._executemany(delete(T_DS_GRANTS).where(T_DS_GRANTS.c.group_id == bindparam("b_group")), by_group)
        app_rows, app_targets, ds_rows, ds_targets = [], [], [], []
        for (slug, _name, perms), group_id in zip(items, group_ids, strict=True):
            for position, grant in enumerate(perms.app_grants):
                app_rows.append(
                    {
                        "group_id": group_id,
                        "position": position,
                        "access": grant.access,
                        "all_apps": grant.apps is None,
                        "hide_from_dashboard": grant.hide_from_dashboard,
                    }
                )
                app_targets.append([self.apps[(slug, a)] for a in grant.apps or ()])
            for position, grant in enumerate(perms.data_source_grants):
                ds_rows.append(
                    {
                        "group_id": group_id,
                        "position": position,
                        "access": grant.access,
                        "all_data_sources": grant.data_sources is None,
                    }
                )
                ds_targets.append([self.sources[(slug, d)] for d in grant.data_sources or ()])
        app_ids = self._insert_grants(T_APP_GRANTS, app_rows)
        ds_ids = self._insert_grants(T_DS_GRANTS, ds_rows)
        self._executemany(
            insert(T_GRANT_APPS),
            [{"grant_id": g, "app_id": a} for g, targets in zip(app_ids, app_targets, strict=True) for a in targets],
        )
        self._executemany(
            insert(T_GRANT_SOURCES),
            [
                {"grant_id": g, "data_source_id": d}
                for g, targets in zip(ds_ids, ds_targets, strict=True)
                for d in targets
            ],
        )

    def _destroy_groups(self, items: list[ops.DestroyGroup]) -> None:
        rows = [{"b_group": self.groups.pop((op.workspace, op.name))} for op in items]
        self._executemany(delete(T_GROUP_MEMBERS).where(T_GROUP_MEMBERS.c.group_id == bindparam("b_group")), rows)
        self._executemany(delete(T_GROUPS).where(T_GROUPS.c.id == bindparam("b_group")), rows)
        self._tick(len(items))

    # --- people --------------------------------------------------------------------------------

    def _create_users(self, items: list[ops.CreateUser]) -> None:
        rows = [
            {
                "email": op.email,
                "first_name": op.first_name,
                "last_name": op.last_name,
                "created_at": self.now,
                "updated_at": self.now,
            }
            for op in items
        ]
        bulk_insert(self.conn, T_USERS, rows)
        if rows:
            # Read the new ids back in one statement: INSERT ... RETURNING would cost one statement per row on
            # SQLite and one per page of rows on PostgreSQL. Every row of this apply has created_at == now.
            new = {row["email"] for row in rows}
            found = self.conn.execute(select(T_USERS.c.email, T_USERS.c.id).where(T_USERS.c.created_at == self.now))
            self.users.update({email: user_id for email, user_id in found if email in new})
        self._tick(len(items))

    def _update_users(self, items: list[ops.UpdateUser]) -> None:
        for field_name in ("first_name", "last_name"):
            rows = [
                {"b_id": self.users[op.email], "v_value": c.new, "v_now": self.now}
                for op in items
                for c in op.changes
                if c.field == field_name
            ]
            self._executemany(
                update(T_USERS)
                .where(T_USERS.c.id == bindparam("b_id"))
                .values({field_name: bindparam("v_value"), "updated_at": bindparam("v_now")}),
                rows,
            )
        self._tick(len(items))

    def _create_memberships(self, items: list[ops.CreateMembership]) -> None:
        rows = []
        for op in items:
            membership_id = models.new_uuid()
            token_hash, expires = self._invite(op.workspace, op.email, membership_id, op.status == "invited")
            rows.append(
                {
                    "id": membership_id,
                    "workspace_id": self.workspaces[op.workspace],
                    "user_id": self.users[op.email],
                    "role": op.role,
                    "status": op.status,
                    "invitation_token_hash": token_hash,
                    "invitation_expires_at": expires,
                    "created_at": self.now,
                    "updated_at": self.now,
                }
            )
            self.memberships[(op.workspace, op.email)] = membership_id
            self.created_memberships.add(membership_id)
        bulk_insert(self.conn, T_MEMBERSHIPS, rows)
        self._tick(len(items))

    def _invite(self, slug: str, email: str, membership_id: str, invited: bool) -> tuple[str | None, datetime | None]:
        """A token and a queued email for an invited membership; none in a workspace that is or becomes archived
        (``invite-url`` issues a link once it is active again)."""
        if not invited or slug in self.no_invitations:
            return None, None
        token, digest = new_token()
        self.invitations.append(Invitation(membership_id, slug, self.workspaces[slug], email, token))
        return digest, self.now + self.invitation_ttl

    def _unarchive(self, items: list[ops.UnarchiveMembership]) -> None:
        rows = []
        for op in items:
            membership_id = self.memberships[(op.workspace, op.email)]
            digest, expires = self._invite(op.workspace, op.email, membership_id, True)
            rows.append({"b_id": membership_id, "v_token": digest, "v_expires": expires, "v_now": self.now})
        self._set_status(rows, "invited")
        self._tick(len(items))

    def _archive(self, items: list[ops.ArchiveMembership]) -> None:
        rows = [
            {
                "b_id": self.memberships[(op.workspace, op.email)],
                "v_token": None,
                "v_expires": None,
                "v_now": self.now,
            }
            for op in items
        ]
        self._set_status(rows, "archived")
        self._tick(len(items))

    def _set_status(self, rows: list[dict], status: str) -> None:
        self._executemany(
            update(T_MEMBERSHIPS)
            .where(T_MEMBERSHIPS.c.id == bindparam("b_id"))
            .values(
                status=status,
                invitation_token_hash=bindparam("v_token"),
                invitation_expires_at=bindparam("v_expires"),
                updated_at=bindparam("v_now"),
            ),
            rows,
        )

    def _set_roles(self, items: list[ops.UpdateMembership]) -> None:
        rows = [
            {"b_id": self.memberships[(op.workspace, op.email)], "v_role": op.role.new, "v_now": self.now}
            for op in items
            if op.role is not None
        ]
        self._executemany(
            update(T_MEMBERSHIPS)
            .where(T_MEMBERSHIPS.c.id == bindparam("b_id"))
            .values(role=bindparam("v_role"), updated_at=bindparam("v_now")),
            rows,
        )
        self._tick(len(items))

    def _add_to_groups(self, items: list[tuple[str, str, str]]) -> None:
        rows = [
            {"group_id": self.groups[(slug, group)], "membership_id": self.memberships[(slug, email)]}
            for slug, email, group in items
        ]
        bulk_insert(self.conn, T_GROUP_MEMBERS, rows)

    def _remove_from_groups(self, items: list[tuple[str, str, str]]) -> None:
        rows = [
            {"b_group": self.groups[(slug, group)], "b_membership": self.memberships[(slug, email)]}
            for slug, email, group in items
        ]
        link = T_GROUP_MEMBERS.c
        self._executemany(
            delete(T_GROUP_MEMBERS).where(
                link.group_id == bindparam("b_group"), link.membership_id == bindparam("b_membership")
            ),
            rows,
        )
        self._tick(len(items))

    def _write_metadata(self, items: list[tuple[str, str, dict[str, str]]]) -> None:
        """Replace each membership's blob; ``{}`` removes it (no metadata)."""
        if not items:
            return
        ids = [self.memberships[(slug, email)] for slug, email, _ in items]
        # A membership created by this apply has no metadata yet: only older ones need the delete.
        created = self.created_memberships
        self._executemany(
            delete(T_METADATA).where(T_METADATA.c.membership_id == bindparam("b_membership")),
            [{"b_membership": membership_id} for membership_id in ids if membership_id not in created],
        )
        rows = []
        for membership_id, (_slug, _email, values) in zip(ids, items, strict=True):
            if not values:
                continue
            if self.keyring is None:
                raise SecretError(
                    "metadata is configured but no master key is available",
                    hint="set RECONCILER_MASTER_KEY (64 hex characters) or pass --master-key-file",
                )
            rows.append(
                {
                    "membership_id": membership_id,
                    "ciphertext": encrypt_metadata(self.keyring, membership_id, values),
                    "updated_at": self.now,
                }
            )
        bulk_insert(self.conn, T_METADATA, rows)
        self._tick(len(items))

    # --- helpers -------------------------------------------------------------------------------

    def _slug(self, workspace_id: str) -> str:
        return self.slugs[workspace_id]

    def _executemany(self, statement, rows: list[dict]) -> None:
        if rows:
            self.conn.execute(statement, rows)

    def _insert_returning(self, table: Table, rows: list[dict], keys: tuple[str, ...]) -> list[tuple[tuple, int]]:
        """Insert many rows at once; (natural key, new id) pairs.

        The natural key comes back with the id, so the order of the returned rows does not matter, and the
        driver may batch the rows (``sort_by_parameter_order`` would cost one statement per row on SQLite).
        Used for registry entries, groups and grants, whose number does not grow with the number of users.
        """
        if not rows:
            return []
        result = self.conn.execute(insert(table).returning(table.c.id, *(table.c[k] for k in keys)), rows)
        return [(tuple(row[1:]), row[0]) for row in result]

    def _insert_grants(self, table: Table, rows: list[dict]) -> list[int]:
        """The ids of new grant rows, in the order of ``rows`` (a grant is keyed by group and position)."""
        ids = dict(self._insert_returning(table, rows, ("group_id", "position")))
        return [ids[(row["group_id"], row["position"])] for row in rows]

    def _tick(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)


def bulk_insert(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Insert many rows (all with the same keys) in one driver call, without per-row SQLAlchemy processing.

    SQLAlchemy's executemany converts every parameter of every row (``construct_params`` and the bind
    processors, e.g. ``UtcDateTime``); here each column is converted once per distinct value, which suits
    columns of repeated values (timestamps, roles, statuses). SQLite gets one ``executemany`` of tuples;
    PostgreSQL gets ``COPY ... FROM STDIN`` (psycopg), a single stream instead of one protocol message per row.
    Columns left out of the rows must not have Python-side defaults (they are not applied here).
    """
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    columns = []
    for name in names:
        values = [row[name] for row in rows]
        process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            memo: dict = {}
            values = [memo[v] if v in memo else memo.setdefault(v, process(v)) for v in values]
        columns.append(values)
    tuples = list(zip(*columns, strict=True))
    quote = dialect.identifier_preparer
    target = f"{quote.format_table(table)} ({', '.join(quote.quote(name) for name in names)})"
    if dialect.name == "postgresql":
        cursor = conn.connection.dbapi_connection.cursor()  # the apply's own connection and transaction
        try:
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for row in tuples:
                    copy.write_row(row)
        finally:
            cursor.close()
        return
    marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
    if marker is None:  # pragma: no cover - SQLite and psycopg use the styles above
        conn.execute(insert(table), rows)
        return
    conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join([marker] * len(names))})", tuples)


def _group_name(op: ops.UpdateBuilderRole | ops.UpdateGroup) -> str:
    return "builder" if isinstance(op, ops.UpdateBuilderRole) else op.name


def _joined(op: ops.CreateMembership | ops.UpdateMembership) -> tuple[str, ...]:
    return op.groups if isinstance(op, ops.CreateMembership) else op.groups_added


def _flag_values(perms: GroupPermissions) -> dict[str, bool]:
    return {column: flag in perms.flags for flag, column in FLAG_COLUMNS.items()}
