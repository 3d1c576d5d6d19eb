"""Read stage of the built-in backend: the declared workspaces as a :class:`~reconciler.state.Snapshot`.

Everything is loaded in a constant number of bulk queries (one per table, joined on the workspace), never one
per user or group, so reading 10 or 10,000 memberships costs the same number of round trips. Alongside the
snapshot, :class:`SnapshotIds` carries the database ids the executor needs to write the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import Session

from reconciler import state
from reconciler.backends.builtin import models
from reconciler.backends.builtin.models import FLAG_COLUMNS
from reconciler.errors import StateError

from ..common import fingerprint

DecryptMetadata = Callable[[str, str], dict[str, str]]  # (membership id, ciphertext blob) -> metadata
IN_LIST_CHUNK = 500  # values per IN (...) list


@dataclass(frozen=True)
class SnapshotIds:
    """Database ids behind a snapshot, keyed by the names the plan uses."""

    workspaces: dict[str, str] = field(default_factory=dict, hash=False)  # slug -> id
    apps: dict[tuple[str, str], int] = field(default_factory=dict, hash=False)  # (slug, app slug)
    data_sources: dict[tuple[str, str], int] = field(default_factory=dict, hash=False)  # (slug, name)
    groups: dict[tuple[str, str], int] = field(default_factory=dict, hash=False)  # (slug, name), incl. roles
    memberships: dict[tuple[str, str], str] = field(default_factory=dict, hash=False)  # (slug, email)
    users: dict[str, int] = field(default_factory=dict, hash=False)  # email -> id
    memberships_with_metadata: frozenset[str] = frozenset()  # membership ids that have a metadata row


Row = tuple[Any, ...]


@dataclass
class _Rows:
    """The raw result of every query, as plain tuples (also the input of the fingerprint)."""

    slugs: list[str]
    users: list[Row] = field(default_factory=list)
    workspaces: list[Row] = field(default_factory=list)
    apps: list[Row] = field(default_factory=list)
    data_sources: list[Row] = field(default_factory=list)
    groups: list[Row] = field(default_factory=list)
    app_grants: list[Row] = field(default_factory=list)
    app_grant_apps: list[Row] = field(default_factory=list)
    data_source_grants: list[Row] = field(default_factory=list)
    data_source_grant_sources: list[Row] = field(default_factory=list)
    memberships: list[Row] = field(default_factory=list)
    group_members: list[Row] = field(default_factory=list)
    metadata: list[Row] = field(default_factory=list)  # (membership id, ciphertext)


def read_snapshot(
    conn: Connection | Session,
    slugs: Collection[str],
    *,
    decrypt_metadata: DecryptMetadata | None,
) -> tuple[state.Snapshot, SnapshotIds]:
    """The declared workspaces (``slugs``; absent ones are simply missing) and every user of the instance.

    Metadata is decrypted with ``decrypt_metadata(membership_id, blob)``; without a callback, memberships that
    have a blob get ``Metadata.UNREAD`` (``SnapshotIds.memberships_with_metadata`` lists them too). A membership
    without a blob has ``Metadata.EMPTY``.

    The queries see one consistent state only inside one transaction with snapshot isolation: SQLite's
    transactions are serializable; on PostgreSQL run this in a ``REPEATABLE READ`` transaction (or under the
    apply lock) so that the fingerprint describes a single moment.
    """
    rows = _query(conn, sorted(set(slugs)))
    return _build(rows, decrypt_metadata)


def empty_snapshot(slugs: Collection[str]) -> state.Snapshot:
    """What an empty database holds for ``slugs``, fingerprint included: the state a plan against a database
    that does not exist yet starts from (apply creates the database and finds exactly this)."""
    return _build(_Rows(slugs=sorted(set(slugs))), None)[0]


# -- queries ------------------------------------------------------------------------------------------------

_W, _U, _M, _G = models.Workspace, models.User, models.Membership, models.Group
_AG, _DG = models.AppGrant, models.DataSourceGrant
_FLAG_ATTRS = [getattr(_G, column) for column in FLAG_COLUMNS.values()]


def _query(conn: Connection | Session, slugs: list[str]) -> _Rows:
    rows = _Rows(slugs=slugs)
    rows.users = _fetch(conn, select(_U.id, _U.email, _U.first_name, _U.last_name))
    rows.workspaces = _fetch_in(conn, _workspaces, slugs)
    ids = sorted(row[0] for row in rows.workspaces)
    if not ids:
        return rows
    for name, make in _WORKSPACE_QUERIES.items():
        setattr(rows, name, _fetch_in(conn, make, ids))
    return rows


def _workspaces(slugs: Sequence[str]) -> Select[Any]:
    return select(_W.id, _W.slug, _W.name, _W.status).where(_W.slug.in_(slugs))


def _app_grants(ids: Sequence[str]) -> Select[Any]:
    columns = (_AG.id, _AG.group_id, _AG.position, _AG.access, _AG.all_apps, _AG.hide_from_dashboard)
    return select(*columns).join(_G, _G.id == _AG.group_id).where(_G.workspace_id.in_(ids))


def _app_grant_apps(ids: Sequence[str]) -> Select[Any]:
    link, app = models.app_grant_apps.c, models.App
    return (
        select(link.grant_id, app.slug)
        .join(app, app.id == link.app_id)
        .join(_AG, _AG.id == link.grant_id)
        .join(_G, _G.id == _AG.group_id)
        .where(_G.workspace_id.in_(ids), app.workspace_id == _G.workspace_id)
    )


def _data_source_grants(ids: Sequence[str]) -> Select[Any]:
    columns = (_DG.id, _DG.group_id, _DG.position, _DG.access, _DG.all_data_sources)
    return select(*columns).join(_G, _G.id == _DG.group_id).where(_G.workspace_id.in_(ids))


def _data_source_grant_sources(ids: Sequence[str]) -> Select[Any]:
    link, source = models.data_source_grant_sources.c, models.DataSource
    return (
        select(link.grant_id, source.name)
        .join(source, source.id == link.data_source_id)
        .join(_DG, _DG.id == link.grant_id)
        .join(_G, _G.id == _DG.group_id)
        .where(_G.workspace_id.in_(ids), source.workspace_id == _G.workspace_id)
    )


def _group_members(ids: Sequence[str]) -> Select[Any]:
    link = models.group_members.c
    return (
        select(link.membership_id, _G.name)
        .join(_G, _G.id == link.group_id)
        .join(_M, _M.id == link.membership_id)
        .where(_G.workspace_id.in_(ids), _G.kind == "custom", _M.workspace_id == _G.workspace_id)
    )


_WORKSPACE_QUERIES: dict[str, Callable[[Sequence[str]], Select[Any]]] = {
    "apps": lambda ids: select(models.App.workspace_id, models.App.id, models.App.slug, models.App.name).where(
        models.App.workspace_id.in_(ids)
    ),
    "data_sources": lambda ids: select(
        models.DataSource.workspace_id, models.DataSource.id, models.DataSource.name
    ).where(models.DataSource.workspace_id.in_(ids)),
    "groups": lambda ids: select(_G.workspace_id, _G.id, _G.name, _G.kind, *_FLAG_ATTRS).where(
        _G.workspace_id.in_(ids)
    ),
    "app_grants": _app_grants,
    "app_grant_apps": _app_grant_apps,
    "data_source_grants": _data_source_grants,
    "data_source_grant_sources": _data_source_grant_sources,
    "memberships": lambda ids: (
        select(_M.workspace_id, _M.id, _U.email, _M.role, _M.status)
        .join(_U, _U.id == _M.user_id)
        .where(_M.workspace_id.in_(ids))
    ),
    "group_members": _group_members,
    "metadata": lambda ids: (
        select(models.MembershipMetadata.membership_id, models.MembershipMetadata.ciphertext)
        .join(_M, _M.id == models.MembershipMetadata.membership_id)
        .where(_M.workspace_id.in_(ids))
    ),
}


def _fetch(conn: Connection | Session, statement: Select[Any]) -> list[Row]:
    return [tuple(row) for row in conn.execute(statement).all()]


def _fetch_in(
    conn: Connection | Session, make: Callable[[Sequence[str]], Select[Any]], values: Sequence[str]
) -> list[Row]:
    rows: list[Row] = []
    for start in range(0, len(values), IN_LIST_CHUNK):
        rows.extend(_fetch(conn, make(values[start : start + IN_LIST_CHUNK])))
    return rows


# -- assembly -----------------------------------------------------------------------------------------------


def _build(rows: _Rows, decrypt: DecryptMetadata | None) -> tuple[state.Snapshot, SnapshotIds]:
    ids = SnapshotIds(
        workspaces={slug: ws_id for ws_id, slug, _name, _status in rows.workspaces},
        users={email: user_id for user_id, email, _first, _last in rows.users},
        memberships_with_metadata=frozenset(mid for mid, _blob in rows.metadata),
    )
    slug_of = {ws_id: slug for slug, ws_id in ids.workspaces.items()}
    users = {
        email: state.User(email=email, first_name=first, last_name=last)
        for _id, email, first, last in sorted(rows.users, key=lambda row: row[1])
    }
    permissions = _group_permissions(rows)
    memberships = _memberships(rows, slug_of, decrypt, ids)
    apps_in, sources_in, groups_in = (
        _by_workspace(rows.apps),
        _by_workspace(rows.data_sources),
        _by_workspace(rows.groups),
    )
    workspaces: dict[str, state.Workspace] = {}
    for ws_id, slug, name, status in sorted(rows.workspaces, key=lambda row: row[1]):
        apps, data_sources = _registry(apps_in[ws_id], sources_in[ws_id], slug, ids)
        builder, groups = _groups(groups_in[ws_id], slug, permissions, ids)
        workspaces[slug] = state.Workspace(
            slug=slug,
            name=name,
            status=status,
            apps=apps,
            data_sources=data_sources,
            builder=builder,
            groups=groups,
            memberships=memberships.get(slug, {}),
            id=ws_id,
        )
    snapshot = state.Snapshot(workspaces=workspaces, users=users, fingerprint=fingerprint(rows))
    return snapshot, ids


def _by_workspace(rows: list[Row]) -> defaultdict[str, list[Row]]:
    grouped: defaultdict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row[0]].append(row)
    return grouped


def _registry(
    app_rows: list[Row], source_rows: list[Row], slug: str, ids: SnapshotIds
) -> tuple[dict[str, str], frozenset[str]]:
    apps: dict[str, str] = {}
    for _ws, app_id, app_slug, name in app_rows:
        apps[app_slug] = name
        ids.apps[slug, app_slug] = app_id
    data_sources = set()
    for _ws, ds_id, name in source_rows:
        data_sources.add(name)
        ids.data_sources[slug, name] = ds_id
    return dict(sorted(apps.items())), frozenset(data_sources)


def _groups(
    group_rows: list[Row], slug: str, permissions: dict[int, state.GroupPermissions], ids: SnapshotIds
) -> tuple[state.GroupPermissions, dict[str, state.GroupPermissions]]:
    builder: state.GroupPermissions | None = None
    custom: dict[str, state.GroupPermissions] = {}
    for _ws, group_id, name, kind, *_flags in sorted(group_rows, key=_by_name):
        ids.groups[slug, name] = group_id
        if kind == "custom":
            custom[name] = permissions[group_id]
        elif name == "builder":
            builder = permissions[group_id]
    if builder is None:
        raise StateError(f"workspace {slug!r} has no 'builder' role group; the database is inconsistent")
    return builder, custom


def _by_name(row: Row) -> str:
    return str(row[2])


def _group_permissions(rows: _Rows) -> dict[int, state.GroupPermissions]:
    apps_of = _grouped((grant_id, app) for grant_id, app in rows.app_grant_apps)
    sources_of = _grouped((grant_id, name) for grant_id, name in rows.data_source_grant_sources)
    app_grants = _grouped(
        (
            group_id,
            (position, grant_id, state.AppGrant(access, None if all_apps else apps_of[grant_id], hide)),
        )
        for grant_id, group_id, position, access, all_apps, hide in rows.app_grants
    )
    ds_grants = _grouped(
        (
            group_id,
            (position, grant_id, state.DataSourceGrant(access, None if all_ds else sources_of[grant_id])),
        )
        for grant_id, group_id, position, access, all_ds in rows.data_source_grants
    )
    return {
        group_id: state.GroupPermissions(
            flags=frozenset(flag for flag, value in zip(FLAG_COLUMNS, flags, strict=True) if value),
            app_grants=tuple(grant for *_order, grant in app_grants[group_id]),
            data_source_grants=tuple(grant for *_order, grant in ds_grants[group_id]),
        )
        for _ws, group_id, _name, _kind, *flags in rows.groups
    }


def _grouped(pairs: Iterable[tuple[Any, Any]]) -> defaultdict[Any, tuple[Any, ...]]:
    """key -> sorted tuple of values (an empty tuple for unknown keys)."""
    lists: defaultdict[Any, list[Any]] = defaultdict(list)
    for key, value in pairs:
        lists[key].append(value)
    return defaultdict(tuple, {key: tuple(sorted(values, key=_sort_key)) for key, values in lists.items()})


def _sort_key(value: Any) -> Any:
    return value[:2] if isinstance(value, tuple) else value


def _metadata(membership_id: str, blob: str | None, decrypt: DecryptMetadata | None) -> state.Metadata:
    if blob is None:
        return state.Metadata.EMPTY  # no row: no metadata
    if decrypt is None:
        return state.Metadata.UNREAD
    return state.Metadata.of(decrypt(membership_id, blob))


def _memberships(
    rows: _Rows, slug_of: dict[str, str], decrypt: DecryptMetadata | None, ids: SnapshotIds
) -> dict[str, dict[str, state.Membership]]:
    groups_of = _grouped(rows.group_members)
    blob_of = dict(rows.metadata)
    result: defaultdict[str, dict[str, state.Membership]] = defaultdict(dict)
    for ws_id, mid, email, role, status in sorted(rows.memberships, key=lambda row: (row[0], row[2])):
        slug = slug_of[ws_id]
        ids.memberships[slug, email] = mid
        blob = blob_of.get(mid)
        metadata = _metadata(mid, blob, decrypt)
        result[slug][email] = state.Membership(
            email=email, role=role, status=status, groups=frozenset(groups_of[mid]), metadata=metadata
        )
    return result
