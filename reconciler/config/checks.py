"""The rules of SPEC 2.2 that need the whole configuration, and normalisation into a DesiredState.

Stage: config. Input: documents whose form the pydantic models accepted. Output: a DesiredState, or one
ConfigError listing every problem found, each located in its YAML or CSV file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ..desired import DesiredState, DesiredWorkspace, Ownership, Settings
from ..errors import ConfigError, Location, Problem
from ..expiry import MemberExpiries, current_time
from ..limits import SeatLimits
from ..roles import STRICT_ROLES_MESSAGE, strict_role_conflicts
from ..safetext import quoted
from ..state import (
    DEFAULT_BUILDER_PERMISSIONS,
    FLAG_NAMES,
    OPTIONAL_FLAG_NAMES,
    AppGrant,
    DataSourceGrant,
    GroupPermissions,
    Membership,
    Metadata,
    User,
    Workspace,
)
from . import models
from .composition import TemplateIndex, check_names, index_templates, join_split_workspaces
from .files import FileRefused, FileTooLarge, allowed_roots, confine, is_key_name, read_regular_file
from .loader import LoadedLimits, LoadedTemplate, LoadedUser, LoadedWorkspace, sorted_problems
from .policy_rules import LoadedPolicy, build_policies, check_desired, declared_names

DUPLICATE_EMAIL = "Duplicate email found. Please provide a unique email address."
NO_ADMIN = "Atleast one active admin is required"
METADATA_TOTAL_MAX = 200_000
SECRET_PLACEHOLDER = "(secret reference, not resolved)"
# A secret's value is at most METADATA_VALUE_MAX characters of UTF-8 (4 bytes each at most), plus a final newline.
SECRET_MAX_BYTES = 4 * models.METADATA_VALUE_MAX + 2


def build_desired(
    workspaces: list[LoadedWorkspace],
    *,
    config_hash: str,
    resolve_secrets: bool,
    environ: Mapping[str, str],
    problems: list[Problem] | None = None,
    config_root: Path | None = None,
    selected: Collection[str] | None = None,
    warnings: tuple[str, ...] = (),
    templates: list[LoadedTemplate] | None = None,
    now: datetime | None = None,
    policies: list[LoadedPolicy] | None = None,
    limits: list[LoadedLimits] | None = None,
) -> DesiredState:
    """Check the rules that need the whole configuration; raise one ConfigError with these problems and
    ``problems`` (those found earlier, e.g. form errors), or return the DesiredState when there are none.

    ``config_root`` is the directory ``{file:}`` secret references must stay in (default: each YAML file's
    directory); ``selected`` limits secret resolution to those workspace slugs (the others keep placeholders).
    ``now`` is the moment ``expires:`` values are compared with (default: :func:`reconciler.expiry.current_time`).
    """
    problems = list(problems or [])
    now = now if now is not None else current_time(environ)
    workspaces = join_split_workspaces(workspaces, problems)  # one workspace over several files (issue 17)
    check_names(workspaces, problems)
    template_index = index_templates(templates or [], problems)
    _check_unique(
        [(ws.model.name, (ws.locate, ("name",))) for ws in workspaces if ws.name_valid and ws.model.name is not None],
        "workspace name {!r} is used twice",
        problems,
    )
    desired: dict[str, DesiredWorkspace] = {}
    for ws in workspaces:
        resolve = resolve_secrets and (selected is None or ws.model.slug in selected)
        checker = _WorkspaceChecker(ws, problems, resolve, environ, config_root, template_index, now=now)
        result = checker.run()
        if result is not None and ws.model.slug not in desired:
            desired[ws.model.slug] = result
    users = _instance_users(workspaces, problems)
    entries = list(policies or []) + [
        LoadedPolicy(p, _policy_locator(ws, k), ws.model.slug)
        for ws in workspaces
        for k, p in enumerate(ws.model.policies)
    ]
    declared = {ws.model.slug: declared_names(ws.model, ws.model.settings.prune) for ws in workspaces if not ws.partial}
    policy_set, places = build_policies(entries, declared, problems)
    results = check_desired(desired, policy_set, places, problems, users) if not problems else ()
    seat_limits, limit_places = _seat_limits(limits or [], workspaces, problems)
    if problems:
        raise ConfigError(sorted_problems(problems))
    return DesiredState(
        desired,
        users,
        config_hash,
        secrets_resolved=resolve_secrets,
        warnings=warnings,
        policies=policy_set,
        policy_places=places,
        policy_results=results,
        limits=seat_limits,
        limit_places=limit_places,
    )


def _seat_limits(
    top: list[LoadedLimits], workspaces: list[LoadedWorkspace], problems: list[Problem]
) -> tuple[tuple[SeatLimits, ...], dict[str, Callable[[str], Location]]]:
    """The ``limits:`` blocks (issue 16): the top-level one (several files may give it only if they agree) and
    each workspace's (a split workspace's files must agree too: composition.py), with where each is written."""
    found: list[SeatLimits] = []
    places: dict[str, Callable[[str], Location]] = {}
    if top:
        first = top[0]
        for other in top[1:]:
            if other.model != first.model:
                problems.append(
                    Problem(
                        other.locate(()),
                        "top-level limits are declared in several files that disagree",
                        f"first declared at {first.locate(())}; give them in one file only",
                    )
                )
        found.append(SeatLimits("", first.model.total, first.model.builders, first.model.end_users))
        places[""] = lambda kind, block=first: block.locate((kind,))
    for ws in workspaces:
        block = ws.model.limits
        if block is None or ws.partial:
            continue
        slug = ws.model.slug
        found.append(SeatLimits(slug, block.total, block.builders, block.end_users))
        places[slug] = lambda kind, ws=ws: ws.locate("limits", kind)
    return tuple(found), places


def _member_locator(ws: LoadedWorkspace) -> Callable[[str, tuple], Location | None]:
    def locate(email: str, path: tuple) -> Location | None:
        """Where ``path`` of ``email``'s entry is (resolved only for a refusal: a linear search is fine)."""
        entry = next((u for u in ws.users if u.model.email == email), None)
        return entry.locate(path) if entry is not None else None

    return locate


