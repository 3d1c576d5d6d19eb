"""Hand-made snapshots for the report tests (no database): every kind of grant, role cause and status."""

from __future__ import annotations

from datetime import UTC, datetime

from reconciler.backends.base import AuditRun
from reconciler.state import (
    AppGrant,
    DataSourceGrant,
    GroupPermissions,
    Membership,
    Metadata,
    Snapshot,
    User,
    Workspace,
)

SECRET_VALUES = ("dept-Wombat-0451", "sk-live-Narwhal-8812", "tok-Quokka-7733")
HOSTILE_NAME = '</script><img src=x onerror="alert(1)">'
FORMULA_NAME = '=HYPERLINK("http://x","y")'

RESTRICTED_BUILDER = GroupPermissions(
    flags=frozenset({"apps.create"}),
    app_grants=(AppGrant("view", ("invoices",)),),
    data_source_grants=(DataSourceGrant("use", ("stripe",)),),
)
GROUPS = {
    "finance": GroupPermissions(app_grants=(AppGrant("view", ("invoices",)),)),
    "finance-eu": GroupPermissions(app_grants=(AppGrant("view", ("status-page",), hide_from_dashboard=True),)),
    "sales-ops": GroupPermissions(
        flags=frozenset({"folders.create"}),
        app_grants=(AppGrant("edit", ("crm",)),),
        data_source_grants=(DataSourceGrant("use", ("stripe",)),),
    ),
    "ds-admins": GroupPermissions(data_source_grants=(DataSourceGrant("configure", None),)),
}


def member(email: str, role: str, status: str = "active", groups: tuple[str, ...] = (), **metadata: str) -> Membership:
    return Membership(email, role, status, frozenset(groups), Metadata.of(metadata))  # type: ignore[arg-type]


MEMBERS = (
    member("alice@acme.example", "admin", groups=("finance",), department=SECRET_VALUES[0]),
    member("bob@acme.example", "builder", groups=("sales-ops",), api_key=SECRET_VALUES[1]),
    member("carol@acme.example", "end-user", groups=("finance",)),
    member("dave@acme.example", "builder", "invited", groups=("sales-ops",)),
    member("erin@acme.example", "end-user", "archived", groups=("finance",), token=SECRET_VALUES[2]),
    member("hank@acme.example", "builder", groups=("finance-eu",)),
    member("ivy@acme.example", "builder", groups=("ds-admins", "sales-ops")),
)


def acme(status: str = "active", members: tuple[Membership, ...] = MEMBERS) -> Workspace:
    return Workspace(
        slug="acme",
        name="Acme Corp",
        status=status,  # type: ignore[arg-type]
        apps={"crm": "CRM", "invoices": "Invoices", "status-page": "Status page"},
        data_sources=frozenset({"stripe", "warehouse"}),
        builder=RESTRICTED_BUILDER,
        groups=dict(GROUPS),
        memberships={m.email: m for m in members},
    )


def labs() -> Workspace:
    """A second workspace: alice again (an end-user here), and a member only here."""
    members = (member("alice@acme.example", "end-user"), member("zoe@acme.example", "builder", "invited"))
    return Workspace(slug="labs", name="Acme Labs", memberships={m.email: m for m in members})


def users_of(*workspaces: Workspace) -> dict[str, User]:
    emails = {email for ws in workspaces for email in ws.memberships}
    return {email: User(email, email.split("@")[0].title(), "Example") for email in sorted(emails)}


def snapshot(*workspaces: Workspace) -> Snapshot:
    chosen = workspaces or (acme(), labs())
    return Snapshot({ws.slug: ws for ws in chosen}, users_of(*chosen), fingerprint="f" * 64)


def hostile_snapshot() -> Snapshot:
    """Names an attacker controls: a script-closing name, a formula, quotes and a group with markup."""
    group = '<b>ops</b>"&'
    members = (
        member("admin@acme.example", "admin"),
        member("mallory@acme.example", "end-user", groups=(group,)),
        member("formula@acme.example", "end-user"),
    )
    workspace = Workspace(
        slug="acme",
        name='Acme <Corp> & "Co"',
        apps={"crm": HOSTILE_NAME},
        groups={group: GroupPermissions(app_grants=(AppGrant("view", ("crm",)),))},
        memberships={m.email: m for m in members},
    )
    users = users_of(workspace)
    users["mallory@acme.example"] = User("mallory@acme.example", HOSTILE_NAME, "<i>x</i>")
    users["formula@acme.example"] = User("formula@acme.example", FORMULA_NAME, "-2+3")
    return Snapshot({"acme": workspace}, users)


def audit_runs() -> list[AuditRun]:
    started = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    return [
        AuditRun(
            7,
            started,
            started,
            "ci-bot (ci)",
            "apply",
            "ab" * 32,
            {"add": 2, "change": 1, "destroy": 0},
            "applied",
            None,
            (("create", "acme/user/zoe@acme.example"), ("update", "user/zoe@acme.example")),
        ),
        AuditRun(6, started, None, "root", "apply", "cd" * 32, {"archive": 5}, "refused", "mass change", ()),
    ]
