"""Synthetic companies as reconciler configuration, for the benchmarks (issue 7) and the statement-count test.

A company has N users spread over 20 workspaces (of uneven size; 15 % of the users belong to a second
workspace), 100 custom groups per workspace (2,000 in all) with permission flags and app / data source grants
(about a fifth of them builder-level), a registry of apps and data sources per workspace, a customised builder
role in half of the workspaces, users with roles, 0-4 groups each, and metadata (2-4 string keys) on a third
of the memberships. Everything is drawn from ``random.Random(seed)``: the same arguments give the same bytes.

``mutate`` makes the "1 % of memberships changed" variant: role changes, group additions and removals,
metadata changes, a few memberships removed (archived by ``prune: archive``) and a few added.

Usage::

    python benchmarks/generate.py --users 10000 --out /tmp/company            # one YAML file per workspace
    python benchmarks/generate.py --users 10000 --out /tmp/changed --changed  # the 1 % variant
"""

from __future__ import annotations

import argparse
import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

WORKSPACES = 20
GROUPS_PER_WORKSPACE = 100  # 2,000 custom groups in all
APPS_PER_WORKSPACE = 40
DATA_SOURCES_PER_WORKSPACE = 12
SECOND_WORKSPACE_SHARE = 0.15
METADATA_SHARE = 1 / 3
BUILDER_LEVEL_SHARE = 0.2
ARCHIVED_SHARE = 0.02
DEFAULT_SEED = 7

FLAGS = {
    "apps": ("create", "delete"),
    "folders": ("create", "update", "delete"),
    "workspace_constants": ("create", "update", "delete"),
    "data_sources": ("create", "delete"),
}
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Guido",
    "Katherine",
    "Donald",
    "Hedy",
    "John",
    "Sophie",
    "Tim",
    "Annie",
    "Bjarne",
    "Joan",
    "Niklaus",
    "Shafi",
    "Leslie",
    "Fran",
    "Whitfield",
    "Carol",
    "Vint",
    "Mary",
    "Ivan",
]
LAST_NAMES = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Rossum",
    "Johnson",
    "Knuth",
    "Lamarr",
    "Backus",
    "Wilson",
    "Berners-Lee",
    "Easley",
    "Stroustrup",
    "Clarke",
    "Wirth",
    "Goldwasser",
    "Lamport",
    "Bilas",
    "Diffie",
    "Shaw",
    "Cerf",
    "Keller",
    "Sutherland",
]
METADATA_KEYS = ("department", "cost_center", "region", "manager", "employee_id", "location", "team", "level")
DEPARTMENTS = ("finance", "sales", "support", "engineering", "marketing", "legal", "operations", "people")
REGIONS = ("eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa-east")


@dataclass
class Member:
    email: str
    role: str  # declared: admin | builder | end-user
    groups: list[str] = field(default_factory=list)
    metadata: dict[str, str] | None = None
    status: str = "active"  # active | archived


@dataclass
class GroupDef:
    name: str
    flags: dict[str, list[str]] = field(default_factory=dict)  # section -> true actions
    app_grants: list[dict] = field(default_factory=list)  # {access, apps ('all' or list), hide_from_dashboard}
    data_source_grants: list[dict] = field(default_factory=list)  # {access, data_sources}

    @property
    def builder_level(self) -> bool:
        return (
            any(self.flags.values())
            or any(g["access"] == "edit" for g in self.app_grants)
            or bool(self.data_source_grants)
        )


@dataclass
class WorkspaceDef:
    slug: str
    name: str
    apps: list[tuple[str, str]]  # (slug, display name)
    data_sources: list[str]
    builder: GroupDef | None  # a customised builder role, or None for the default
    groups: list[GroupDef]
    members: list[Member]
    protected: list[str] = field(default_factory=list)


@dataclass
class Company:
    users: dict[str, tuple[str, str]]  # email -> (first name, last name); instance-wide
    workspaces: list[WorkspaceDef]

    @property
    def memberships(self) -> int:
        return sum(len(ws.members) for ws in self.workspaces)


# --- generation -----------------------------------------------------------------------------------


