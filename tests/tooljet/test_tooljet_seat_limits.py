"""Seat limits (issue 16, H4) on ToolJet's own tables: the instance-wide count covers every workspace and super
admins without a membership, as ToolJet's licence counts them (LicenseCountsService,
server/src/modules/licensing/services/count.service.ts); past a limit the plan refuses with the message of
ToolJet's 451 (LicenseUserService.validateUser, server/src/modules/licensing/services/user.service.ts) and no row
changes.

Seeded: acme holds alice (admin, super admin), bob (builder), carol (end-user), dave (invited end-user) and erin
(archived); other holds olga (admin) and alice. The instance: 5 seats, 3 builders (alice, bob, olga), 2 end-users.
"""

from __future__ import annotations

from typing import Any

from test_tooljet_cli import run
from tooljet_harness import ToolJetDb, acme, base_config

from reconciler.render.text import NO_CHANGES

FRANK = {"email": "frank@acme.example", "first_name": "Frank", "role": "end-user"}


def limited(variant: str, *, frank: bool = False, **limits: int) -> dict[str, Any]:
    config = base_config(variant)
    config["limits"] = limits
    if frank:
        acme(config)["users"].append(dict(FRANK))
    return config


def test_a_top_level_limit_counts_the_whole_instance_and_super_admins(tooljet: ToolJetDb) -> None:
    at_limit = run(tooljet, "plan", "-f", str(tooljet.write(limited(tooljet.variant, total=5, builders=3))))
    assert at_limit.exit_code == 0 and NO_CHANGES in at_limit.output

    over = run(
        tooljet, "apply", "-f", str(tooljet.write(limited(tooljet.variant, frank=True, total=5))), "--auto-approve"
    )
    assert over.exit_code == 1 and "Traceback" not in over.output
    assert (
        "limits.total: You have reached your limit for number of users. (ToolJet's HTTP 451): 6 users once applied "
        "(5 now), limit 5 (top-level limits (instance-wide): total); added: frank@acme.example"
    ) in over.stderr
    assert tooljet.query("SELECT id FROM users WHERE email = 'frank@acme.example'") == []

    tooljet.query(
        "INSERT INTO users (id, email, first_name, status, user_type) VALUES "
        "('0b000000-0000-4000-8000-0000000000f2', 'root@acme.example', 'Root', 'active', 'instance') RETURNING id"
    )
    path = tooljet.write(limited(tooljet.variant, frank=True, total=7, end_users=3))
    usage = run(tooljet, "users", "--workspace", "acme", "-f", str(path))
    assert usage.output.endswith("Seats: 6 of 7 total, 2 of 3 end-users\n")  # root: a seat without a membership

    applied = run(tooljet, "apply", "-f", str(path), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    rows = tooljet.query(
        "SELECT ou.status FROM organization_users ou JOIN users u ON u.id = ou.user_id "
        "WHERE u.email = 'frank@acme.example'"
    )
    assert rows == [("invited",)]
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(path)).output
    assert run(tooljet, "users", "--workspace", "acme", "-f", str(path)).output.endswith(
        "Seats: 7 of 7 total, 3 of 3 end-users\n"
    )


def test_a_workspace_limit_counts_that_workspace_only(tooljet: ToolJetDb) -> None:
    config = base_config(tooljet.variant)
    acme(config)["limits"] = {"total": 4, "builders": 2}  # acme: alice, bob, carol, dave (erin is archived)
    acme(config)["users"].append(dict(FRANK))

    refused = run(tooljet, "plan", "-f", str(tooljet.write(config)))

    assert refused.exit_code == 1
    assert (
        "You have reached your limit for number of users. (ToolJet's HTTP 451): 5 users in workspace 'acme' once "
        "applied (4 now), limit 4 (limits of workspace 'acme': total); added: frank@acme.example"
    ) in refused.stderr
    acme(config)["users"].pop()
    assert NO_CHANGES in run(tooljet, "plan", "-f", str(tooljet.write(config))).output
