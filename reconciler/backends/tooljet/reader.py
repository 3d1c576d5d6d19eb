"""Read stage of the ToolJet backend: ToolJet's tables as a :class:`~reconciler.state.Snapshot`.

Mirrors the built-in reader: a constant number of bulk queries (``queries.py``), assembled in memory, with a
fingerprint over every row read (metadata counted as the sha256 of its ciphertext). Alongside the snapshot,
:class:`ToolJetIds` carries the uuids the executor writes with, and the granular rows each group already has,
so that an update can change them in place instead of deleting and recreating them.

How ToolJet's rows become the snapshot's words (docs/tooljet.md has the full table):

- role = the default group (``admin``/``builder``/``end-user``) the user is in within the organization. Several
  are read as ToolJet reads them (``server/src/modules/roles/repository.ts`` ``getUserRole``: the first by
  ``USER_ROLE_PRECEDENCE``, admin before builder before end-user), none as end-user (no default group grants
  nothing); either is recorded in ``Workspace.default_groups_found`` and the plan repairs it (issue 16, M4);
- an app grant = a ``granular_permissions`` row of type ``app`` with its ``apps_group_permissions`` row
  (``can_edit`` -> edit, ``can_view`` -> view, neither -> no access: no grant) and, unless ``is_all``, its
  ``group_apps`` rows; apps without a slug are named ``app <id>`` in ``AppGrant.unnamed`` (M2);
- a data source grant = a row of type ``data_source``; ``can_configure`` -> configure, ``can_use`` -> use,
  neither -> no access (no grant), and no child row at all (what ToolJet CE writes for its default groups) ->
  configure, as ToolJet's defaults say (L1);
- metadata that the key cannot open, or that is not a flat map of strings, is ``Metadata.UNREAD`` with the
  reason in ``Workspace.metadata_problems`` (M3); a key that opens none of the values read is an error;
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
from ...errors import CryptoError, StateError, UnreadableMetadata
from ..common import fingerprint
from .flags import flags_from_columns, mapped_columns, unmapped_flag_columns
from .queries import users_query, workspace_queries, workspaces_query
from .variant import Variant

DEFAULT_GROUPS = ("admin", "builder", "end-user")  # ToolJet's USER_ROLE precedence, highest first
# (workspace slug, email, ciphertext) -> metadata; raises CryptoError (key) or UnreadableMetadata (shape)
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
    unnamed_apps: dict[str, str] = field(default_factory=dict)  # app id -> label, apps without a slug


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
    app_owners: list[Row] = field(default_factory=list)  # (organization id, user id, app name), every app type


def read_snapshot(
    conn: Connection,
    variant: Variant,
    slugs: Collection[str],
    *,
    decrypt: DecryptMetadata,
    release_licence: bool = False,
) -> tuple[state.Snapshot, ToolJetIds]:
    """The declared workspaces (absent ones are simply missing) and every user of the instance.

    Run it inside one REPEATABLE READ transaction (or under the apply lock) so the fingerprint is one moment.
    """
    rows = _Rows(slugs=sorted(set(slugs)))
    rows.users = _fetch(conn, users_query(variant))
    rows.workspaces = _fetch(conn, workspaces_query(variant), slugs=rows.slugs)
    org_ids = sorted(row[0] for row in rows.workspaces)
    if org_ids:
        for name, sql in workspace_queries(variant).items():
            setattr(rows, name, _fetch(conn, sql, ids=org_ids))
    return _Assembly(rows, variant, decrypt, release_licence=release_licence).build()


def _fetch(conn: Connection, sql: str, **params: Any) -> list[Row]:
    return [tuple(row) for row in conn.execute(text(sql), params)]


def _natural(name: str) -> tuple[str, int]:
    """``Apps`` < ``Apps 2`` < ``Apps 10``: the names this tool gives new grants sort in creation order."""
    match = re.fullmatch(r"(.*?) (\d+)", name)
    return (match.group(1), int(match.group(2))) if match else (name, 1)


class _Assembly:
    """Turns the rows into the snapshot and the ids, in one pass per table."""

    def __init__(self, rows: _Rows, variant: Variant, decrypt: DecryptMetadata, *, release_licence: bool) -> None:
        self.rows, self.variant, self.decrypt = rows, variant, decrypt
        self.release_licence = release_licence  # RECONCILER_TOOLJET_RELEASE_LICENSE (see _environment_extras)
        self.ids = ToolJetIds()
        self.slug_of = {org_id: slug for org_id, slug, *_rest in rows.workspaces}
        self.email_of: dict[str, str] = {}
        self.group_of: dict[str, tuple[str, str, str]] = {}  # group id -> (org id, name, type)
        self.metadata_problems: defaultdict[str, dict[str, str]] = defaultdict(dict)  # org id -> email -> why
        self.default_groups_found: defaultdict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        self.app_children_of: defaultdict[str, list[Row]] = defaultdict(list)  # group id -> apps_group_permissions

    def build(self) -> tuple[state.Snapshot, ToolJetIds]:
        users = self._users()
        permissions = self._permissions()
        registry = self._registry()
        memberships = self._memberships()
        workspaces = {}
        for org_id, slug, name, status, is_default in sorted(self.rows.workspaces, key=lambda row: row[1]):
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
                is_default=is_default,
                app_owners=self._app_owners(org_id),
                metadata_problems=dict(sorted(self.metadata_problems[org_id].items())),
                default_groups_found=dict(sorted(self.default_groups_found[org_id].items())),
            )
        snapshot = state.Snapshot(workspaces=workspaces, users=users, fingerprint=fingerprint(self.rows))
        return snapshot, self.ids

    def _app_owners(self, org_id: str) -> dict[str, tuple[str, ...]]:
        owned: defaultdict[str, list[str]] = defaultdict(list)
        for org, user_id, name in self.rows.app_owners:
            if org == org_id and user_id in self.email_of:
                owned[self.email_of[user_id]].append(name)
        return {email: tuple(sorted(names)) for email, names in sorted(owned.items())}

    def _users(self) -> dict[str, state.User]:
        users: dict[str, state.User] = {}
        for user_id, email, first, last, status, super_admin in self.rows.users:
            if email in users:
                continue  # ToolJet stores emails lower-case; a mixed-case twin is not addressable
            archived = status == "archived"
            users[email] = state.User(email, first, last, archived=archived, super_admin=super_admin)
            self.ids.users[email], self.email_of[user_id] = user_id, email
        return dict(sorted(users.items()))

    def _registry(self) -> defaultdict[str, tuple[dict[str, str], set[str]]]:
        registry: defaultdict[str, tuple[dict[str, str], set[str]]] = defaultdict(lambda: ({}, set()))
        for org_id, app_id, slug, name in self.rows.apps:
            if slug is None:  # created by ToolJet's v2 external API: grantable, but no configuration can name it
                self.ids.unnamed_apps[app_id] = unnamed_app_label(app_id, name)
                continue
            registry[org_id][0][slug] = name or ""
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
        The licence is not in the tables this backend reads, so it is counted as ToolJet counts it without one,
        unless RECONCILER_TOOLJET_RELEASE_LICENSE says the instance has it."""
        if not self.variant.env_access or self.release_licence:
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
        targets = {
            "app": _app_targets(self.rows.app_targets),
            "data_source": (_targets(self.rows.data_source_targets), defaultdict(list)),
        }
        built: dict[str, defaultdict[str, list]] = {"app": defaultdict(list), "data_source": defaultdict(list)}
        ordered = sorted(self.rows.granular, key=lambda row: (row[5], _natural(row[2]), row[0]))
        empty: list[tuple[tuple[str, str], ExistingGrant]] = []
        for granular_id, group_id, name, kind, is_all, _created in ordered:
            self.ids.granular_names[group_id].add(name)
            if kind not in built:
                continue  # workflow, folder, module ...: not part of the configuration, never touched
            child = children[kind].get(granular_id)
            if kind == "app" and child is not None:
                self.app_children_of[group_id].append(child)
            grant, access = _grant(kind, is_all, child, targets[kind])
            if grant is not None:  # a child row with every action false grants nothing (L1)
                built[kind][group_id].append(grant)
            existing = ExistingGrant(granular_id, name, child[0] if child else None, access)
            if grant is None:
                empty.append(((group_id, kind), existing))
            else:
                self.ids.grants.setdefault((group_id, kind), []).append(existing)
        # Rows that grant nothing come last, so that the rows the executor changes in place line up with the
        # snapshot's grants (position i is grant i); an update reuses them for added grants, or deletes them.
        for key, existing in empty:
            self.ids.grants.setdefault(key, []).append(existing)
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
        metadata = self._metadata()
        result: defaultdict[str, dict[str, state.Membership]] = defaultdict(dict)
        broken = []
        for org_id, membership_id, user_id, status in sorted(self.rows.memberships, key=lambda row: row[1]):
            email, slug = self.email_of.get(user_id), self.slug_of[org_id]
            if email is None:
                continue  # a user without an email cannot be named in a configuration
            if status not in ("invited", "active", "archived"):
                broken.append(f"{email} in {slug!r} (status {status})")
                continue
            roles = [r for r in DEFAULT_GROUPS if r in defaults[org_id, user_id]]
            if len(roles) != 1 or len(defaults[org_id, user_id]) != 1:
                self.default_groups_found[org_id][email] = tuple(roles)
            self.ids.memberships[slug, email] = membership_id
            result[org_id][email] = state.Membership(
                email=email,
                role=roles[0] if roles else "end-user",  # type: ignore[arg-type]
                status=status,
                groups=frozenset(customs[org_id, user_id]),
                metadata=metadata.get((org_id, user_id), state.Metadata.EMPTY),
            )
        if broken:
            raise StateError(
                "ToolJet's memberships have the status invited, active or archived; these do not: "
                + "; ".join(broken[:10]),
            )
        return {org_id: dict(sorted(members.items())) for org_id, members in result.items()}

    def _metadata(self) -> dict[tuple[str, str], state.Metadata]:
        """Each stored blob as its values, or UNREAD with the reason recorded (ToolJet's reader returns ``{}``
        for what it cannot open or parse: ``server/src/modules/session/util.service.ts`` decryptUserMetadata).
        A blob the key cannot open is tolerated only when another blob of this read opens with it, which shows
        that the key is ToolJet's: with a wrong key every blob fails, and that stays an error."""
        found: dict[tuple[str, str], state.Metadata] = {}
        locked: list[CryptoError] = []
        opened = False
        for org_id, user_id, blob in self.rows.metadata:
            email = self.email_of.get(user_id)
            if email is None:
                continue
            slug = self.slug_of[org_id]
            try:
                found[org_id, user_id] = state.Metadata.of(self.decrypt(slug, email, blob))
                opened = True
                continue
            except CryptoError as exc:
                locked.append(exc)
                reason = "ToolJet's key (LOCKBOX_MASTER_KEY) cannot open it; ToolJet reads it as {}"
            except UnreadableMetadata as exc:
                opened = True  # it decrypted: the key is right
                reason = exc.reason
            found[org_id, user_id] = state.Metadata.UNREAD
            self.metadata_problems[org_id][email] = reason
        if locked and not opened:
            raise locked[0]
        return found


