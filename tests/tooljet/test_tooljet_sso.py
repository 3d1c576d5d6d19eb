"""Members that joined by single sign-on, read as such (issue 17), on each ToolJet schema variant.

ToolJet stores how an account came to be in ``users.source`` (``getUserStatusAndSource``: ``USER_SSO_VERIFY``
stores the provider; server/src/modules/users/constants/lifecycle.ts) and keeps the SSO profile of a membership
in ``user_details.sso_user_info`` (seeded for bob). The plan names it where it archives or ignores such a member.
"""

from __future__ import annotations

from tooljet_harness import ToolJetDb, acme, base_config

from reconciler import ops
from reconciler.export import ownership_notes


def without_carol(config: dict) -> dict:
    acme(config)["users"] = [u for u in acme(config)["users"] if u["email"] != "carol@acme.example"]
    return config


def test_members_who_joined_by_single_sign_on_are_read_and_named_as_such(tooljet: ToolJetDb) -> None:
    tooljet.query("UPDATE users SET source = 'saml' WHERE email = 'carol@acme.example' RETURNING id")

    planned = tooljet.plan(without_carol(base_config(tooljet.variant)))

    assert planned.snapshot.workspaces["acme"].sso_sources == {"bob@acme.example": "sso", "carol@acme.example": "saml"}
    (archive,) = [op for op in planned.plan.ops if isinstance(op, ops.ArchiveMembership)]
    assert archive.reason == (
        "not in configuration, prune: archive; groups and metadata kept; joined by SAML single sign-on"
    )
    assert ownership_notes(planned.snapshot, None) == [
        "workspace 'acme': 2 members joined by single sign-on (saml, sso); if sign-ins or ToolJet's group sync "
        "manage them, add settings.ignore patterns or members: external to the exported groups before applying "
        "(docs/ownership.md)"
    ]


def test_an_ignored_member_who_joined_by_saml_is_left_alone(tooljet: ToolJetDb) -> None:
    tooljet.query("UPDATE users SET source = 'saml' WHERE email = 'carol@acme.example' RETURNING id")
    config = without_carol(base_config(tooljet.variant))
    acme(config)["settings"] = {"ignore": ["carol@*"]}

    planned, _ = tooljet.apply(config)

    assert planned.plan.ops == ()
    assert [(c.address, c.reason) for c in planned.plan.ceded] == [
        ("acme/user/carol@acme.example", 'ignored: matches settings.ignore "carol@*"; joined by SAML single sign-on')
    ]
    assert tooljet.membership("carol@acme.example")[:2] == ("all-users", "active")
    tooljet.assert_no_changes(config)
