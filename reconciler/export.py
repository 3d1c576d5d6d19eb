"""The database as configuration: ``export`` turns a Snapshot into a SPEC 2 document (adopting a database).

Stage: render, in reverse. ``snapshot_to_config`` is pure (a Snapshot in, plain dicts and lists out) and
``dump_config`` turns its result into YAML; ``adoption_warnings`` names what would keep the exported file
from validating or from planning ``No changes.``. The output is deterministic: keys in one fixed, readable
order (the order of SPEC 2.1), lists sorted by their natural key, except granular grants, whose order is
part of their meaning and is kept as stored.

Round-trip rules (``export`` then ``plan`` prints ``No changes.``):

- the builder role is always written out (``roles.builder``), since leaving it out means "the default";
- a membership's role is the role *stored* (the effective one): an end-user who sits in a builder-level
  group is stored, and exported, as ``builder``; a ToolJet member in several default groups or none is
  exported with the role ToolJet reads (``adoption_warnings`` names the repair the next plan makes);
- archived memberships get ``status: archived``; invited and active ones get nothing (``active`` is the
  default and means "not archived");
- ``settings.prune: archive`` is written explicitly; with a configuration (``export -f CONFIG``) its ownership
  settings are kept instead (``keep_ownership``, issue 17);
- metadata is left out unless asked for (absent means "leave alone"), and then written in plain text;
- declared seat limits (``limits:``, issue 16) live only in a configuration: ``export -f CONFIG`` keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

from .desired import DesiredState, DesiredWorkspace, Ownership
from .limits import SeatLimits
from .roles import implying_groups
from .safetext import escape as escape_control
from .safetext import escape_json
from .state import FLAG_NAMES, GroupPermissions, Membership, Snapshot, User, Workspace

__all__ = ["EXPORT_HEADER", "adoption_warnings", "dump_config", "keep_ownership", "snapshot_to_config"]

CONFIG_VERSION = 1
MAP_TAG, SEQ_TAG = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
EXPORT_HEADER = (
    "# Exported by `reconciler export`: the database as configuration (SPEC 2).\n"
    "# `reconciler plan -f` on this file prints `No changes.` until the database changes.\n"
)
METADATA_OMITTED = "# Metadata was not exported: a user entry without `metadata:` leaves that metadata alone.\n"
METADATA_INCLUDED = "# WARNING: contains metadata values in plain text. Keep it out of version control.\n"


def snapshot_to_config(snapshot: Snapshot, *, with_metadata: bool, keep: DesiredState | None = None) -> dict[str, Any]:
    """Every workspace of ``snapshot`` as a configuration document (the data ``yaml.safe_load`` would return).

    ``keep``: a configuration whose ownership settings the export keeps (issue 17, ``export -f CONFIG``), and its
    declared seat limits (issue 16), top-level and per workspace: the database cannot hold them."""
    limits = {limit.scope: _limits(limit) for limit in keep.limits} if keep is not None else {}
    workspaces = []
    for slug in sorted(snapshot.workspaces):
        desired = keep.workspaces.get(slug) if keep is not None else None
        entry = _workspace(snapshot.workspaces[slug], snapshot.users, with_metadata=with_metadata)
        entry = entry if desired is None else keep_ownership(entry, desired)
        if slug in limits:
            entry["limits"] = limits[slug]
        workspaces.append(entry)
    document: dict[str, Any] = {"version": CONFIG_VERSION}
    if "" in limits:
        document["limits"] = limits[""]
    return {**document, "workspaces": workspaces}


def _limits(limit: SeatLimits) -> dict[str, int]:
    return dict(limit.declared())


def dump_config(config: dict[str, Any], *, with_metadata: bool) -> str:
    """The document as YAML, with a short header; strings YAML would misread (``NO``, ``1.10``) are quoted."""
    body = yaml.dump(
        _styled(config),
        Dumper=_Dumper,
        sort_keys=False,  # the dicts are built in their display order
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,  # one value per line: long metadata values are not folded
    )
    # Strings holding invisible or control characters are double-quoted (see _str), where \\uXXXX is their spelling.
    body = escape_json(body)
    return EXPORT_HEADER + (METADATA_INCLUDED if with_metadata else METADATA_OMITTED) + "\n" + body


def adoption_warnings(snapshot: Snapshot) -> list[str]:
    """What keeps the export of ``snapshot`` from validating, or from planning ``No changes.``, as sentences."""
    warnings: list[str] = []
    for slug in sorted(snapshot.workspaces):
        ws = snapshot.workspaces[slug]
        if not any(m.role == "admin" and m.status != "archived" for m in ws.memberships.values()):
            warnings.append(
                f"workspace {slug!r} has no admin that is not archived; the exported configuration will not "
                "validate ('Atleast one active admin is required') until you declare one"
            )
        for email in sorted(ws.memberships):
            member = ws.memberships[email]
            implied = implying_groups(member.groups, ws.groups)
            if member.role == "end-user" and implied and member.status != "archived":
                groups = ", ".join(f'"{r.group}"' for r in implied)
                warnings.append(
                    f"{slug}: {email} is stored as end-user but is in builder-level group {groups}; "
                    "plan will promote them to builder (rule 1); to keep them an end-user, take the group out of "
                    "their entry, and plan removes them from it"
                )
        warnings += _tolerated_reads(slug, ws)
    for email in sorted(_exported_emails(snapshot)):
        if not snapshot.users[email].first_name.strip():
            warnings.append(f"user {email} has no first name; the exported configuration needs one")
    return [escape_control(warning) for warning in warnings]  # names and emails come from the database


def _tolerated_reads(slug: str, ws: Workspace) -> list[str]:
    """States a backend read tolerantly (ToolJet, issue 16) that the next plan changes or cannot express."""
    warnings = []
    for email, found in ws.default_groups_found.items():
        role = ws.memberships[email].role
        if ws.memberships[email].status == "archived":
            continue  # left as it is until unarchived (ToolJet refuses group changes for archived members)
        warnings.append(
            f"{slug}: {email} is in default groups {', '.join(found) or 'none'}; exported as {role} (ToolJet's "
            f"reading); plan will repair it to exactly one default group, {role}"
        )
    for email, reason in ws.metadata_problems.items():
        warnings.append(
            f"{slug}: the metadata of {email} cannot be read ({reason}); not exported, and left alone by plan "
            "unless you add metadata: to their entry, which replaces it"
        )
    for name, permissions in sorted({"builder": ws.builder, **ws.groups}.items()):
        for grant in permissions.app_grants:
            for label in grant.unnamed:
                warnings.append(
                    f"{slug}: group {name!r} grants {label}, which a configuration cannot name; plan keeps it "
                    "while that grant keeps its level and names apps, and shows it leave with the grant otherwise"
                )
    return warnings


class _Dumper(yaml.CSafeDumper if hasattr(yaml, "CSafeDumper") else yaml.SafeDumper):  # type: ignore[misc]
    """A safe dumper that never writes anchors and aliases (the loader limits them; people misread them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class _FlowMap(dict):
    """A mapping written on one line, ``{slug: crm, name: CRM}``, like the examples in SPEC 2.1."""


class _FlowList(list):
    """A list of names written on one line, ``[finance, support]``."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    """A string, double-quoted when it holds a character a terminal would not show as itself (a bidi override, a
    C1 control): the dumper escapes C0 itself, and ``dump_config`` spells the rest as ``\\uXXXX``."""
    style = '"' if escape_control(data) != data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)
_Dumper.add_representer(_FlowMap, lambda dumper, data: dumper.represent_mapping(MAP_TAG, data, flow_style=True))
_Dumper.add_representer(_FlowList, lambda dumper, data: dumper.represent_sequence(SEQ_TAG, data, flow_style=True))


def _styled(node: Any, key: str | None = None) -> Any:
    """The document with its small leaves marked for one-line style: registry entries and grants (the lists
    under ``apps`` and ``data_sources``), permission sections, and users' group lists. Metadata stays in block
    style: its values can be long."""
    if isinstance(node, dict):
        if key == "metadata":
            return node
        styled = {k: _styled(v, k) for k, v in node.items()}
        if key == "permissions":
            return {k: _FlowMap(v) for k, v in styled.items()}
        return styled
    if isinstance(node, list):
        if key in ("apps", "data_sources") and all(isinstance(item, dict) for item in node):
            return [_FlowMap({k: _FlowList(v) if isinstance(v, list) else v for k, v in i.items()}) for i in node]
        if key == "groups" and all(isinstance(item, str) for item in node):
            return _FlowList(node)
        return [_styled(item) for item in node]
    return node


def _exported_emails(snapshot: Snapshot) -> set[str]:
    return {email for ws in snapshot.workspaces.values() for email in ws.memberships}


# --- one workspace ------------------------------------------------------------------------------------------


def _workspace(ws: Workspace, users: dict[str, User], *, with_metadata: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"slug": ws.slug, "name": ws.name}
    if ws.status != "active":
        entry["status"] = ws.status
    entry["settings"] = {"prune": "archive"}
    if ws.apps:
        entry["apps"] = [{"slug": slug, "name": ws.apps[slug]} for slug in sorted(ws.apps)]
    if ws.data_sources:
        entry["data_sources"] = [{"name": name} for name in sorted(ws.data_sources)]
    entry["roles"] = {"builder": _permissions(ws.builder, always=True)}
    if ws.groups:
        entry["groups"] = [{"name": name, **_permissions(ws.groups[name])} for name in sorted(ws.groups)]
    entry["users"] = [
        _user(users[email], ws.memberships[email], with_metadata=with_metadata) for email in sorted(ws.memberships)
    ]
    return entry


def _permissions(permissions: GroupPermissions, *, always: bool = False) -> dict[str, Any]:
    """``permissions`` (the true flags; the others default to false) and ``granular`` (grants in stored order).

    ``always`` writes both keys even when empty: the builder role's entry must say "nothing", not "default".
    """
    entry: dict[str, Any] = {}
    flags = _flags(permissions.flags)
    if flags or always:
        entry["permissions"] = flags
    granular: dict[str, Any] = {}
    if permissions.app_grants:
        granular["apps"] = [_app_grant(g.access, g.apps, g.hide_from_dashboard) for g in permissions.app_grants]
    if permissions.data_source_grants:
        granular["data_sources"] = [
            {"access": g.access, "data_sources": _targets(g.data_sources)} for g in permissions.data_source_grants
        ]
    if granular or always:
        entry["granular"] = granular
    return entry


def _flags(true_flags: Iterable[str]) -> dict[str, dict[str, bool]]:
    enabled = set(true_flags)
    sections: dict[str, dict[str, bool]] = {}
    for flag in FLAG_NAMES:  # the YAML's order: apps, folders, workspace_constants, data_sources
        if flag in enabled:
            section, action = flag.split(".", 1)
            sections.setdefault(section, {})[action] = True
    return sections


def _app_grant(access: str, apps: tuple[str, ...] | None, hidden: bool) -> dict[str, Any]:
    grant: dict[str, Any] = {"access": access, "apps": _targets(apps)}
    if access == "view":
        grant["hide_from_dashboard"] = hidden
    elif hidden:  # not valid with edit in the YAML; written anyway so validation names it
        grant["hide_from_dashboard"] = True
    return grant


def _targets(names: tuple[str, ...] | None) -> str | list[str]:
    return "all" if names is None else sorted(names)


def _user(user: User, member: Membership, *, with_metadata: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"email": user.email, "first_name": user.first_name}
    if user.last_name:
        entry["last_name"] = user.last_name
    entry["role"] = member.role
    if member.status == "archived":
        entry["status"] = "archived"
    if member.groups:
        entry["groups"] = sorted(member.groups)
    if with_metadata and member.metadata.has_values:  # none stored: no key, which leaves it alone (still none)
        values = member.metadata.values
        entry["metadata"] = {key: values[key] for key in sorted(values)}
    return entry


# --- ownership settings (issue 17) --------------------------------------------------------------------------


def keep_ownership(entry: dict[str, Any], desired: DesiredWorkspace) -> dict[str, Any]:
    """An exported workspace with the settings of its configuration: ``prune``, ``ignore``, ``manage``,
    ``rails`` (those that differ from the defaults), ``transfer_apps_to`` and ``members: external`` on the groups that
    have it; members matching an ignore pattern are left out, and so are external groups from users' lists
    (the configuration would refuse both). Plan on the result then stays empty."""
    rules = desired.ownership
    settings: dict[str, Any] = {"prune": desired.settings.prune}
    if rules.ignore:
        settings["ignore"] = list(rules.ignore)
    manage = {"roles": rules.manage_roles, "groups": rules.manage_groups, "metadata": rules.manage_metadata}
    if not all(manage.values()):
        settings["manage"] = manage
    defaults = Ownership()
    if (rules.mass_change_share, rules.mass_change_min) != (defaults.mass_change_share, defaults.mass_change_min):
        settings["rails"] = {"mass_change_share": rules.mass_change_share, "mass_change_min": rules.mass_change_min}
    if desired.settings.transfer_apps_to:  # who receives a demoted owner's apps: only the configuration says
        settings["transfer_apps_to"] = desired.settings.transfer_apps_to
    entry = {**entry, "settings": settings}
    for group in entry.get("groups", []):
        if group["name"] in rules.external_groups:
            group["members"] = "external"
    users = []
    for user in entry["users"]:
        if rules.ignoring(user["email"]) is not None:
            continue
        groups = [name for name in user.get("groups", []) if name not in rules.external_groups]
        user = {k: v for k, v in user.items() if k != "groups"}
        users.append(_with_groups(user, groups))
    entry["users"] = users
    return entry


def _with_groups(user: dict[str, Any], groups: list[str]) -> dict[str, Any]:
    """``groups`` back in its place (after ``status``, before ``metadata``), when there are any."""
    if not groups:
        return user
    ordered = {k: v for k, v in user.items() if k != "metadata"}
    ordered["groups"] = groups
    if "metadata" in user:
        ordered["metadata"] = user["metadata"]
    return ordered


def ownership_notes(snapshot: Snapshot, keep: DesiredState | None) -> list[str]:
    """Members the backend read as created by single sign-on, in workspaces the export gives no ownership
    settings: a reminder that sign-ins and group sync are other writers of the same rows (docs/ownership.md)."""
    notes = []
    for slug in sorted(snapshot.workspaces):
        sources = snapshot.workspaces[slug].sso_sources
        if not sources or (keep is not None and slug in keep.workspaces):
            continue
        kinds = ", ".join(sorted(set(sources.values())))
        count = len(sources)
        notes.append(
            f"workspace {slug!r}: {count} member{'' if count == 1 else 's'} joined by single sign-on ({kinds}); if "
            "sign-ins or ToolJet's group sync manage them, add settings.ignore patterns or members: external to "
            "the exported groups before applying (docs/ownership.md)"
        )
    return [escape_control(note) for note in notes]
