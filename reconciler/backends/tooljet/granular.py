"""Writing granular permissions the way ToolJet stores them, batched per statement.

Stage: apply. A configuration grant is one ``granular_permissions`` row plus its child row
(``apps_group_permissions`` or ``data_sources_group_permissions``) and, unless it covers all apps or data sources,
``group_apps`` / ``group_data_sources`` rows. A group's grants are matched by position with the rows it already
has and changed in place, as ToolJet's own "edit permission" does, so columns the configuration has no word for
(``can_access_*``, ``app_type``) keep their values; rows beyond the new list are deleted, missing ones inserted
with fresh names (``Apps``, ``Apps 2``, ... unique per group, as ToolJet requires). The ``group_apps`` rows of
apps without a slug stay when the plan keeps them (``AppGrant.unnamed`` on the new grant, issue 16).

Child rows follow ToolJet's rules: edit means ``can_edit`` only, view means ``can_view`` only (``hide_from_dashboard``
only with view); configure and use are exclusive. New or re-levelled app rows get ToolJet's environment access for
their level: view = released only (anything more would make the group builder-level in ToolJet's eyes), edit =
every environment, except production on the default builder group, as ToolJet's defaults have it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, text

from ...state import AppGrant, DataSourceGrant, GroupPermissions
from .reader import ExistingGrant, ToolJetIds
from .variant import ENV_ACCESS_COLUMNS, Variant

BASE_NAMES = {"app": "Apps", "data_source": "Data sources"}  # ToolJet's default granular permission names
_IDS = "ANY(CAST(:ids AS uuid[]))"
_NOW = "clock_timestamp()::timestamp"  # distinct per row: insertion order survives as created_at order


def new_id() -> str:
    return str(uuid.uuid4())


def env_access(access: str, *, default_builder: bool) -> dict[str, bool]:
    """ToolJet's can_access_* values for a new app grant of ``access``."""
    if access == "view":
        return dict(zip(ENV_ACCESS_COLUMNS, (False, False, False, True), strict=True))
    return dict(zip(ENV_ACCESS_COLUMNS, (True, True, not default_builder, True), strict=True))


def app_child(child_id: str, granular_id: str, access: str, hide: bool, variant: Variant, *, builder: bool) -> dict:
    """An apps_group_permissions row (``v_`` keys for the statement of :func:`app_child_insert`)."""
    row = {"id": child_id, "granular_id": granular_id, "can_edit": access == "edit", "can_view": access == "view"}
    row["hide"] = hide and access == "view"
    if variant.env_access:
        row.update(env_access(access, default_builder=builder))
    return row


def app_child_insert(variant: Variant) -> str:
    columns = ["id", "granular_permission_id", "can_edit", "can_view", "hide_from_dashboard"]
    values = [":id", ":granular_id", ":can_edit", ":can_view", ":hide"]
    if variant.has("apps_group_permissions", "app_type"):
        columns.append("app_type")
        values.append("'front-end'")
    if variant.env_access:
        columns += ENV_ACCESS_COLUMNS
        values += [f":{c}" for c in ENV_ACCESS_COLUMNS]
    return f"INSERT INTO apps_group_permissions ({', '.join(columns)}) VALUES ({', '.join(values)})"


GRANULAR_INSERT = (
    "INSERT INTO granular_permissions (id, group_id, name, type, is_all, created_at, updated_at) "
    f"VALUES (:id, :group_id, :name, :type, :is_all, {_NOW}, {_NOW})"
)


@dataclass
class _Batch:
    granular_delete: list[str] = field(default_factory=list)
    granular_update: list[dict] = field(default_factory=list)
    granular_insert: list[dict] = field(default_factory=list)
    app_update: list[dict] = field(default_factory=list)
    app_relevel: list[dict] = field(default_factory=list)
    app_insert: list[dict] = field(default_factory=list)
    app_targets_delete: list[str] = field(default_factory=list)
    app_named_targets_delete: list[str] = field(default_factory=list)  # keep rows of apps without a slug
    app_targets_insert: list[dict] = field(default_factory=list)
    source_update: list[dict] = field(default_factory=list)
    source_insert: list[dict] = field(default_factory=list)
    source_targets_delete: list[str] = field(default_factory=list)
    source_targets_insert: list[dict] = field(default_factory=list)


