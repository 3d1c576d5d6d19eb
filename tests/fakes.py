"""An in-memory backend: the ``reconciler.backends.base.Backend`` contract over the snapshot types, no database.

Stage: storage (a test double, like octoDNS's in-memory providers). The store is what ``read_snapshot`` returns,
kept as ``reconciler.state`` objects: workspaces with their groups and memberships (metadata as ``Metadata``
values) and the instance's users. ``apply`` behaves as the contract asks of a real backend:

- ``apply`` is the contract's own template (``Backend.apply``); the fake provides its steps: one apply at a time
  (a lock with ``lock_timeout``), the fresh snapshot handed to ``check`` first;
- every op executed in the SPEC 5 order of ``reconciler.apply_order`` (one method per step, called with each op
  that takes part in it), on a deep copy of the store that replaces it only when every step succeeded: all or
  nothing;
- a fingerprint over what a read returns, so a saved plan made before another apply is stale;
- an audit run per apply (applied, refused or failed) for ``history``.

The fake is stricter than a database where that catches planner mistakes: an op that names a missing group or
membership, or a role change whose ``old`` role is not the stored one, fails the apply (nothing is changed).
``observer`` sees the store after every step, for tests of the apply order.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from reconciler import ops
from reconciler.apply_order import ordered_steps
from reconciler.backends.base import ApplyResult, ApplyTransaction, AuditInfo, AuditRun, Backend, Executed, Progress
from reconciler.backends.common import holder_message
from reconciler.crypto import Keyring
from reconciler.errors import ApplyError, LockTimeout, ReconcilerError
from reconciler.state import GroupPermissions, Membership, Metadata, Snapshot, User, Workspace


@dataclass
class MemoryStore:
    """What the fake database holds: every workspace by slug and every user of the instance by email."""

    workspaces: dict[str, Workspace] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


Observer = Callable[[str, ops.Op, MemoryStore], None]  # (step, op, store after the step)


class MemoryBackend(Backend):
    name = "memory"
    uses_keyring = False  # metadata is held in memory as it is: nothing to encrypt, no key needed

    def __init__(self, snapshot: Snapshot | None = None, *, observer: Observer | None = None) -> None:
        """An empty database, or one holding ``snapshot``'s workspaces and users (its fingerprint is ignored)."""
        self.store = MemoryStore()
        if snapshot is not None:
            self.store = _copy(MemoryStore(dict(snapshot.workspaces), dict(snapshot.users)))
        self.observer = observer
        self.runs: list[AuditRun] = []
        self._lock = threading.Lock()
        self._holder: str | None = None
        self._ids = 0

    # --- reading -------------------------------------------------------------------------------------------

    def read_snapshot(self, slugs: Collection[str], keyring: Keyring | None = None) -> Snapshot:
        """``keyring`` is not used: nothing is encrypted here."""
        return _snapshot(self.store, slugs)

    def list_workspaces(self) -> list[str]:
        return sorted(self.store.workspaces)

    def history(self, limit: int = 20) -> list[AuditRun]:
        return list(reversed(self.runs))[:limit]

    # --- applying: the steps of Backend.apply --------------------------------------------------------------

    @contextmanager
    def begin_apply(self, lock_timeout: float, actor: str) -> Iterator[ApplyTransaction]:
        """The lock, and a deep copy of the store that replaces it when the block ends without an exception."""
        with self._locked(lock_timeout, actor):
            transaction = _Apply(self)
            yield transaction
            self.store = transaction.work  # every step succeeded: the new state becomes visible at once

    def record_unapplied(
        self, plan: ops.Plan, audit: AuditInfo, started: datetime, error: ReconcilerError, result: str
    ) -> None:
        self._record(plan, audit, started, result, error.message)

    def after_commit(self, result: ApplyResult, keyring: Keyring | None = None) -> list[str]:
        """Nothing to deliver: invitations are only listed in the result."""
        return []

    @contextmanager
    def _locked(self, timeout: float, actor: str) -> Iterator[None]:
        taken = self._lock.acquire(timeout=timeout) if timeout > 0 else self._lock.acquire(blocking=False)
        if not taken:
            raise LockTimeout(holder_message(self._holder, timeout))
        self._holder = f"memory apply by {actor}"
        try:
            yield
        finally:
            self._holder = None
            self._lock.release()

    def _record(self, plan: ops.Plan, audit: AuditInfo, started: datetime, result: str, error: str | None) -> int:
        changes = tuple((op.action, op.address) for op in plan.ops) if result == "applied" else ()
        run = AuditRun(
            id=len(self.runs) + 1,
            started_at=started,
            finished_at=datetime.now(UTC),
            actor=audit.actor,
            command=audit.command,
            config_hash=audit.config_hash,
            summary=plan.summary,
            result=result,
            error=error,
            changes=changes,
        )
        self.runs.append(run)
        return run.id

    def _new_id(self) -> str:
        self._ids += 1
        return f"memory-{self._ids}"

    # --- what people do outside reconciler (tests only) ----------------------------------------------------

    def accept_invitation(self, slug: str, email: str) -> None:
        """The member follows the invitation link: ``invited`` -> ``active``."""
        ws = self.store.workspaces[slug]
        member = ws.memberships[email]
        if member.status != "invited":
            raise ValueError(f"{email} in {slug} is {member.status}, not invited")
        ws.memberships[email] = replace(member, status="active")