def generate_company(users: int, *, seed: int = DEFAULT_SEED, workspaces: int = WORKSPACES) -> Company:
    """A company of ``users`` users over ``workspaces`` workspaces (deterministic for a given seed)."""
    rng = random.Random(f"company:{users}:{seed}:{workspaces}")
    groups_per_ws = GROUPS_PER_WORKSPACE if users >= 1000 else max(5, users // 10)
    spaces = [_workspace(rng, i, groups_per_ws) for i in range(workspaces)]
    # Uneven sizes: the first workspaces are the big divisions (weights 1/sqrt(k)).
    weights = [1 / (k + 1) ** 0.5 for k in range(workspaces)]
    people: dict[str, tuple[str, str]] = {}
    for i in range(users):
        email = user_email(i)
        people[email] = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        home = rng.choices(range(workspaces), weights)[0]
        homes = [home]
        if workspaces > 1 and rng.random() < SECOND_WORKSPACE_SHARE:
            homes.append(rng.choice([k for k in range(workspaces) if k != home]))
        for k in homes:
            spaces[k].members.append(_member(rng, email, spaces[k]))
    for ws in spaces:
        _ensure_admins(rng, ws, people)
        ws.protected = [next(m.email for m in ws.members if m.role == "admin" and m.status == "active")]
    return Company(people, spaces)


def user_email(i: int) -> str:
    return f"user{i:06d}@example.com"


def _workspace(rng: random.Random, index: int, group_count: int) -> WorkspaceDef:
    slug = f"division-{index + 1:02d}"
    apps = [(f"app-{k:03d}", f"App {k:03d} of division {index + 1}") for k in range(1, APPS_PER_WORKSPACE + 1)]
    sources = [f"source-{k:02d}" for k in range(1, DATA_SOURCES_PER_WORKSPACE + 1)]
    app_slugs = [a for a, _ in apps]
    groups = [_group(rng, f"team-{k:03d}", app_slugs, sources) for k in range(1, group_count + 1)]
    builder = None
    if index % 2 == 0:  # half of the workspaces customise the builder role
        builder = GroupDef(
            "builder",
            flags={"apps": ["create"], "folders": ["create", "update"], "workspace_constants": ["create"]},
            app_grants=[{"access": "edit", "apps": "all", "hide_from_dashboard": False}],
            data_source_grants=[{"access": "use", "data_sources": "all"}],
        )
    return WorkspaceDef(slug, f"Division {index + 1:02d}", apps, sources, builder, groups, [])


def _group(rng: random.Random, name: str, apps: list[str], sources: list[str]) -> GroupDef:
    group = GroupDef(name)
    if rng.random() < BUILDER_LEVEL_SHARE:
        kind = rng.randrange(3)
        if kind == 0:  # flags
            section = rng.choice(list(FLAGS))
            group.flags[section] = sorted(rng.sample(FLAGS[section], rng.randint(1, len(FLAGS[section]))))
        elif kind == 1:  # edit on some apps
            group.app_grants.append({"access": "edit", "apps": sorted(rng.sample(apps, rng.randint(1, 4)))})
        access = rng.choice(("use", "configure"))
        targets: str | list[str] = "all" if rng.random() < 0.2 else sorted(rng.sample(sources, rng.randint(1, 3)))
        group.data_source_grants.append({"access": access, "data_sources": targets})
    if rng.random() < 0.9:  # most groups grant view on a few apps
        targets = "all" if rng.random() < 0.1 else sorted(rng.sample(apps, rng.randint(1, 6)))
        hidden = rng.random() < 0.15
        group.app_grants.append({"access": "view", "apps": targets, "hide_from_dashboard": hidden})
    return group


def _member(rng: random.Random, email: str, ws: WorkspaceDef) -> Member:
    r = rng.random()
    role = "admin" if r < 0.01 else "builder" if r < 0.11 else "end-user"
    count = rng.choices((0, 1, 2, 3, 4), (15, 35, 30, 15, 5))[0]
    plain = [g for g in ws.groups if not g.builder_level]
    # End-users mostly join plain groups; a few are promoted by a builder-level one (rule 1 of SPEC 1).
    pool = ws.groups if role != "end-user" or rng.random() < 0.05 else plain
    groups = sorted(g.name for g in rng.sample(pool, min(count, len(pool))))
    metadata = _metadata(rng) if rng.random() < METADATA_SHARE else None
    status = "archived" if role != "admin" and rng.random() < ARCHIVED_SHARE else "active"
    return Member(email, role, groups, metadata, status)


def _metadata(rng: random.Random) -> dict[str, str]:
    keys = rng.sample(METADATA_KEYS, rng.randint(2, 4))
    return {key: _metadata_value(rng, key) for key in sorted(keys)}


def _metadata_value(rng: random.Random, key: str) -> str:
    if key == "department":
        return rng.choice(DEPARTMENTS)
    if key in ("region", "location"):
        return rng.choice(REGIONS)
    if key == "manager":
        return user_email(rng.randrange(1_000_000))
    if key == "level":
        return f"L{rng.randint(1, 9)}"
    return f"{key[:2]}-{rng.randrange(100_000):05d}"


def _ensure_admins(rng: random.Random, ws: WorkspaceDef, people: dict[str, tuple[str, str]]) -> None:
    """At least two active admins per workspace (one is protected, so the 1 % change never touches it)."""
    admins = [m for m in ws.members if m.role == "admin" and m.status == "active"]
    candidates = [m for m in ws.members if m.role != "admin"]
    for member in candidates[: max(0, 2 - len(admins))]:
        member.role, member.status = "admin", "active"
    if not ws.members:  # a tiny company: give the workspace an admin of its own
        email = f"admin-{ws.slug}@example.com"
        people[email] = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        ws.members.append(Member(email, "admin"))


# --- the 1 % change -------------------------------------------------------------------------------


def mutate(company: Company, *, fraction: float = 0.01, seed: int = DEFAULT_SEED) -> Company:
    """A copy of ``company`` with ``fraction`` of the memberships changed.

    Of the changed memberships about 25 % change role (end-user <-> builder), 30 % join or leave a group, 30 %
    change metadata (a value changed, a key added or removed, or metadata given where there was none), 7.5 %
    are removed from the file (archived by the plan), and as many new memberships as 7.5 % are added (new
    users). Admins, archived members and protected users are left alone, so no safety rail is triggered.
    """
    rng = random.Random(f"mutate:{len(company.users)}:{seed}:{fraction}")
    changed = copy.deepcopy(company)
    total = max(1, round(changed.memberships * fraction))
    candidates = [
        (ws, m) for ws in changed.workspaces for m in ws.members if m.role != "admin" and m.status == "active"
    ]
    chosen = rng.sample(candidates, min(total, len(candidates)))
    removals: list[tuple[WorkspaceDef, Member]] = []
    additions = 0
    for ws, member in chosen:
        kind = rng.choices(("role", "groups", "metadata", "remove", "add"), (25, 30, 30, 7.5, 7.5))[0]
        if kind == "role":
            member.role = "builder" if member.role == "end-user" else "end-user"
        elif kind == "groups":
            _change_groups(rng, ws, member)
        elif kind == "metadata":
            _change_metadata(rng, member)
        elif kind == "remove":
            removals.append((ws, member))
        else:
            additions += 1
    for ws, member in removals:
        ws.members.remove(member)
    next_index = len(company.users)
    for k in range(additions):
        email = user_email(next_index + k)
        changed.users[email] = (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES))
        ws = rng.choice(changed.workspaces)
        ws.members.append(_member(rng, email, ws))
        if ws.members[-1].role == "admin":
            ws.members[-1].role = "builder"  # new admins would be fine, but keep the mix of changes stable
    return changed