def _group_locator(ws: LoadedWorkspace) -> Callable[[str, tuple], Location | None]:
    def locate(name: str, path: tuple) -> Location | None:
        """Where ``path`` of group ``name``'s definition is (resolved only for a refusal)."""
        index = next((i for i, g in enumerate(ws.model.groups) if g.name == name), None)
        return ws.locate("groups", index, *path) if index is not None else None

    return locate


def _policy_locator(ws: LoadedWorkspace, k: int) -> Callable[..., Location]:
    def locate(path: tuple = (), key: bool = True) -> Location:
        return ws.locate("policies", k, *path, key=key)

    return locate


Place = tuple[Callable[..., Location], tuple]  # a locate function and its path, resolved only on error


def _check_unique(items: list[tuple[str, Place]], message: str, problems: list[Problem]) -> None:
    """Report every repeated key. Locations are resolved only for problems: on a valid file, finding
    positions would mean a second, slower parse (see yamlsource's fast path)."""
    first: dict[str, Place] = {}
    for key, (locate, path) in items:
        if key in first:
            other_locate, other_path = first[key]
            problems.append(
                Problem(locate(*path), message.format(key), f"first declared at {other_locate(*other_path)}")
            )
        else:
            first[key] = (locate, path)


def _instance_users(workspaces: list[LoadedWorkspace], problems: list[Problem]) -> dict[str, User]:
    """Users are instance-wide: their names must agree wherever they are declared.

    An omitted ``last_name`` is the empty string (SPEC 2.2), so it disagrees with a last name given elsewhere.
    A second entry for the same email inside one workspace is already an error of its own (``Duplicate email``),
    so only the first entry of each workspace is compared; entries whose email or names had form errors
    (already reported) are not compared at all.
    """
    users: dict[str, User] = {}
    first: dict[str, tuple[LoadedWorkspace, LoadedUser]] = {}
    for ws in workspaces:
        seen_here: set[str] = set()
        for entry in ws.users:
            user = entry.model
            if entry.broken & {"email", "first_name", "last_name"} or user.email in seen_here:
                continue
            seen_here.add(user.email)
            known = users.get(user.email)
            if known is None:
                users[user.email] = User(user.email, user.first_name, user.last_name)
                first[user.email] = (ws, entry)
                continue
            if (known.first_name, known.last_name) == (user.first_name, user.last_name):
                continue
            other_ws, other = first[user.email]
            if known.first_name != user.first_name:
                where = entry.locate(("first_name",))
            elif "last_name" in user.model_fields_set:
                where = entry.locate(("last_name",))
            else:
                where = entry.locate(("email",))
            problems.append(
                Problem(
                    where,
                    f"the name of {user.email} differs between workspaces: {_full_name(user)!r} here, "
                    f"{_full_name(known)!r} in workspace {other_ws.display_slug!r}",
                    f"users are instance-wide; first declared at {other.locate(('first_name',))}",
                )
            )
    return users