def _snapshot(store: MemoryStore, slugs: Collection[str]) -> Snapshot:
    """A copy of the declared workspaces (absent slugs are missing) and every user, with its fingerprint."""
    selected = sorted(set(slugs))
    workspaces = {slug: _copy_workspace(store.workspaces[slug]) for slug in selected if slug in store.workspaces}
    return Snapshot(workspaces, dict(store.users), fingerprint(selected, workspaces, store.users))


def _copy(store: MemoryStore) -> MemoryStore:
    return MemoryStore({slug: _copy_workspace(ws) for slug, ws in store.workspaces.items()}, dict(store.users))


def _copy_workspace(ws: Workspace) -> Workspace:
    """A copy that shares nothing mutable with ``ws`` (the state types are frozen but for their dicts)."""
    return replace(ws, apps=dict(ws.apps), groups=dict(ws.groups), memberships=dict(ws.memberships))


def fingerprint(slugs: list[str], workspaces: dict[str, Workspace], users: dict[str, User]) -> str:
    """sha256 over what a read of ``slugs`` returns, canonically ordered (metadata values only as digests)."""
    digest = hashlib.sha256(repr(slugs).encode())
    digest.update(repr(sorted((u.email, u.first_name, u.last_name) for u in users.values())).encode())
    for slug in sorted(workspaces):
        digest.update(repr(_canonical(workspaces[slug])).encode())
    return digest.hexdigest()


def _canonical(ws: Workspace) -> tuple[Any, ...]:
    groups = sorted((name, _permissions(p)) for name, p in ws.groups.items())
    members = sorted(
        (m.email, m.role, m.status, sorted(m.groups), _metadata_digest(m.metadata)) for m in ws.memberships.values()
    )
    registry = (sorted(ws.apps.items()), sorted(ws.data_sources))
    return (ws.slug, ws.name, ws.status, registry, _permissions(ws.builder), groups, members)


def _permissions(p: GroupPermissions) -> tuple[Any, ...]:
    return (sorted(p.flags), p.app_grants, p.data_source_grants)  # grant order is part of their meaning


def _metadata_digest(metadata: Metadata) -> str:
    return hashlib.sha256(repr(sorted(metadata.values.items())).encode()).hexdigest()


class _Apply(ApplyTransaction):
    """One apply on a copy of the store (``work``), which ``begin_apply`` keeps only when every step succeeded."""

    def __init__(self, backend: MemoryBackend) -> None:
        self.backend = backend
        self.work = _copy(backend.store)

    def read(self, slugs: Collection[str]) -> Snapshot:
        return _snapshot(self.backend.store, slugs)

    def execute(self, plan: ops.Plan, keyring: Keyring | None, progress: Progress) -> Executed:
        executor = _Executor(self.work, self.backend._new_id, self.backend.observer)
        executor.run(plan)
        progress(len(plan.ops))
        return Executed(tuple(executor.invitations))

    def record(self, plan: ops.Plan, audit: AuditInfo, started: datetime) -> int | None:
        return self.backend._record(plan, audit, started, "applied", None)