def _change_groups(rng: random.Random, ws: WorkspaceDef, member: Member) -> None:
    if member.groups and rng.random() < 0.5:
        member.groups.remove(rng.choice(member.groups))
        return
    plain = [g.name for g in ws.groups if not g.builder_level and g.name not in member.groups]
    if plain:
        member.groups = sorted([*member.groups, rng.choice(plain)])


def _change_metadata(rng: random.Random, member: Member) -> None:
    if member.metadata is None:
        member.metadata = _metadata(rng)
        return
    metadata = dict(member.metadata)
    action = rng.randrange(3)
    if action == 0 or len(metadata) <= 2:
        key = rng.choice(sorted(metadata))
        metadata[key] = _metadata_value(rng, key) + "-x"
    elif action == 1 and len(metadata) < len(METADATA_KEYS):
        key = rng.choice([k for k in METADATA_KEYS if k not in metadata])
        metadata[key] = _metadata_value(rng, key)
    else:
        del metadata[rng.choice(sorted(metadata))]
    member.metadata = dict(sorted(metadata.items()))


# --- YAML -----------------------------------------------------------------------------------------


def _q(value: str) -> str:
    """A double-quoted YAML scalar (JSON strings of printable ASCII are valid YAML)."""
    return json.dumps(value)


def _flow_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _granular_lines(group: GroupDef, pad: str) -> list[str]:
    lines = []
    if group.flags:
        lines.append(f"{pad}permissions:")
        for section, actions in group.flags.items():
            lines.append(f"{pad}  {section}: {{" + ", ".join(f"{a}: true" for a in actions) + "}")
    if group.app_grants or group.data_source_grants:
        lines.append(f"{pad}granular:")
    if group.app_grants:
        lines.append(f"{pad}  apps:")
        for grant in group.app_grants:
            apps = grant["apps"] if grant["apps"] == "all" else _flow_list(grant["apps"])
            hidden = ", hide_from_dashboard: true" if grant.get("hide_from_dashboard") else ""
            lines.append(f"{pad}    - {{access: {grant['access']}, apps: {apps}{hidden}}}")
    if group.data_source_grants:
        lines.append(f"{pad}  data_sources:")
        for grant in group.data_source_grants:
            targets = grant["data_sources"]
            targets = targets if targets == "all" else _flow_list(targets)
            lines.append(f"{pad}    - {{access: {grant['access']}, data_sources: {targets}}}")
    return lines