@dataclass
class GrantWriter:
    """Collects the granular writes of many groups, then runs one statement per kind (:meth:`flush`)."""

    conn: Connection
    variant: Variant
    ids: ToolJetIds
    batch: _Batch = field(default_factory=_Batch)

    def sync(self, slug: str, group_id: str, permissions: GroupPermissions, *, default_builder: bool) -> None:
        """Make the group's app and data source grants exactly ``permissions``' (in order)."""
        for kind, grants in (("app", permissions.app_grants), ("data_source", permissions.data_source_grants)):
            existing = self.ids.grants.get((group_id, kind), [])
            kept = [
                self._update(slug, old, grant, default_builder) for old, grant in zip(existing, grants, strict=False)
            ]
            added = [self._insert(slug, group_id, kind, g, default_builder) for g in grants[len(existing) :]]
            self.batch.granular_delete += [old.granular_id for old in existing[len(grants) :]]
            self.ids.grants[group_id, kind] = kept + added

    def _update(self, slug: str, old: ExistingGrant, grant: AppGrant | DataSourceGrant, builder: bool) -> ExistingGrant:
        targets = grant.apps if isinstance(grant, AppGrant) else grant.data_sources
        self.batch.granular_update.append({"id": old.granular_id, "is_all": targets is None})
        child_id = old.child_id or new_id()
        if old.child_id is None:
            self._child(slug, old.granular_id, child_id, grant, builder)
        elif isinstance(grant, AppGrant):
            row = app_child(
                child_id, old.granular_id, grant.access, grant.hide_from_dashboard, self.variant, builder=builder
            )
            (self.batch.app_update if old.access == grant.access else self.batch.app_relevel).append(row)
        else:
            self.batch.source_update.append(_source_child(child_id, old.granular_id, grant.access))
        if old.child_id is not None:
            deletes = self.batch.app_targets_delete if isinstance(grant, AppGrant) else self.batch.source_targets_delete
            if isinstance(grant, AppGrant) and grant.unnamed:  # the plan keeps the apps without a slug
                deletes = self.batch.app_named_targets_delete
            deletes.append(child_id)
        self._targets(slug, child_id, grant)
        return ExistingGrant(old.granular_id, old.name, child_id, grant.access)

    def _insert(
        self, slug: str, group_id: str, kind: str, grant: AppGrant | DataSourceGrant, builder: bool
    ) -> ExistingGrant:
        granular_id, child_id = new_id(), new_id()
        name = self._free_name(group_id, BASE_NAMES[kind])
        targets = grant.apps if isinstance(grant, AppGrant) else grant.data_sources
        self.batch.granular_insert.append(
            {"id": granular_id, "group_id": group_id, "name": name, "type": kind, "is_all": targets is None}
        )
        self._child(slug, granular_id, child_id, grant, builder)
        self._targets(slug, child_id, grant)
        return ExistingGrant(granular_id, name, child_id, grant.access)

    def _child(
        self, slug: str, granular_id: str, child_id: str, grant: AppGrant | DataSourceGrant, builder: bool
    ) -> None:
        if isinstance(grant, AppGrant):
            row = app_child(
                child_id, granular_id, grant.access, grant.hide_from_dashboard, self.variant, builder=builder
            )
            self.batch.app_insert.append(row)
        else:
            self.batch.source_insert.append(_source_child(child_id, granular_id, grant.access))

    def _targets(self, slug: str, child_id: str, grant: AppGrant | DataSourceGrant) -> None:
        if isinstance(grant, AppGrant):
            self.batch.app_targets_insert += [
                {"id": new_id(), "target": self.ids.apps[slug, app], "child": child_id} for app in grant.apps or ()
            ]
        else:
            self.batch.source_targets_insert += [
                {"id": new_id(), "target": self.ids.data_sources[slug, name], "child": child_id}
                for name in grant.data_sources or ()
            ]

    def _free_name(self, group_id: str, base: str) -> str:
        taken = self.ids.granular_names[group_id]
        number = 1
        while (name := base if number == 1 else f"{base} {number}") in taken:
            number += 1
        taken.add(name)
        return name

    def flush(self) -> None:
        """Deletes first (freeing names), then updates, then inserts, parents before children."""
        b, run = self.batch, self._run
        run(f"DELETE FROM granular_permissions WHERE id = {_IDS}", ids=b.granular_delete)
        run("UPDATE granular_permissions SET is_all = :is_all, updated_at = now() WHERE id = :id", b.granular_update)
        run(GRANULAR_INSERT, b.granular_insert)
        run(_app_update(self.variant, relevel=False), b.app_update)
        run(_app_update(self.variant, relevel=True), b.app_relevel)
        run(app_child_insert(self.variant), b.app_insert)
        run(f"DELETE FROM group_apps WHERE apps_group_permissions_id = {_IDS}", ids=b.app_targets_delete)
        run(
            "DELETE FROM group_apps ga USING apps ap WHERE ap.id = ga.app_id AND ap.slug IS NOT NULL "
            f"AND ga.apps_group_permissions_id = {_IDS}",
            ids=b.app_named_targets_delete,
        )
        run(
            "INSERT INTO group_apps (id, app_id, apps_group_permissions_id) VALUES (:id, :target, :child)",
            b.app_targets_insert,
        )
        run(
            "UPDATE data_sources_group_permissions SET can_configure = :can_configure, can_use = :can_use, "
            "updated_at = now() WHERE id = :id",
            b.source_update,
        )
        run(
            "INSERT INTO data_sources_group_permissions (id, granular_permission_id, can_configure, can_use) "
            "VALUES (:id, :granular_id, :can_configure, :can_use)",
            b.source_insert,
        )
        run(
            f"DELETE FROM group_data_sources WHERE data_sources_group_permissions_id = {_IDS}",
            ids=b.source_targets_delete,
        )
        run(
            "INSERT INTO group_data_sources (id, data_source_id, data_sources_group_permissions_id) "
            "VALUES (:id, :target, :child)",
            b.source_targets_insert,
        )
        self.batch = _Batch()

    def _run(self, sql: str, rows: Sequence[dict] = (), *, ids: Sequence[str] | None = None) -> None:
        if ids is not None:
            if ids:
                self.conn.execute(text(sql), {"ids": list(ids)})
        elif rows:
            self.conn.execute(text(sql), list(rows))


def _source_child(child_id: str, granular_id: str, access: str) -> dict:
    return {
        "id": child_id,
        "granular_id": granular_id,
        "can_configure": access == "configure",
        "can_use": access == "use",
    }


def _app_update(variant: Variant, *, relevel: bool) -> str:
    """Keeps can_access_* unless the access level changed (then they get the new level's values)."""
    sets = ["can_edit = :can_edit", "can_view = :can_view", "hide_from_dashboard = :hide", "updated_at = now()"]
    if relevel and variant.env_access:
        sets += [f"{c} = :{c}" for c in ENV_ACCESS_COLUMNS]
    return f"UPDATE apps_group_permissions SET {', '.join(sets)} WHERE id = :id"