def _full_name(user: User | models.User) -> str:
    return f"{user.first_name} {user.last_name}".strip()


class _WorkspaceChecker:
    def __init__(
        self,
        ws: LoadedWorkspace,
        problems: list[Problem],
        resolve_secrets: bool,
        environ: Mapping[str, str],
        config_root: Path | None = None,
        templates: TemplateIndex | None = None,
        *,
        now: datetime,
    ) -> None:
        self.ws = ws
        self.now = now
        self.expiries: dict[str, MemberExpiries] = {}
        self.model = ws.model
        self.problems = problems
        self.resolve_secrets = resolve_secrets
        self.environ = environ
        self.config_root = config_root
        self.secret_roots: dict[int, list[Path]] = {}  # by id() of the file (part) of the workspace
        self.templates = templates or TemplateIndex()
        self.metadata_sources: dict[str, dict[str, str]] = {}
        self.app_slugs = {a.slug for a in self.model.apps}
        self.ds_names = {d.name for d in self.model.data_sources}
        self.group_names = {g.name for g in self.model.groups}
        self.external = frozenset(g.name for g in self.model.groups if self._members(g) == "external")
        self.listings: dict[str, str] = {}

    def error(self, where: Location, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(where, message, hint))

    def _listing(self, what: str, names: Collection[str]) -> str:
        """The names of a hint (``groups declared in this workspace: ...``), made once per kind: a hint that
        joined every name again for each of 100,000 unknown references would take quadratic time."""
        if what not in self.listings:
            self.listings[what] = listing(names)
        return self.listings[what]

    def run(self) -> DesiredWorkspace | None:
        before = len(self.problems)
        self._check_registry()
        groups = self._groups()
        builder = self._builder()
        memberships = self._memberships(groups)
        self._check_protected(memberships)
        self._check_admin()
        self._check_ownership()
        state = Workspace(
            slug=self.model.slug,
            name=self.model.name or "",
            status=self.model.status,
            apps={a.slug: a.name for a in self.model.apps},
            data_sources=frozenset(self.ds_names),
            builder=builder,
            groups=groups,
            memberships=memberships,
        )
        settings = Settings(
            self.model.settings.prune,
            self.model.settings.strict_roles,
            frozenset(self.model.settings.protected_users),
            self.model.settings.transfer_apps_to,
        )
        self._check_strict_roles(state, settings)  # also next to other errors: every problem in one pass
        if len(self.problems) > before or self.ws.partial:
            return None
        previously = {g.name: tuple(self._previously(g)) for g in self.model.groups if self._previously(g)}
        return DesiredWorkspace(
            state,
            settings,
            previously,
            self.metadata_sources,
            self.resolve_secrets,
            self._ownership(),
            expiries=self.expiries,
            locate=self.ws.locate,
            locate_member=_member_locator(self.ws),
            locate_group=_group_locator(self.ws),
        )

    # --- registry and grants -------------------------------------------------------------------

    def _check_registry(self) -> None:
        loc = self.ws.locate
        _check_unique(
            [(a.slug, (loc, ("apps", i, "slug"))) for i, a in enumerate(self.model.apps)],
            "app {!r} is declared twice",
            self.problems,
        )
        _check_unique(
            [(d.name, (loc, ("data_sources", i, "name"))) for i, d in enumerate(self.model.data_sources)],
            "data source {!r} is declared twice",
            self.problems,
        )
        names = [(g.name, (loc, ("groups", i, "name"))) for i, g in enumerate(self.model.groups)]
        for i, group in enumerate(self.model.groups):
            if group.previously:
                names += [(old, (loc, ("groups", i, "previously", k))) for k, old in enumerate(group.previously)]
            else:  # the former names a template gives, located at the group's template key
                names += [(old, (loc, ("groups", i, "template"))) for old in self._previously(group)]
        _check_unique(names, "group {!r} is declared twice (as a name or in previously)", self.problems)

    def _grants(
        self, granular: models.Granular | None, path: tuple, *, template: _TemplateUse | None = None
    ) -> tuple[tuple, tuple]:
        """``template``: the grants are a template's, checked against this workspace's registry."""
        if granular is None:
            return (), ()
        apps, sources = [], []
        for i, grant in enumerate(granular.apps):
            targets = self._targets(grant.apps, self.app_slugs, "app", (*path, "apps", i, "apps"), template)
            apps.append(AppGrant(grant.access, targets, grant.hide_from_dashboard))
        for i, ds in enumerate(granular.data_sources):
            targets = self._targets(
                ds.data_sources, self.ds_names, "data source", (*path, "data_sources", i, "data_sources"), template
            )
            sources.append(DataSourceGrant(ds.access, targets))
        return tuple(apps), tuple(sources)

    def _targets(
        self, value: object, known: set[str], what: str, path: tuple, template: _TemplateUse | None = None
    ) -> tuple[str, ...] | None:
        what_list = "apps" if what == "app" else "data_sources"
        if value == "all":
            return None
        assert isinstance(value, list)
        for k, name in enumerate(value):
            if name not in known and not self.ws.excused(what_list, name) and template is not None:
                index, used = template
                self.error(
                    self.ws.locate("groups", index, "template"),
                    f"template {quoted(used.model.name)} grants on {what} {quoted(name)}, which workspace "
                    f"{self.ws.display_slug!r} does not register",
                    f"the template's grant is at {used.locate(*path, k)}; register the {what} in this workspace's "
                    f"{what_list}",
                )
            elif name not in known and not self.ws.excused(what_list, name):
                self.error(
                    self.ws.locate(*path, k),
                    f"unknown {what} {quoted(name)}",
                    f"registered {what}s in this workspace: {self._listing(what_list, known)}",
                )
        return tuple(sorted(set(value)))

    def _builder(self) -> GroupPermissions:
        roles = self.model.roles
        if roles is None or roles.builder is None:
            return replace(DEFAULT_BUILDER_PERMISSIONS, unmanaged_flags=OPTIONAL_FLAG_NAMES)
        perms = roles.builder.permissions
        apps, sources = self._grants(roles.builder.granular, ("roles", "builder", "granular"))
        stated = perms.stated_flags() if perms else set()
        flags = frozenset(perms.true_flags() if perms else ())
        return GroupPermissions(flags, apps, sources, OPTIONAL_FLAG_NAMES - stated)

    # --- groups and duplicate_of ---------------------------------------------------------------

    def _groups(self) -> dict[str, GroupPermissions]:
        by_name = {g.name: (i, g) for i, g in enumerate(self.model.groups)}
        order = self._duplicate_order(by_name)
        resolved: dict[str, GroupPermissions] = {}
        for name in order:
            i, group = by_name[name]
            apps, sources = self._grants(group.granular, ("groups", i, "granular"))
            flags = _flag_values(group.permissions)
            template = self._template_of(i, group)
            if template is not None:
                flags, apps, sources = self._from_template(i, group, template, flags, apps, sources)
            if group.duplicate_of is not None and group.duplicate_of.group in resolved:
                source = resolved[group.duplicate_of.group]
                parts = set(group.duplicate_of.parts)
                if "permissions" in parts:
                    copied = (f for f in FLAG_NAMES if f not in source.unmanaged_flags)
                    flags = {f: (f in source.flags) for f in copied} | flags
                if "granular" in parts:
                    apps, sources = source.app_grants + apps, source.data_source_grants + sources
            true_flags = frozenset(f for f, on in flags.items() if on)
            resolved[name] = GroupPermissions(true_flags, apps, sources, OPTIONAL_FLAG_NAMES - flags.keys())
        return {g.name: resolved[g.name] for g in self.model.groups if g.name in resolved}

    def _duplicate_order(self, by_name: dict[str, tuple[int, models.Group]]) -> list[str]:
        """Groups sorted so that every duplicate_of source comes before its copy; reports cycles.

        Each group names at most one source, so from every group this follows the chain of sources until a
        group already placed, the end of the chain, or a cycle, then places the chain from its far end.
        (Iterative: no recursion limit for long chains, and no self-referencing closure keeping the checker
        alive until the garbage collector runs.)
        """
        order: list[str] = []
        done: set[str] = set()
        for start in by_name:
            chain: list[str] = []
            name: str | None = start
            while name is not None and name not in done:
                chain.append(name)
                i, group = by_name[name]
                target = group.duplicate_of.group if group.duplicate_of else None
                if target in chain:
                    cycle = " -> ".join([*chain[chain.index(target) :], target])
                    where = self.ws.locate("groups", by_name[target][0], "duplicate_of", "group")
                    self.error(where, f"duplicate_of forms a cycle: {cycle}")
                    break
                if target is not None and target not in by_name:
                    if not self.ws.excused("groups", target):
                        where = self.ws.locate("groups", i, "duplicate_of", "group")
                        self.error(where, f"duplicate_of names unknown group {target!r}")
                    break
                name = target
            for placed in reversed(chain):
                done.add(placed)
                order.append(placed)
        return order

    # --- users ---------------------------------------------------------------------------------

    def _memberships(self, groups: dict[str, GroupPermissions]) -> dict[str, Membership]:
        first: dict[str, LoadedUser] = {}
        copies = self._copies_with_users()
        memberships: dict[str, Membership] = {}
        for entry in self.ws.users:
            user = entry.model
            member_groups = self._user_groups(entry) if "groups" not in entry.broken else set()
            if "email" not in entry.broken:
                if user.email in first:
                    other = first[user.email]
                    hint = f"first declared at {other.locate(('email',))}"
                    if entry.from_csv != other.from_csv:
                        hint += "; a CSV user may not also appear in the YAML"
                    self.error(entry.locate(("email",)), DUPLICATE_EMAIL, hint)
                    continue
                first[user.email] = entry
            if entry.broken:  # its own form errors are reported; it still had its references checked
                self._metadata(entry, resolve=False)
                continue
            expiries = self._expiries(entry)
            member_groups -= expiries.groups_expired  # an expired group membership is absent (and so are its copies)
            for source, copy_names in copies.items():
                if source in member_groups:
                    member_groups |= copy_names
            metadata = self._metadata(entry)
            memberships[user.email] = Membership(
                user.email,
                user.role,
                "archived" if expiries.membership_expired else user.status,
                frozenset(g for g in member_groups if g in groups),
                metadata,
            )
        return memberships

    def _expiries(self, entry: LoadedUser) -> MemberExpiries:
        """When the entry's membership and group memberships end, and which have ended (``self.now``); recorded
        for the planner (``expired 2027-03-31``) and for the list of what expires soon."""
        user = entry.model
        groups = user.group_expiries()
        if user.expires is None and not groups:
            return MemberExpiries()
        result = MemberExpiries(
            membership=user.expires,
            membership_expired=user.expires is not None and user.expires.expired(self.now),
            groups=groups,
            groups_expired=frozenset(name for name, expiry in groups.items() if expiry.expired(self.now)),
        )
        self.expiries[user.email] = result
        return result

    def _copies_with_users(self) -> dict[str, set[str]]:
        copies: dict[str, set[str]] = {}
        for group in self.model.groups:
            dup = group.duplicate_of
            if dup is not None and "users" in dup.parts and group.name not in self.external:
                copies.setdefault(dup.group, set()).add(group.name)
        # a copy of a copy also receives the original's users
        changed = True
        while changed:
            changed = False
            for names in copies.values():
                extra = set().union(*(copies.get(n, set()) for n in names)) - names
                if extra:
                    names |= extra
                    changed = True
        return copies

    def _user_groups(self, entry: LoadedUser) -> set[str]:
        seen: set[str] = set()
        for k, name in enumerate(entry.model.group_names()):
            if name in seen:
                self.error(entry.locate(("groups", k)), f"group {name!r} is listed twice for {entry.model.email}")
            elif name in self.external:
                self.error(
                    entry.locate(("groups", k)),
                    f"group {name!r} has members: external: its members are set by SSO/SCIM sync or ToolJet's UI, "
                    "not listed in the configuration",
                    "remove it from this user's groups, or declare the group with members: managed",
                )
            elif name not in self.group_names and not self.ws.excused("groups", name):
                self.error(
                    entry.locate(("groups", k)),
                    f"unknown group {name!r}",
                    f"groups declared in this workspace: {self._listing('groups', self.group_names)}",
                )
            seen.add(name)
        return seen

    def _metadata(self, entry: LoadedUser, *, resolve: bool = True) -> Metadata:
        raw = entry.model.metadata
        if raw is None:  # no `metadata:` key (or an empty CSV cell): leave the stored metadata alone
            return Metadata.UNMANAGED
        values: dict[str, str] = {}
        sources: dict[str, str] = {}
        for key, value in raw.items():
            if isinstance(value, models.SecretRef):
                path = self._reference(value, key, entry.locate, self.ws.part_of(entry))
                if path is None or not resolve:
                    continue
                resolved = self._resolve(value, path, entry.locate(("metadata", key)), self.ws.part_of(entry))
                if resolved is None:
                    continue
                value, sources[key] = resolved, describe_reference(value)
            values[key] = value
        if sources:
            self.metadata_sources[entry.model.email] = sources
        if sum(len(v) for v in values.values()) > METADATA_TOTAL_MAX:
            self.error(
                entry.locate(("metadata",)),
                f"metadata values together exceed {METADATA_TOTAL_MAX} characters",
            )
        return Metadata.of(values)

    def _reference(
        self, ref: models.SecretRef, key: str, locate: Callable[..., Location], part: LoadedWorkspace
    ) -> Path | None:
        """Check where a secret reference may read from (also when secrets are not resolved, as in validate).

        Returns the path to read for a ``{file:}`` reference (symlinks resolved), an empty Path for an allowed
        ``{env:}`` one, or None after reporting why the reference is refused.
        """
        if ref.env is not None:
            if not models.reserved_env_name(ref.env):
                return Path()
            self.error(
                locate(("metadata", key, "env")),
                f"environment variable {ref.env} holds reconciler's or ToolJet's own configuration or secrets "
                "and cannot be used for metadata (which every app of the workspace can read)",
                f"reserved: {RESERVED_ENV_DISPLAY}; put the value in a variable of its own",
            )
            return None
        assert ref.file is not None
        written = Path(part.base_dir, ref.file)
        roots = self.secret_roots.setdefault(id(part), _secret_roots(part, self.config_root))
        real, outside = confine(written, roots)
        if outside is not None:
            self.error(
                locate(("metadata", key, "file")),
                f"secret file {ref.file!r} {outside}",
                "to read secrets from another directory, list it in this workspace's settings.secret_dirs, "
                "e.g. secret_dirs: [/run/secrets]",
            )
            return None
        if is_key_name(written) or is_key_name(real):
            self.error(
                locate(("metadata", key, "file")),
                f"secret file {ref.file!r} is named like a key file (*.key, as reconciler's own <database>.key): "
                "it is not read into metadata, which every app of the workspace can read",
                "if it really is a value meant for apps, give the file another name",
            )
            return None
        return real

    def _resolve(self, ref: models.SecretRef, path: Path, where: Location, part: LoadedWorkspace) -> str | None:
        """The value of an allowed reference (``path``: what ``_reference`` returned), or None after an error."""
        if not self.resolve_secrets:
            return SECRET_PLACEHOLDER
        if ref.env is not None:
            if ref.env not in self.environ:
                self.error(
                    where,
                    f"environment variable {ref.env} is not set",
                    "secret references never default to ''",
                )
                return None
            value = self.environ[ref.env]
        else:
            try:
                data = read_regular_file(path, max_bytes=SECRET_MAX_BYTES, refuse_keys=False)
                value = data.decode("utf-8").removesuffix("\n")
            except FileTooLarge:
                self.error(where, f"the secret's value is longer than {models.METADATA_VALUE_MAX} characters")
                return None
            except FileRefused as exc:  # a FIFO, a device, /proc: refused before reading (no hang, no flood)
                self.error(where, f"secret file {ref.file!r} {exc.message.removeprefix('file ')}")
                return None
            except (OSError, UnicodeDecodeError) as exc:
                reason = "not found" if isinstance(exc, FileNotFoundError) else "cannot be read"
                looked = Path(part.base_dir, str(ref.file))
                self.error(where, f"secret file {ref.file!r} {reason} (looked in {looked})")
                return None
        if len(value) > models.METADATA_VALUE_MAX:
            self.error(where, f"the secret's value is longer than {models.METADATA_VALUE_MAX} characters")
            return None
        return value

    def _check_protected(self, memberships: dict[str, Membership]) -> None:
        for k, email in enumerate(self.model.settings.protected_users):
            if email not in memberships and not self.ws.excused("users", email):
                self.error(
                    self.ws.locate("settings", "protected_users", k),
                    f"protected user {email!r} is not declared in workspace {self.ws.display_slug!r}",
                )

    def _check_admin(self) -> None:
        if self.ws.admin_unknown:
            return  # a user entry left out for its own errors may have been the admin
        admins = [u.model for u in self.ws.users if u.model.role == "admin" and u.model.status == "active"]
        if not any(a.expires is None or not a.expires.expired(self.now) for a in admins):
            where = self.ws.locate("users") if self.model.users else self.ws.locate()
            hint = f"declare a user with role: admin in workspace {self.ws.display_slug!r}"
            if admins:
                expired = ", ".join(f"{a.email} (expired {a.expires.describe()})" for a in admins if a.expires)
                hint = f"the access of every admin has expired: {expired}; " + hint
            self.error(where, NO_ADMIN, hint)

    def _check_strict_roles(self, state: Workspace, settings: Settings) -> None:
        if not settings.strict_roles:
            return
        entries: dict[str, LoadedUser] = {}
        for entry in self.ws.users:
            if not entry.broken:
                entries.setdefault(entry.model.email, entry)
        for email, implied in strict_role_conflicts(state):
            if any(r.group in self.ws.damaged_groups for r in implied):
                continue  # a group with form errors (reported) was salvaged: its level is not what was written
            groups = ", ".join(r.describe() for r in implied)
            self.error(
                entries[email].locate(("groups",)),
                STRICT_ROLES_MESSAGE,
                f"{email} is an end-user in builder-level {groups}; strict_roles is on",
            )

    # --- templates and ownership (issue 17) ---------------------------------------------------------

    def _template_of(self, i: int, group: models.Group) -> LoadedTemplate | None:
        """The template group ``i`` takes (reporting an unknown one), or None."""
        name = group.template
        if name is None:
            return None
        where = self.ws.locate("groups", i, "template")
        if group.duplicate_of is not None:
            self.error(where, "a group takes either a template or duplicate_of, not both")
            return None
        template = self.templates.by_name.get(name)
        if template is None:
            self.error(
                where,
                f"unknown template {quoted(name)}",
                f"templates declared in the configuration: {listing(self.templates.names())}",
            )
            return None
        return None if template.broken else template

    def _from_template(
        self,
        i: int,
        group: models.Group,
        template: LoadedTemplate,
        flags: dict[str, bool],
        apps: tuple,
        sources: tuple,
    ) -> tuple[dict[str, bool], tuple, tuple]:
        """The template's definition with the group's own overrides: flags one by one, and each kind of grant
        (apps, data_sources) as a whole when the group gives it."""
        flags = _flag_values(template.model.permissions) | flags
        own = group.granular.model_fields_set if group.granular is not None else set()
        template_apps, template_sources = self._grants(template.model.granular, ("granular",), template=(i, template))
        return flags, apps if "apps" in own else template_apps, sources if "data_sources" in own else template_sources

    def _template_field(self, group: models.Group, name: str) -> Any:
        """A field of ``group``, from its template when the group does not give it."""
        template = self.templates.by_name.get(group.template) if group.template is not None else None
        if name in group.model_fields_set or template is None or template.broken:
            return getattr(group, name)
        return getattr(template.model, name)

    def _previously(self, group: models.Group) -> list[str]:
        return self._template_field(group, "previously")

    def _members(self, group: models.Group) -> str:
        return self._template_field(group, "members")

    def _ownership(self) -> Ownership:
        settings = self.model.settings
        return Ownership(
            ignore=tuple(settings.ignore),
            manage_roles=settings.manage.roles,
            manage_groups=settings.manage.groups,
            manage_metadata=settings.manage.metadata,
            external_groups=self.external,
            mass_change_share=settings.rails.mass_change_share,
            mass_change_min=settings.rails.mass_change_min,
        )

    def _check_ownership(self) -> None:
        """A declared user may not match an ignore pattern; a copy (duplicate_of) may not receive users when its
        members are external. (Users listing an external group: ``_user_groups``.)"""
        patterns = Ownership(ignore=tuple(self.model.settings.ignore))
        for entry in self.ws.users:
            pattern = patterns.ignoring(entry.model.email) if "email" not in entry.broken else None
            if pattern is not None:
                k = self.model.settings.ignore.index(pattern)
                self.error(
                    entry.locate(("email",)),
                    f"{entry.model.email} matches the ignore pattern {quoted(pattern)} of workspace "
                    f"{self.ws.display_slug!r}: this configuration never manages such members, so it cannot "
                    "declare one",
                    f"the pattern is at {self.ws.locate('settings', 'ignore', k)}; remove the user entry, or "
                    "narrow the pattern",
                )
        for i, group in enumerate(self.model.groups):
            dup = group.duplicate_of
            if (
                dup is not None
                and group.name in self.external
                and "parts" in dup.model_fields_set
                and "users" in dup.parts
            ):
                self.error(
                    self.ws.locate("groups", i, "duplicate_of", "parts"),
                    f"group {group.name!r} has members: external, so duplicate_of cannot copy users into it",
                    "remove users from parts",
                )