def workspace_yaml(ws: WorkspaceDef, users: dict[str, tuple[str, str]]) -> str:
    """One file holding one workspace."""
    lines = [
        "# generated by benchmarks/generate.py",
        "version: 1",
        "workspaces:",
        f"  - slug: {ws.slug}",
        f"    name: {_q(ws.name)}",
        "    settings:",
        "      prune: archive",
        f"      protected_users: {_flow_list(ws.protected)}",
        "    apps:",
        *(f"      - {{slug: {slug}, name: {_q(name)}}}" for slug, name in ws.apps),
        "    data_sources:",
        *(f"      - {{name: {name}}}" for name in ws.data_sources),
    ]
    if ws.builder is not None:
        lines += ["    roles:", "      builder:", *_granular_lines(ws.builder, "        ")]
    if ws.groups:
        lines.append("    groups:")
    for group in ws.groups:
        lines.append(f"      - name: {group.name}")
        lines += _granular_lines(group, "        ")
    lines.append("    users:")
    for m in ws.members:
        first, last = users[m.email]
        lines += [
            f"      - email: {m.email}",
            f"        first_name: {first}",
            f"        last_name: {last}",
            f"        role: {m.role}",
        ]
        if m.status != "active":
            lines.append(f"        status: {m.status}")
        if m.groups:
            lines.append(f"        groups: {_flow_list(m.groups)}")
        if m.metadata is not None:
            pairs = ", ".join(f"{k}: {_q(v)}" for k, v in m.metadata.items())
            lines.append(f"        metadata: {{{pairs}}}")
    return "\n".join(lines) + "\n"


def write_company(company: Company, directory: Path) -> list[Path]:
    """Write one ``<slug>.yaml`` per workspace into ``directory`` (other *.yaml files there are removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        old.unlink()
    paths = []
    for ws in company.workspaces:
        path = directory / f"{ws.slug}.yaml"
        path.write_text(workspace_yaml(ws, company.users), encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, required=True, help="number of users (e.g. 1000, 10000, 100000)")
    parser.add_argument("--out", type=Path, required=True, help="directory for one YAML file per workspace")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workspaces", type=int, default=WORKSPACES)
    parser.add_argument("--changed", action="store_true", help="write the variant with 1 %% of memberships changed")
    parser.add_argument("--fraction", type=float, default=0.01, help="share of memberships changed (--changed)")
    args = parser.parse_args(argv)
    company = generate_company(args.users, seed=args.seed, workspaces=args.workspaces)
    if args.changed:
        company = mutate(company, fraction=args.fraction, seed=args.seed)
    paths = write_company(company, args.out)
    size = sum(p.stat().st_size for p in paths)
    print(
        f"{args.out}: {len(paths)} files, {size / 1e6:.1f} MB, {len(company.users)} users, "
        f"{company.memberships} memberships, {sum(len(ws.groups) for ws in company.workspaces)} groups"
    )


if __name__ == "__main__":
    main()
