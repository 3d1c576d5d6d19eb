"""Reading the built-in database into a Snapshot: exact content, ids, bulk queries, fingerprint."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine, Update, event, update
from sqlalchemy.orm import Session

from reconciler import state
from reconciler.backends.builtin import models
from reconciler.backends.builtin.reader import DecryptMetadata, SnapshotIds, read_snapshot
from reconciler.backends.builtin.seed import create_role_groups, set_flags
from reconciler.errors import StateError

DECLARED = ("acme", "beta", "not-created-yet")


def seal(membership_id: str, metadata: dict[str, str]) -> str:
    """A stand-in for the encrypted blob: bound to its membership like the real one."""
    return f"{membership_id}|{json.dumps(metadata, sort_keys=True)}"


def unseal(membership_id: str, blob: str) -> dict[str, str]:
    bound_to, _, payload = blob.partition("|")
    assert bound_to == membership_id, "blob read for the wrong membership"
    return json.loads(payload)


@dataclass
class Seeded:
    workspace_ids: dict[str, str]
    membership_ids: dict[tuple[str, str], str]


def user(session: Session, email: str, first: str, last: str = "") -> models.User:
    row = models.User(email=email, first_name=first, last_name=last)
    session.add(row)
    return row


def workspace(session: Session, slug: str, name: str, status: str = "active") -> models.Workspace:
    row = models.Workspace(slug=slug, name=name, status=status)
    session.add(row)
    session.flush()
    create_role_groups(session, row.id)
    return row


def member(
    session: Session,
    ws: models.Workspace,
    person: models.User,
    role: str,
    status: str,
    groups: Sequence[models.Group] = (),
    metadata: dict[str, str] | None = None,
) -> models.Membership:
    row = models.Membership(workspace_id=ws.id, user=person, role=role, status=status, groups=list(groups))
    session.add(row)
    session.flush()
    if metadata is not None:
        row.encrypted_metadata = models.MembershipMetadata(ciphertext=seal(row.id, metadata))
    return row


def custom_group(session: Session, ws: models.Workspace, name: str, flags: Iterable[str] = ()) -> models.Group:
    group = models.Group(workspace_id=ws.id, name=name, kind="custom")
    set_flags(group, flags)
    session.add(group)
    return group


def seed(engine: Engine) -> Seeded:
    with Session(engine) as s:
        alice, bob = user(s, "alice@example.com", "Alice", "Anders"), user(s, "bob@example.com", "Bob")
        carol, dave = user(s, "carol@example.com", "Carol", "Cole"), user(s, "dave@example.com", "Dave")
        erin = user(s, "erin@example.com", "Erin")  # only in a workspace that is not declared

        acme = workspace(s, "acme", "Acme Corp")
        crm, billing, wiki = (
            models.App(workspace_id=acme.id, slug=slug, name=name)
            for slug, name in (("crm", "CRM"), ("billing", "Billing"), ("wiki", "Team wiki"))
        )
        main_db = models.DataSource(workspace_id=acme.id, name="postgres-main")
        stripe = models.DataSource(workspace_id=acme.id, name="stripe")
        s.add_all([crm, billing, wiki, main_db, stripe])

        builder = s.query(models.Group).filter_by(workspace_id=acme.id, name="builder").one()
        set_flags(builder, {"apps.create", "folders.create"})
        builder.app_grants = [
            models.AppGrant(position=0, access="view", hide_from_dashboard=True, apps=[wiki, crm]),
        ]
        builder.data_source_grants = [models.DataSourceGrant(position=0, access="use", data_sources=[stripe])]

        support = custom_group(s, acme, "support")
        support.app_grants = [models.AppGrant(position=0, access="view", all_apps=True)]
        data_team = custom_group(s, acme, "data-team", {"data_sources.create", "workspace_constants.update"})
        data_team.app_grants = [  # inserted out of order: position decides
            models.AppGrant(position=1, access="view", all_apps=True),
            models.AppGrant(position=0, access="edit", apps=[billing]),
        ]
        data_team.data_source_grants = [
            models.DataSourceGrant(position=0, access="configure", data_sources=[stripe, main_db]),
            models.DataSourceGrant(position=1, access="use", all_data_sources=True),
        ]
        custom_group(s, acme, "empty")
        s.flush()

        acme_alice = member(s, acme, alice, "admin", "active", metadata={"team": "ops", "region": "eu"})
        acme_bob = member(s, acme, bob, "builder", "invited", [support, data_team])
        acme_bob.invitation_token_hash = "0" * 64
        acme_carol = member(s, acme, carol, "end-user", "archived", [support], metadata={"team": "sales"})
        acme_dave = member(s, acme, dave, "end-user", "active", [support], metadata={})

        beta = workspace(s, "beta", "Beta Inc", status="archived")
        beta_alice = member(s, beta, alice, "end-user", "active")
        other = workspace(s, "other", "Other Ltd")
        member(s, other, erin, "admin", "active", metadata={"secret": "x"})
        s.commit()
        return Seeded(
            workspace_ids={"acme": acme.id, "beta": beta.id, "other": other.id},
            membership_ids={
                ("acme", "alice@example.com"): acme_alice.id,
                ("acme", "bob@example.com"): acme_bob.id,
                ("acme", "carol@example.com"): acme_carol.id,
                ("acme", "dave@example.com"): acme_dave.id,
                ("beta", "alice@example.com"): beta_alice.id,
            },
        )


def read(
    engine: Engine, decrypt: DecryptMetadata | None = unseal, slugs: Sequence[str] = DECLARED
) -> tuple[state.Snapshot, SnapshotIds]:
    with engine.connect() as conn:
        return read_snapshot(conn, slugs, decrypt_metadata=decrypt)


def test_the_snapshot_holds_exactly_the_declared_workspaces(engine: Engine) -> None:
    seeded = seed(engine)
    snapshot, _ids = read(engine)

    assert snapshot.users == {
        "alice@example.com": state.User("alice@example.com", "Alice", "Anders"),
        "bob@example.com": state.User("bob@example.com", "Bob"),
        "carol@example.com": state.User("carol@example.com", "Carol", "Cole"),
        "dave@example.com": state.User("dave@example.com", "Dave"),
        "erin@example.com": state.User("erin@example.com", "Erin"),
    }
    assert list(snapshot.workspaces) == ["acme", "beta"]
    assert snapshot.workspaces["acme"] == state.Workspace(
        slug="acme",
        name="Acme Corp",
        status="active",
        apps={"billing": "Billing", "crm": "CRM", "wiki": "Team wiki"},
        data_sources=frozenset({"postgres-main", "stripe"}),
        builder=state.GroupPermissions(
            flags=frozenset({"apps.create", "folders.create"}),
            app_grants=(state.AppGrant("view", ("crm", "wiki"), hide_from_dashboard=True),),
            data_source_grants=(state.DataSourceGrant("use", ("stripe",)),),
        ),
        groups={
            "data-team": state.GroupPermissions(
                flags=frozenset({"data_sources.create", "workspace_constants.update"}),
                app_grants=(state.AppGrant("edit", ("billing",)), state.AppGrant("view", None)),
                data_source_grants=(
                    state.DataSourceGrant("configure", ("postgres-main", "stripe")),
                    state.DataSourceGrant("use", None),
                ),
            ),
            "empty": state.GroupPermissions(),
            "support": state.GroupPermissions(app_grants=(state.AppGrant("view", None),)),
        },
        memberships={
            "alice@example.com": state.Membership(
                "alice@example.com", "admin", "active", metadata=state.Metadata.of({"region": "eu", "team": "ops"})
            ),
            "bob@example.com": state.Membership(
                "bob@example.com", "builder", "invited", frozenset({"support", "data-team"})
            ),
            "carol@example.com": state.Membership(
                "carol@example.com",
                "end-user",
                "archived",
                frozenset({"support"}),
                state.Metadata.of({"team": "sales"}),
            ),
            # a row holding an empty object is no metadata, like no row (bob)
            "dave@example.com": state.Membership(
                "dave@example.com", "end-user", "active", frozenset({"support"}), state.Metadata.EMPTY
            ),
        },
        id=seeded.workspace_ids["acme"],
    )
    assert snapshot.workspaces["beta"] == state.Workspace(
        slug="beta",
        name="Beta Inc",
        status="archived",
        builder=state.DEFAULT_BUILDER_PERMISSIONS,
        memberships={"alice@example.com": state.Membership("alice@example.com", "end-user", "active")},
        id=seeded.workspace_ids["beta"],
    )
    assert snapshot.workspaces["acme"].memberships["bob@example.com"].metadata == state.Metadata.EMPTY


def test_the_ids_point_at_the_rows(engine: Engine) -> None:
    seeded = seed(engine)
    _snapshot, ids = read(engine)
    assert ids.workspaces == {"acme": seeded.workspace_ids["acme"], "beta": seeded.workspace_ids["beta"]}
    assert ids.memberships == seeded.membership_ids
    assert set(ids.users) == {f"{n}@example.com" for n in ("alice", "bob", "carol", "dave", "erin")}
    assert set(ids.apps) == {("acme", "billing"), ("acme", "crm"), ("acme", "wiki")}
    assert set(ids.data_sources) == {("acme", "postgres-main"), ("acme", "stripe")}
    roles = {(slug, role) for slug in ("acme", "beta") for role in ("admin", "builder", "end-user")}
    assert set(ids.groups) == roles | {("acme", "support"), ("acme", "data-team"), ("acme", "empty")}
    with Session(engine) as session:
        for (slug, name), group_id in ids.groups.items():
            group = session.get(models.Group, group_id)
            assert (group.workspace_id, group.name) == (seeded.workspace_ids[slug], name)
        for (_slug, app_slug), app_id in ids.apps.items():
            assert session.get(models.App, app_id).slug == app_slug
        for email, user_id in ids.users.items():
            assert session.get(models.User, user_id).email == email
    assert ids.memberships_with_metadata == {
        seeded.membership_ids["acme", email] for email in ("alice@example.com", "carol@example.com", "dave@example.com")
    }


def test_without_a_key_metadata_is_left_to_the_caller(engine: Engine) -> None:
    seed(engine)
    snapshot, ids = read(engine, decrypt=None)
    members = snapshot.workspaces["acme"].memberships
    # stored but not decrypted is unread, never taken for "none"; no row is none
    assert {email: m.metadata for email, m in members.items()} == {
        "alice@example.com": state.Metadata.UNREAD,
        "bob@example.com": state.Metadata.EMPTY,
        "carol@example.com": state.Metadata.UNREAD,
        "dave@example.com": state.Metadata.UNREAD,
    }
    assert len(ids.memberships_with_metadata) == 3
    assert snapshot.fingerprint == read(engine)[0].fingerprint  # it never depends on plaintext


def test_a_session_works_as_well_as_a_connection(engine: Engine) -> None:
    seed(engine)
    with Session(engine) as session:
        snapshot, _ids = read_snapshot(session, DECLARED, decrypt_metadata=unseal)
    assert snapshot == read(engine)[0]


def test_nothing_declared_exists_yet(engine: Engine) -> None:
    seed(engine)
    snapshot, ids = read(engine, slugs=["new-one"])
    assert snapshot.workspaces == {}
    assert len(snapshot.users) == 5
    assert ids.workspaces == {} and ids.memberships == {}


def test_a_workspace_without_its_builder_role_is_an_inconsistent_database(engine: Engine) -> None:
    seeded = seed(engine)
    with Session(engine) as session:
        session.query(models.Group).filter_by(workspace_id=seeded.workspace_ids["beta"], name="builder").delete()
        session.commit()
    with pytest.raises(StateError, match="workspace 'beta' has no 'builder' role group"):
        read(engine)


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def add_members(engine: Engine, workspace_id: str, start: int, count: int) -> None:
    with Session(engine) as s:
        groups = s.query(models.Group).filter_by(workspace_id=workspace_id, kind="custom").all()
        for n in range(start, start + count):
            person = user(s, f"user{n:04d}@example.com", f"User {n}")
            member(
                s,
                s.get(models.Workspace, workspace_id),
                person,
                "end-user",
                "active",
                groups[: n % 3],
                metadata={"n": str(n)},
            )
        s.commit()


def test_the_number_of_queries_does_not_grow_with_the_members(engine: Engine) -> None:
    seeded = seed(engine)
    add_members(engine, seeded.workspace_ids["acme"], 0, 10)
    with counting_statements(engine) as few:
        small, _ = read(engine)
    add_members(engine, seeded.workspace_ids["acme"], 10, 290)
    with counting_statements(engine) as many:
        large, _ = read(engine)
    assert len(large.workspaces["acme"].memberships) == len(small.workspaces["acme"].memberships) + 290
    assert len(many) == len(few) <= 15


OUT_OF_BAND_CHANGES = {
    "a user's name": update(models.User).where(models.User.email == "erin@example.com").values(last_name="E"),
    "a membership's role": update(models.Membership).where(models.Membership.role == "builder").values(role="admin"),
    "a metadata blob that decrypts the same": update(models.MembershipMetadata).values(
        ciphertext=models.MembershipMetadata.ciphertext + " "
    ),
    "a flag of a fixed role": update(models.Group).where(models.Group.name == "admin").values(app_create=False),
    "a grant's hide_from_dashboard": update(models.AppGrant).values(hide_from_dashboard=True),
    "an app's name": update(models.App).where(models.App.slug == "crm").values(name="Customers"),
    "a workspace's status": update(models.Workspace).where(models.Workspace.slug == "acme").values(status="archived"),
}


def test_the_fingerprint_is_stable_while_nothing_changes(engine: Engine) -> None:
    seed(engine)
    first, _ = read(engine)
    assert len(first.fingerprint) == 64
    assert read(engine)[0].fingerprint == first.fingerprint
    assert read(engine, slugs=list(reversed(DECLARED)))[0].fingerprint == first.fingerprint


@pytest.mark.parametrize("change", OUT_OF_BAND_CHANGES.values(), ids=OUT_OF_BAND_CHANGES.keys())
def test_the_fingerprint_changes_with_any_row_read(engine: Engine, change: Update) -> None:
    seed(engine)
    before, _ = read(engine, decrypt=lambda mid, blob: unseal(mid, blob.rstrip()))
    with engine.begin() as conn:
        assert conn.execute(change).rowcount >= 1
    after, _ = read(engine, decrypt=lambda mid, blob: unseal(mid, blob.rstrip()))
    assert after.fingerprint != before.fingerprint


def test_removing_a_group_membership_changes_the_fingerprint(engine: Engine) -> None:
    seed(engine)
    before, _ = read(engine)
    with engine.begin() as conn:
        conn.execute(models.group_members.delete())
    after, _ = read(engine)
    assert after.workspaces["acme"].memberships["dave@example.com"].groups == frozenset()
    assert after.fingerprint != before.fingerprint
