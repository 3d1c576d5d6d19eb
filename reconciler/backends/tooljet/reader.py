"""Read stage of the ToolJet backend: ToolJet's tables as a :class:`~reconciler.state.Snapshot`.

Mirrors the built-in reader: a constant number of bulk queries (``queries.py``), assembled in memory, with a
fingerprint over every row read (metadata counted as the sha256 of its ciphertext). Alongside the snapshot,
:class:`ToolJetIds` carries the uuids the executor writes with, and the granular rows each group already has,
so that an update can change them in place instead of deleting and recreating them.

How ToolJet's rows become the snapshot's words (docs/tooljet.md has the full table):

- role = the one default group (``admin``/``builder``/``end-user``) the user is in within the organization;
  none or several is a :class:`StateError` (ToolJet requires exactly one);
- an app grant = a ``granular_permissions`` row of type ``app`` with its ``apps_group_permissions`` row
  (``can_edit`` -> edit, else view) and, unless ``is_all``, its ``group_apps`` rows;
- a data source grant = a row of type ``data_source``; ``can_configure`` -> configure, ``can_use`` -> use, and
  no child row at all (what ToolJet CE writes for its default groups) -> configure, as ToolJet's defaults say;
- grants keep the order they were created in (``created_at``, then the name), which is the configuration order
  for rows this tool wrote;
- a member who joined by single sign-on (``users.source`` google/git/openid/ldap/saml, or an SSO profile in
  ``user_details.sso_user_info``) is an ordinary member, marked in ``Workspace.sso_sources`` (issue 17).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, text

from ... import state
from ...errors import StateError
from ..common import fingerprint
from .flags import flags_from_columns, mapped_columns, unmapped_flag_columns
from .queries import WORKSPACES, users_query, workspace_queries
from .variant import Variant

DEFAULT_GROUPS = ("admin", "builder", "end-user")  # ToolJet's USER_ROLE precedence, highest first
# (workspace slug, email, ciphertext) -> metadata
DecryptMetadata = Callable[[str, str, str], dict[str, str]]
Row = tuple[Any, ...]


@dataclass(frozen=True)
class ExistingGrant:
    """A granular row as stored; ``access`` is None when it has no child row."""

    granular_id: str
    name: str
    child_id: str | None
    access: str | None


@dataclass
class ToolJetIds:
    """Database ids behind a snapshot, keyed by the names the plan uses."""

    workspaces: dict[str, str] = field(default_factory=dict)  # slug -> organization id
    workspace_names: dict[str, str] = field(default_factory=dict)  # slug -> name
    apps: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, app slug)
    data_sources: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, name)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, name), default groups included
    grants: dict[tuple[str, str], list[ExistingGrant]] = field(default_factory=dict)  # (group id, kind)
    granular_names: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # every type
    memberships: dict[tuple[str, str], str] = field(default_factory=dict)  # (slug, email) -> organization_users id
    users: dict[str, str] = field(default_factory=dict)  # email -> users.id
    archived_users: set[str] = field(default_factory=set)  # emails archived in the whole instance


@dataclass
class _Rows:
    """The raw result of every query (also the input of the fingerprint)."""

    slugs: list[str]
    users: list[Row] = field(default_factory=list)
    workspaces: list[Row] = field(default_factory=list)
    apps: list[Row] = field(default_factory=list)
    data_sources: list[Row] = field(default_factory=list)
    groups: list[Row] = field(default_factory=list)
    granular: list[Row] = field(default_factory=list)
    app_children: list[Row] = field(default_factory=list)
    app_targets: list[Row] = field(default_factory=list)
    data_source_children: list[Row] = field(default_factory=list)
    data_source_targets: list[Row] = field(default_factory=list)
    memberships: list[Row] = field(default_factory=list)
    group_users: list[Row] = field(default_factory=list)
    sso_members: list[Row] = field(default_factory=list)  # (organization id, user id, source or None)
    metadata: list[Row] = field(default_factory=list)  # (organization id, user id, ciphertext)


def read_snapshot(
    conn: Connection, variant: Variant, slugs: Collection[str], *, decrypt: DecryptMetadata
) -> tuple[state.Snapshot, ToolJetIds]:
    """The declared workspaces (absent ones are simply missing) and every user of the instance.

    Run it inside one REPEATABLE READ transaction (or under the apply lock) so the fingerprint is one moment.
    """
    rows = _Rows(slugs=sorted(set(slugs)))
    rows.users = _fetch(conn, users_query(variant))
    rows.workspaces = _fetch(conn, WORKSPACES, slugs=rows.slugs)
    org_ids = sorted(row[0] for row in rows.workspaces)
    if org_ids:
        for name, sql in workspace_queries(variant).items():
            setattr(rows, name, _fetch(conn, sql, ids=org_ids))
    return _Assembly(rows, variant, decrypt).build()


def _fetch(conn: Connection, sql: str, **params: Any) -> list[Row]:
    return [tuple(row) for row in conn.execute(text(sql), params)]


def _natural(name: str) -> tuple[str, int]:
    """``Apps`` < ``Apps 2`` < ``Apps 10``: the names this tool gives new grants sort in creation order."""
    match = re.fullmatch(r"(.*?) (\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, 1)


class _Assembly:
    """Turns the rows into the snapshot and the ids, in one pass per table."""

    def __init__(self, rows: _Rows, variant: Variant, decrypt: DecryptMetadata) -> None:
        self.rows, self.variant, self.decrypt = rows, variant, decrypt
        self.ids = ToolJetIds()
        self.slug_of = {org_id: slug for org_id, slug, _name, _status in rows.workspaces}
        self.email_of: dict[str, str] = {}
        self.group_of: dict[str, tuple[str, str, str]] = {}  # group id -> (org id, name, type)
        self.app_children_of: defaultdict[str, list[Row]] = defaultdict(list)  # group id -> apps_group_permissions

    def build(self) -> tuple[state.Snapshot, ToolJetIds]:
        users = self._users()
        permissions = self._permissions()
        registry = self._registry()
        memberships = self._memberships()
        workspaces = {}
        for org_id, slug, name, status in sorted(self.rows.workspaces, key=lambda row: row[1]):
            self.ids.workspaces[slug], self.ids.workspace_names[slug] = org_id, name
            if status not in ("active", "archived"):
                raise StateError(f"workspace {slug!r} has status {status!r}, which this backend does not know")
            apps, sources = registry[org_id]
            builder, custom = self._groups(org_id, slug, permissions)
            workspaces[slug] = state.Workspace(
                slug=slug,
                name=name,
                status=status,
                apps=dict(sorted(apps.items())),
                data_sources=frozenset(sources),
                builder=builder,
                groups=custom,
                memberships=memberships.get(org_id, {}),
                id=org_id,
                sso_sources=self._sso_sources(org_id),
            )
        snapshot = state.Snapshot(workspaces=workspaces, users=users, fingerprint=fingerprint(self.rows))
        return snapshot, self.ids

    def _users(self) -> dict[str, state.User]:
        users: dict[str, state.User] = {}
        for user_id, email, first, last, status, super_admin in self.rows.users:
            if email in users:
                continue  # ToolJet stores emails lower-case; a mixed-case twin is not addressable
            archived = status == "archived"
            users[email] = state.User(email, first, last, archived=archived, super_admin=super_admin)
            self.ids.users[email], self.email_of[user_id] = user_id, email
            if archived:
                self.ids.archived_users.add(email)
        return dict(sorted(users.items()))

    def _registry(self) -> defaultdict[str, tuple[dict[str, str], set[str]]]:
        registry: defaultdict[str, tuple[dict[str, str], set[str]]] = defaultdict(lambda: ({}, set()))
        for org_id, app_id, slug, name in self.rows.apps:
            registry[org_id][0][slug] = name
            self.ids.apps[self.slug_of[org_id], slug] = app_id
        for org_id, source_id, name in self.rows.data_sources:  # oldest first: it wins a duplicated name
            registry[org_id][1].add(name)
            self.ids.data_sources.setdefault((self.slug_of[org_id], name), source_id)
        return registry

    def _permissions(self) -> dict[str, state.GroupPermissions]:
        """Group id -> flags and grants, for every group of the declared workspaces."""
        columns = (*mapped_columns(self.variant), *unmapped_flag_columns(self.variant))
        unmapped = unmapped_flag_columns(self.variant)
        app_grants, source_grants = self._grants()
        result = {}
        for org_id, group_id, name, kind, *values in self.rows.groups:
            self.group_of[group_id] = (org_id, name, kind)
            self.ids.groups[self.slug_of[org_id], name] = group_id
            stored = dict(zip(columns, values, strict=True))
            result[group_id] = state.GroupPermissions(
                flags=flags_from_columns(self.variant, stored),
                app_grants=tuple(app_grants[group_id]),
                data_source_grants=tuple(source_grants[group_id]),
                # ToolJet's isEditableGroup counts every true boolean column (issue 16, M5)
                builder_level_extras=(
                    *(f"ToolJet flag {c}" for c in unmapped if stored[c]),
                    *self._environment_extras(group_id),
                ),
            )
        return result

    def _environment_extras(self, group_id: str) -> tuple[str, ...]:
        """An app row without edit (a view grant, or a row that grants nothing) whose can_access_* reaches
        development, staging or production: builder-level in ToolJet without the release licence
        (roles/util.service.ts, checkIfBuilderLevelEnvironmentPermissions, which looks at the environments only).
        The licence is not in the tables this backend reads, so it is counted as ToolJet counts it without one."""
        if not self.variant.env_access:
            return ()
        names = ("development", "staging", "production")
        reached = {
            name
            for child in self.app_children_of[group_id]
            if not child[2]
            for name, on in zip(names, child[5:8], strict=True)
            if on
        }
        if not reached:
            return ()
        return ("app access to the " + ", ".join(n for n in names if n in reached) + " environment",)

    def _grants(self) -> tuple[defaultdict[str, list], defaultdict[str, list]]:
        children = {
            "app": {row[1]: row for row in sorted(self.rows.app_children, reverse=True)},
            "data_source": {row[1]: row for row in sorted(self.rows.data_source_children, reverse=True)},
        }
        targets = {"app": _targets(self.rows.app_targets), "data_source": _targets(self.rows.data_source_targets)}
        built: dict[str, defaultdict[str, list]] = {"app": defaultdict(list), "data_source": defaultdict(list)}
        ordered = sorted(self.rows.granular, key=lambda row: (row[5], _natural(row[2]), row[0]))
        for granular_id, group_id, name, kind, is_all, _created in ordered:
            self.ids.granular_names[group_id].add(name)
            if kind not in built:
                continue  # workflow, folder, module ...: not part of the configuration, never touched
            child = children[kind].get(granular_id)
            if kind == "app" and child is not None:
                self.app_children_of[group_id].append(child)
            grant, access = _grant(kind, is_all, child, targets[kind])
            built[kind][group_id].append(grant)
            existing = ExistingGrant(granular_id, name, child[0] if child else None, access)
            self.ids.grants.setdefault((group_id, kind), []).append(existing)
        return built["app"], built["data_source"]

    def _groups(
        self, org_id: str, slug: str, permissions: dict[str, state.GroupPermissions]
    ) -> tuple[state.GroupPermissions, dict[str, state.GroupPermissions]]:
        builder, custom = None, {}
        for group_id, (group_org, name, kind) in sorted(self.group_of.items(), key=lambda item: item[1][1]):
            if group_org != org_id:
                continue
            if kind == "custom":
                custom[name] = permissions[group_id]
            elif name == "builder":
                builder = permissions[group_id]
        if builder is None:
            raise StateError(f"workspace {slug!r} has no default 'builder' group; ToolJet creates one per workspace")
        return builder, custom

    def _sso_sources(self, org_id: str) -> dict[str, str]:
        """The members of the workspace that joined by single sign-on, and how (issue 17)."""
        found = {}
        for org, user_id, source in self.rows.sso_members:
            email = self.email_of.get(user_id)
            if org == org_id and email is not None:
                found[email] = source or "sso"
        return dict(sorted(found.items()))

    def _memberships(self) -> dict[str, dict[str, state.Membership]]:
        defaults: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        customs: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        for org_id, user_id, group_id in self.rows.group_users:
            _org, name, kind = self.group_of[group_id]
            if kind == "default":
                defaults[org_id, user_id].append(name)
            else:
                customs[org_id, user_id].add(name)
        blobs = {(org, user): blob for org, user, blob in self.rows.metadata}
        result: defaultdict[str, dict[str, state.Membership]] = defaultdict(dict)
        broken = []
        for org_id, membership_id, user_id, status in sorted(self.rows.memberships, key=lambda row: row[1]):
            email, slug = self.email_of.get(user_id), self.slug_of[org_id]
            if email is None:
                continue  # a user without an email cannot be named in a configuration
            roles = [r for r in DEFAULT_GROUPS if r in defaults[org_id, user_id]]
            if len(roles) != 1 or status not in ("invited", "active", "archived"):
                broken.append(f"{email} in {slug!r} (default groups: {', '.join(roles) or 'none'}, status {status})")
                continue
            self.ids.memberships[slug, email] = membership_id
            blob = blobs.get((org_id, user_id))
            result[org_id][email] = state.Membership(
                email=email,
                role=roles[0],  # type: ignore[arg-type]
                status=status,
                groups=frozenset(customs[org_id, user_id]),
                metadata=state.Metadata.EMPTY if blob is None else state.Metadata.of(self.decrypt(slug, email, blob)),
            )
        if broken:
            raise StateError(
                "ToolJet requires every member to be in exactly one default group (admin, builder, end-user) "
                "with status invited, active or archived; these are not: " + "; ".join(broken[:10]),
                hint="fix the role in ToolJet (Workspace settings > Users > Edit role) and plan again",
            )
        return {org_id: dict(sorted(members.items())) for org_id, members in result.items()}


def _targets(rows: list[Row]) -> defaultdict[str, list[str]]:
    found: defaultdict[str, set[str]] = defaultdict(set)
    for child_id, name in rows:
        found[child_id].add(name)
    return defaultdict(list, {child_id: sorted(names) for child_id, names in found.items()})


def _grant(kind: str, is_all: bool, child: Row | None, targets: dict[str, list[str]]) -> tuple[Any, str | None]:
    """The grant a granular row means, and the access its child row holds (None without a child)."""
    named = None if is_all else tuple(targets[child[0]]) if child else ()
    if kind == "app":
        access = None if child is None else ("edit" if child[2] else "view")
        hidden = bool(child and access == "view" and child[4])
        return state.AppGrant(access or "view", named, hidden), access
    access = None if child is None else ("configure" if child[2] or not child[3] else "use")
    return state.DataSourceGrant(access or "configure", named), access