_TemplateUse = tuple[int, LoadedTemplate]  # (index of the group that uses it, the template)

LISTED_NAMES = 20
"""Names listed in a hint at most; the rest are counted."""


def listing(names: Collection[str]) -> str:
    """``a, b, c`` sorted, at most LISTED_NAMES of them (``..., and 1,234 more``); ``none`` when empty."""
    ordered = sorted(names)
    if len(ordered) <= LISTED_NAMES:
        return ", ".join(ordered) or "none"
    return ", ".join(ordered[:LISTED_NAMES]) + f", ... and {len(ordered) - LISTED_NAMES:,} more"


def _flag_values(perms: models.Permissions | None) -> dict[str, bool]:
    """Only the flags the group states explicitly, so duplicate_of can fill in the rest from the source."""
    if perms is None:
        return {}
    values: dict[str, bool] = {}
    for section in perms.model_fields_set:
        part = getattr(perms, section)
        for action in part.model_fields_set:
            values[f"{section}.{action}"] = getattr(part, action)
    return values


RESERVED_ENV_DISPLAY = ", ".join(
    [f"{prefix}*" for prefix in models.RESERVED_ENV_PREFIXES] + sorted(models.RESERVED_ENV_NAMES)
)


def describe_reference(ref: models.SecretRef) -> str:
    """Where a secret reference reads from, as the plan shows it: ``env ACME_KEY`` or ``file secrets/x.txt``."""
    return f"env {ref.env}" if ref.env is not None else f"file {ref.file}"


def _secret_roots(ws: LoadedWorkspace, config_root: Path | None) -> list[Path]:
    """The directories ``{file:}`` references of ``ws`` may read from, symlinks resolved: the configuration's
    directory first, then the workspace's ``settings.secret_dirs`` (relative ones from the YAML file)."""
    root = config_root if config_root is not None else ws.base_dir
    return allowed_roots(root, ws.base_dir, ws.model.settings.secret_dirs)