def unnamed_app_label(app_id: str, name: str | None) -> str:
    """How an app without a slug is shown: ``app <id>``, with its name when it has one."""
    return f"app {app_id}" + (f' "{name}"' if name else "") + " (no slug)"


def _targets(rows: list[Row]) -> defaultdict[str, list[str]]:
    found: defaultdict[str, set[str]] = defaultdict(set)
    for child_id, name in rows:
        found[child_id].add(name)
    return defaultdict(list, {child_id: sorted(names) for child_id, names in found.items()})


def _app_targets(rows: list[Row]) -> tuple[defaultdict[str, list[str]], defaultdict[str, list[str]]]:
    """Child id -> the slugs it names, and child id -> the labels of the apps without a slug it names."""
    named = _targets([(child_id, slug) for child_id, slug, _id, _name in rows if slug is not None])
    unnamed = _targets([(c, unnamed_app_label(i, n)) for c, slug, i, n in rows if slug is None])
    return named, unnamed


def _grant(
    kind: str, is_all: bool, child: Row | None, targets: tuple[dict[str, list[str]], dict[str, list[str]]]
) -> tuple[Any, str | None]:
    """The grant a granular row means (None: a child row with every action false grants nothing), and the
    access its child row holds (None without a child, ``none`` for an empty one)."""
    named = None if is_all else tuple(targets[0][child[0]]) if child else ()
    if kind == "app":
        if child is not None and not child[2] and not child[3]:
            return None, "none"
        access = None if child is None else ("edit" if child[2] else "view")
        hidden = bool(child and access == "view" and child[4])
        unnamed = tuple(targets[1][child[0]]) if child and not is_all else ()
        return state.AppGrant(access or "view", named, hidden, unnamed=unnamed), access
    if child is not None and not child[2] and not child[3]:
        return None, "none"
    access = None if child is None else ("configure" if child[2] else "use")
    return state.DataSourceGrant(access or "configure", named), access