class _Executor:
    """Runs one plan's steps on a store; each step method takes one op."""

    def __init__(self, store: MemoryStore, new_id: Callable[[], str], observer: Observer | None) -> None:
        self.store = store
        self.new_id = new_id
        self.observer = observer
        self.invitations: list[str] = []

    def run(self, plan: ops.Plan) -> None:
        try:
            steps = ordered_steps(plan)
        except ValueError as exc:
            raise ApplyError(f"the memory backend cannot execute it: {exc}") from None
        for step, op in steps:
            getattr(self, step)(op)
            if self.observer is not None:
                self.observer(step, op, self.store)

    # --- lookups that fail like a foreign key would ---------------------------------------------------------

    def _ws(self, slug: str) -> Workspace:
        if slug not in self.store.workspaces:
            raise ApplyError(f"workspace {slug!r} does not exist")
        return self.store.workspaces[slug]

    def _member(self, slug: str, email: str) -> Membership:
        member = self._ws(slug).memberships.get(email)
        if member is None:
            raise ApplyError(f"{email} is not a member of {slug!r}")
        return member

    def _set_member(self, slug: str, email: str, **changes: Any) -> None:
        self._ws(slug).memberships[email] = replace(self._member(slug, email), **changes)

    def _set_ws(self, slug: str, **changes: Any) -> None:
        self.store.workspaces[slug] = replace(self._ws(slug), **changes)

    def _group(self, slug: str, name: str) -> GroupPermissions:
        groups = self._ws(slug).groups
        if name not in groups:
            raise ApplyError(f"group {name!r} does not exist in {slug!r}")
        return groups[name]

    # --- workspaces and the registry ------------------------------------------------------------------------

    def create_workspace(self, op: ops.CreateWorkspace) -> None:
        if op.workspace in self.store.workspaces:
            raise ApplyError(f"workspace {op.workspace!r} already exists")
        self.store.workspaces[op.workspace] = Workspace(op.workspace, op.name, op.status, id=self.new_id())

    def transfer_apps(self, op: ops.TransferApps) -> None:
        owners = dict(self._ws(op.workspace).app_owners)
        moved = owners.pop(op.email, ())
        owners[op.to] = tuple(sorted((*owners.get(op.to, ()), *moved)))
        self._set_ws(op.workspace, app_owners=owners)

    def update_workspace(self, op: ops.UpdateWorkspace) -> None:
        self._set_ws(op.workspace, **{c.field: c.new for c in op.changes if not _archives(c)})

    def archive_workspace(self, op: ops.UpdateWorkspace | ops.ArchiveWorkspace) -> None:
        self._set_ws(op.workspace, status="archived")

    def unarchive_workspace(self, op: ops.Op) -> None:
        self._set_ws(op.workspace, status="active")

    def create_app(self, op: ops.CreateApp) -> None:
        self._ws(op.workspace).apps[op.slug] = op.name

    def update_app(self, op: ops.UpdateApp) -> None:
        apps = self._ws(op.workspace).apps
        if op.slug not in apps:
            raise ApplyError(f"app {op.slug!r} does not exist in {op.workspace!r}")
        for change in op.changes:
            if change.field == "name":
                apps[op.slug] = change.new

    def create_data_source(self, op: ops.CreateDataSource) -> None:
        self._set_ws(op.workspace, data_sources=self._ws(op.workspace).data_sources | {op.name})

    # --- roles and groups -----------------------------------------------------------------------------------

    def rename_group(self, op: ops.RenameGroup) -> None:
        ws = self._ws(op.workspace)
        if op.new_name in ws.groups:
            raise ApplyError(f"group {op.new_name!r} already exists in {op.workspace!r}")
        ws.groups[op.new_name] = ws.groups.pop(op.old_name)
        for email, member in list(ws.memberships.items()):
            if op.old_name in member.groups:
                ws.memberships[email] = replace(member, groups=member.groups - {op.old_name} | {op.new_name})

    def create_group(self, op: ops.CreateGroup) -> None:
        ws = self._ws(op.workspace)
        if op.name in ws.groups:
            raise ApplyError(f"group {op.name!r} already exists in {op.workspace!r}")
        ws.groups[op.name] = op.permissions

    def set_permissions(self, op: ops.UpdateBuilderRole | ops.UpdateGroup) -> None:
        if isinstance(op, ops.UpdateBuilderRole):
            self._set_ws(op.workspace, builder=op.after)
            return
        self._group(op.workspace, op.name)
        self._ws(op.workspace).groups[op.name] = op.after

    def destroy_group(self, op: ops.DestroyGroup) -> None:
        ws = self._ws(op.workspace)
        self._group(op.workspace, op.name)
        del ws.groups[op.name]
        for email, member in list(ws.memberships.items()):
            if op.name in member.groups:
                ws.memberships[email] = replace(member, groups=member.groups - {op.name})

    # --- people ---------------------------------------------------------------------------------------------

    def create_user(self, op: ops.CreateUser) -> None:
        if op.email in self.store.users:
            raise ApplyError(f"user {op.email} already exists")
        self.store.users[op.email] = User(op.email, op.first_name, op.last_name)

    def update_user(self, op: ops.UpdateUser) -> None:
        if op.email not in self.store.users:
            raise ApplyError(f"user {op.email} does not exist")
        self.store.users[op.email] = replace(self.store.users[op.email], **{c.field: c.new for c in op.changes})

    def create_membership(self, op: ops.CreateMembership) -> None:
        ws = self._ws(op.workspace)
        if op.email not in self.store.users or op.email in ws.memberships:
            raise ApplyError(f"cannot add {op.email} to {op.workspace!r}: no such user, or already a member")
        ws.memberships[op.email] = Membership(op.email, op.role, op.status)
        if op.status == "invited":
            self.invitations.append(op.email)

    def unarchive_membership(self, op: ops.UnarchiveMembership) -> None:
        if self._member(op.workspace, op.email).status != "archived":
            raise ApplyError(f"{op.email} in {op.workspace!r} is not archived")
        self._set_member(op.workspace, op.email, status="invited")  # a new invitation, as in ToolJet
        self.invitations.append(op.email)

    def archive_membership(self, op: ops.ArchiveMembership) -> None:
        if self._member(op.workspace, op.email).status == "archived":
            raise ApplyError(f"{op.email} in {op.workspace!r} is archived already")
        self._set_member(op.workspace, op.email, status="archived")  # groups and metadata are kept

    def promote(self, op: ops.UpdateMembership) -> None:
        self._set_role(op)

    def demote(self, op: ops.UpdateMembership) -> None:
        self._set_role(op)

    def _set_role(self, op: ops.UpdateMembership) -> None:
        change = op.role
        assert change is not None  # apply_order gives role steps only ops that change the role
        stored = self._member(op.workspace, op.email).role
        if stored != change.old:
            raise ApplyError(f"{op.email} in {op.workspace!r} is {stored}, not {change.old} as the plan says")
        self._set_member(op.workspace, op.email, role=change.new)  # the effective role the op says

    def join_groups(self, op: ops.CreateMembership | ops.UpdateMembership) -> None:
        added = op.groups if isinstance(op, ops.CreateMembership) else op.groups_added
        for name in added:
            self._group(op.workspace, name)
        member = self._member(op.workspace, op.email)
        self._set_member(op.workspace, op.email, groups=member.groups | set(added))

    def leave_groups(self, op: ops.UpdateMembership) -> None:
        member = self._member(op.workspace, op.email)
        self._set_member(op.workspace, op.email, groups=member.groups - set(op.groups_removed))

    def write_metadata(self, op: ops.CreateMembership | ops.UpdateMembership) -> None:
        """The whole map is replaced (an empty one is no metadata, as a database without a row); a new membership
        the op gives none to has none."""
        if isinstance(op, ops.UpdateMembership) and not op.metadata_changes:
            return
        self._set_member(op.workspace, op.email, metadata=op.metadata if op.metadata.known else Metadata.EMPTY)


def _archives(change: ops.FieldChange) -> bool:
    return change.field == "status" and change.new == "archived"
