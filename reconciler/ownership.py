"""What a configuration cedes to other writers (issue 17, docs/ownership.md), applied before the diff.

Stage: plan. Pure: a desired workspace and the database's in, the two as the planner should compare them out,
with the list of what was ceded (shown by plan and drift, never drift). ToolJet's SSO/SCIM group sync, sign-ins
and its UI write the same rows as reconciler; these settings say which of them are not this configuration's:

- ``settings.ignore``: members matching a pattern are left out of the comparison (never created, changed,
  archived or counted as drift). Rule 1 still holds for them: the planner promotes an ignored end-user whose
  group becomes builder-level, as it does for unmanaged members (``ignored`` lets it find them);
- ``members: external``: the group's definition is compared, its members are kept as stored;
- ``settings.manage``: a kind it does not manage (roles, custom groups, metadata) is kept as stored for existing
  memberships; new memberships get what the configuration declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from .desired import DesiredWorkspace, Ownership
from .ops import Ceded
from .roles import effective_role
from .state import Membership, Metadata, Workspace

__all__ = ["Ceding", "cede", "external_members", "joined_by"]


@dataclass(frozen=True)
class Ceding:
    want: Workspace  # the desired workspace as the diff compares it
    have: Workspace  # the database's, without the ignored members
    ignored: dict[str, Membership]  # the ignored members of the database, by email
    ceded: tuple[Ceded, ...]


def cede(desired: DesiredWorkspace, have: Workspace, renames: Mapping[str, str]) -> Ceding:
    """``desired`` and ``have`` as the diff compares them; ``renames`` maps stored group names to new ones."""
    rules, want, slug = desired.ownership, desired.workspace, desired.slug
    if rules == Ownership():
        return Ceding(want, have, {}, ())
    ceded: list[Ceded] = []
    kept, ignored = {}, {}
    for email, member in have.memberships.items():
        pattern = rules.ignoring(email)
        if pattern is None:
            kept[email] = member
            continue
        ignored[email] = member
        reason = f'ignored: matches settings.ignore "{pattern}"' + joined_by(have, email)
        ceded.append(Ceded(f"{slug}/user/{email}", "ignored", reason))
    memberships = {}
    for email, member in want.memberships.items():
        stored = kept.get(email)
        if stored is None:
            memberships[email] = replace(member, groups=member.groups - rules.external_groups)
        else:
            memberships[email], notes = _keep_what_is_ceded(member, stored, want, rules, renames)
            ceded += [Ceded(f"{slug}/user/{email}", kind, reason) for kind, reason in notes]
    counts = external_members(have, rules.external_groups, renames)
    for name in sorted(rules.external_groups):  # listed when the other writer has put members in it
        count = counts.get(name, 0)
        if not count:
            continue
        reason = (
            f"members: external ({count} member{'' if count == 1 else 's'}, kept as SSO/SCIM sync or the UI set them)"
        )
        ceded.append(Ceded(f"{slug}/group/{name}", "external", reason))
    return Ceding(
        replace(want, memberships=memberships),
        replace(have, memberships=kept),
        ignored,
        tuple(sorted(ceded, key=lambda c: (c.address, c.kind))),
    )


SSO_NAMES = {"saml": "SAML", "google": "Google", "openid": "OpenID Connect", "ldap": "LDAP", "git": "GitHub"}


def joined_by(have: Workspace, email: str) -> str:
    """``; joined by SAML single sign-on`` for a member the backend read as created by a sign-in, else ``""``."""
    source = have.sso_sources.get(email)
    if source is None:
        return ""
    return f"; joined by {SSO_NAMES.get(source, 'single sign-on')}{' single sign-on' if source in SSO_NAMES else ''}"


def external_members(have: Workspace, external: frozenset[str], renames: Mapping[str, str]) -> dict[str, int]:
    """How many non-archived members each external group has in the database (by its new name)."""
    counts: dict[str, int] = {}
    for member in have.memberships.values():
        if member.status == "archived":
            continue
        for group in member.groups:
            name = renames.get(group, group)
            if name in external:
                counts[name] = counts.get(name, 0) + 1
    return counts


def _keep_what_is_ceded(
    want: Membership, have: Membership, workspace: Workspace, rules: Ownership, renames: Mapping[str, str]
) -> tuple[Membership, list[tuple[str, str]]]:
    """An existing membership as the configuration owns it: what it cedes is what the database holds."""
    notes: list[tuple[str, str]] = []
    stored_groups = frozenset(renames.get(g, g) for g in have.groups)
    external = rules.external_groups
    groups = (want.groups - external) | (stored_groups & external)
    if not rules.manage_groups:
        if stored_groups - external != want.groups - external:
            notes.append(
                (
                    "groups",
                    f"groups {_names(stored_groups - external)} kept, the configuration says "
                    f"{_names(want.groups - external)} (settings.manage.groups: false)",
                )
            )
        groups = stored_groups
    role = want.role
    if not rules.manage_roles:
        if effective_role(want.role, groups, workspace.groups)[0] != have.role:
            notes.append(
                (
                    "role",
                    f"role {have.role} kept, the configuration says {want.role} (settings.manage.roles: false)",
                )
            )
        role = have.role
    metadata = want.metadata
    if not rules.manage_metadata:
        if not metadata.unmanaged and (not have.metadata.known or metadata != have.metadata):
            notes.append(
                ("metadata", "metadata left alone, it differs from the configuration (settings.manage.metadata: false)")
            )
        metadata = Metadata.UNMANAGED
    return replace(want, role=role, groups=groups, metadata=metadata), notes


def _names(groups: frozenset[str]) -> str:
    return "[" + ", ".join(sorted(groups)) + "]" if groups else "[]"
