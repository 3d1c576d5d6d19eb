"""The pydantic models of the YAML format (SPEC 2.1).

Stage: config. These check the *form* of one document: types, enumerations, unknown keys. Rules that need
the whole configuration (references, duplicates, admins) live in ``checks.py``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..expiry import ExpiryFormatError, parse_expires
from ..safetext import quoted
from .identity import MAX_EMAIL_CHARS, email_problem, normalise_email, role_skeleton, shown
from .policy_models import PolicyEntry

SLUG_RE = re.compile(r"^[a-z0-9-]{1,50}$")
# For editors (the JSON Schema): one address, without separators, quoting or routing characters. The rules
# themselves are in identity.py.
EMAIL_RE = re.compile(
    r'^[^@\s\x00-\x1f\x7f,;<>()\[\]:"\\%!]+@[^@\s\x00-\x1f\x7f,;<>()\[\]:"\\%!]+\.[^@\s\x00-\x1f\x7f,;<>()\[\]:"\\%!.]+$'
)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
METADATA_VALUE_MAX = 2_000
ROLE_NAMES = ("admin", "builder", "end-user")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Environment variables a {env:} reference may not name: they hold reconciler's own configuration and secrets
# (RECONCILER_*), ToolJet's (LOCKBOX_MASTER_KEY and the rest of LOCKBOX_*, SECRET_KEY_BASE, its database
# passwords) or the database password libpq reads (PGPASSWORD). Metadata is readable by every ToolJet app of the
# workspace, so resolving one of these would hand the keys to whoever can edit the YAML. Compared case-insensitively.
RESERVED_ENV_PREFIXES = ("RECONCILER_", "LOCKBOX_")
RESERVED_ENV_NAMES = frozenset(
    {"SECRET_KEY_BASE", "PG_PASS", "TOOLJET_DB_PASS", "PGRST_JWT_SECRET", "DATABASE_URL", "PGPASSWORD"}
)
FIXED_ROLE_MESSAGE = "Group cannot be update because its not allowed"

# The tags of the metadata value union. pydantic puts the tag of a tagged union into an error's ``loc``;
# errors_map.py removes it again, so that errors read ``metadata.api_key.env``, not ``metadata.api_key.<tag>.env``.
TAG_STRING = "metadata-string"
TAG_SECRET = "metadata-secret-ref"
TAG_GROUP_NAME = "group-name"
TAG_GROUP_ENTRY = "group-entry"
UNION_TAGS = frozenset({TAG_STRING, TAG_SECRET, TAG_GROUP_NAME, TAG_GROUP_ENTRY})


def _not_null(extra: dict[str, Any] | None = None) -> Callable[[dict[str, Any]], None]:
    """A ``json_schema_extra`` for an optional field where an explicit null is not accepted (or not meant):
    the schema keeps only the non-null branch, plus ``extra``."""

    def edit(schema: dict[str, Any]) -> None:
        branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            schema.update(branches[0])
        elif branches:
            schema["anyOf"] = branches
        schema.update(extra or {})

    return edit


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def _plain_text(value: str, *, what: str, max_length: int) -> str:
    if _CONTROL_RE.search(value):
        raise PydanticCustomError("control_chars", f"{what} must not contain control characters")
    if len(value) > max_length:
        raise PydanticCustomError("too_long", f"{what} is longer than {max_length} characters")
    if not value.strip():
        raise PydanticCustomError("blank", f"{what} must not be empty")
    return value


def _check_slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise PydanticCustomError(
            "slug", f"{quoted(value)} is not a valid slug (1-50 characters: lower-case letters, digits, '-')"
        )
    return value


def _check_email(value: str) -> str:
    """The one email validation (YAML users, protected_users, and CSV rows, whose cells the loader validates with
    these models): identity.py."""
    if not value.strip():  # an empty CSV cell, or `email: ""`
        raise PydanticCustomError("blank", "an email address must not be empty")
    problem = email_problem(value)
    if problem is not None:
        raise PydanticCustomError("email", problem)
    return normalise_email(value)


_ROLE_SKELETONS = frozenset(role_skeleton(n) for n in (*ROLE_NAMES, "end-users"))


# ToolJet's own refusals of a custom group's name (server/src/modules/group-permissions/util.service.ts,
# validateCreateGroupOperation; messages from constants/error.ts; HUMANIZED_USER_LIST from constants/index.ts).
# ToolJet compares exactly (case-sensitive) after its DTO trims the name; both backends refuse the same names
# with the same words, and the look-alike rules below refuse more.
RESERVED_KEYWORDS_MESSAGE = "Group name cannot be same as reserved keywords"
HUMANIZED_NAME_MESSAGE = "Group name already exists"
HUMANIZED_ROLE_NAMES = ("End-user", "Builder", "Admin")


def _check_former_group_name(value: str) -> str:
    """A name in ``previously``: it may look like a role name (so that such a group can be renamed away)."""
    _plain_text(value, what="a group name", max_length=50)
    if value in ROLE_NAMES:
        raise PydanticCustomError(
            "reserved", f"{RESERVED_KEYWORDS_MESSAGE} ({quoted(value)} is a role name, not a custom group)"
        )
    if value in HUMANIZED_ROLE_NAMES:
        raise PydanticCustomError(
            "reserved", f"{HUMANIZED_NAME_MESSAGE} ({quoted(value)} is a role name as ToolJet shows it)"
        )
    if value.strip().lower() in ROLE_NAMES or value.strip().lower() in ("end user", "end-users"):
        raise PydanticCustomError("reserved", f"{quoted(value)} is a role name and cannot be used for a custom group")
    return value


@functools.lru_cache(maxsize=4096)  # the same few names are listed by thousands of users
def _check_group_name(value: str) -> str:
    _check_former_group_name(value)
    if value != value.strip():
        # ToolJet's CreateGroupPermissionDto/UpdateGroupPermissionDto trim the name: "finance " would be stored
        # as "finance", and a second group that looks identical must never appear.
        raise PydanticCustomError(
            "untrimmed",
            f"{quoted(value)} begins or ends with spaces; ToolJet trims group names, so it would be the group "
            f"{quoted(value.strip())}: write {quoted(value.strip())}",
        )
    if role_skeleton(value) in _ROLE_SKELETONS:
        raise PydanticCustomError(
            "confusable",
            f"{shown(value)} looks like the role name {role_skeleton(value)!r} (look-alike, invisible or accented "
            "letters, case and separators aside) and cannot be used for a custom group",
        )
    return value


def _check_name(value: str) -> str:
    return _plain_text(value, what="a name", max_length=255)


Slug = Annotated[
    str,
    AfterValidator(_check_slug),
    WithJsonSchema({"type": "string", "pattern": SLUG_RE.pattern, "minLength": 1, "maxLength": 50}),
]
Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "pattern": EMAIL_RE.pattern, "maxLength": MAX_EMAIL_CHARS}),
]
GroupName = Annotated[
    str,
    AfterValidator(_check_group_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 50,
            "pattern": r"^\S(.*\S)?$",
            "not": {"enum": [*ROLE_NAMES, *HUMANIZED_ROLE_NAMES, "End-User", "End User", "end user", "end-users"]},
        }
    ),
]
FormerGroupName = Annotated[
    str,
    AfterValidator(_check_former_group_name),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": 50,
            "not": {"enum": [*ROLE_NAMES, *HUMANIZED_ROLE_NAMES, "End-User", "End User", "end user", "end-users"]},
        }
    ),
]
Name = Annotated[str, AfterValidator(_check_name), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255})]


class CreateDelete(Model):
    create: bool = False
    delete: bool = False


class CreateUpdateDelete(Model):
    create: bool = False
    update: bool = False
    delete: bool = False


class AppFlags(CreateDelete):
    """Apps: create and delete, and (ToolJet 3.x with multiple environments) promote and release. ``promote`` and
    ``release`` are optional keys: left out, an existing group keeps what the database holds."""

    promote: bool = Field(default=False, description="promote app versions between environments (optional key)")
    release: bool = Field(default=False, description="release app versions (optional key)")


class Permissions(Model):
    apps: AppFlags | None = None
    folders: CreateUpdateDelete | None = None
    workspace_constants: CreateUpdateDelete | None = None
    data_sources: CreateDelete | None = None
    # Optional sections (issue 16): left out, or a key left out, an existing group keeps what the database holds.
    workflows: CreateDelete | None = Field(default=None, description="create and delete workflows (optional)")
    tooljet_database: CreateUpdateDelete | None = Field(
        default=None, description="create, update and delete ToolJet database tables (optional; one ToolJet column)"
    )
    modules: CreateDelete | None = Field(default=None, description="create and delete modules (optional)")

    def true_flags(self) -> set[str]:
        flags = set()
        for section in type(self).model_fields:
            value = getattr(self, section)
            if value is not None:
                flags |= {f"{section}.{k}" for k, v in value.model_dump().items() if v}
        return flags

    def stated_flags(self) -> set[str]:
        """The flags the configuration states explicitly (true or false)."""
        return {
            f"{section}.{action}"
            for section in self.model_fields_set
            if getattr(self, section) is not None
            for action in getattr(self, section).model_fields_set
        }


def _all_or_list(value: Any, what: str) -> Any:
    if value == "all":
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return value
    raise PydanticCustomError("all_or_list", f"expected 'all' or a non-empty list of {what}, got {_describe(value)}")


def describe_value(value: Any, *, content: bool = True) -> str:
    """A value as an error message names it: ``the boolean false``, ``the string 'x'``, ``a mapping``.

    ``content=False``: only its kind (``a string``), for a value that may be a whole file that is no
    configuration at all (a key file, a token)."""
    if not content:
        return "nothing (null)" if value is None else f"a {_KIND_NAMES.get(type(value), type(value).__name__)}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {quoted(value)}"
    return type(value).__name__


_KIND_NAMES = {str: "string", int: "number", float: "number", bool: "boolean", list: "list", dict: "mapping"}


def _describe(value: Any) -> str:
    """Like describe_value, but a list is described by its first offending item."""
    if isinstance(value, list):
        if not value:
            return "an empty list"
        bad = next((v for v in value if not (isinstance(v, str) and v)), None)
        return f"a list holding {_describe(bad)}"
    return describe_value(value)


def _targets_schema(what: str) -> dict[str, Any]:
    return {
        "anyOf": [
            {"const": "all", "description": f"every {what}, including ones created later"},
            {
                "type": "array",
                "items": {"type": "string", "minLength": 1},
                "minItems": 1,
                "description": f"the named {what}s (registered in this workspace)",
            },
        ]
    }


class AppGrant(Model):
    access: Literal["edit", "view"] = Field(description="edit | view")
    apps: Annotated[Any, WithJsonSchema(_targets_schema("app"))] = Field(
        description="'all', or a list of app slugs registered under the workspace's apps"
    )
    hide_from_dashboard: bool = Field(default=False, description="only with access: view")

    @field_validator("apps", mode="before")
    @classmethod
    def _apps(cls, value: Any) -> Any:
        return _all_or_list(value, "app slugs")

    @field_validator("hide_from_dashboard")
    @classmethod
    def _hidden_only_with_view(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("access") == "edit":
            raise PydanticCustomError(
                "hide_with_edit", "hide_from_dashboard can only be true when access is view, not edit"
            )
        return value


class DataSourceGrant(Model):
    access: Literal["configure", "use"] = Field(description="configure | use")
    data_sources: Annotated[Any, WithJsonSchema(_targets_schema("data source"))] = Field(
        description="'all', or a list of data source names registered under the workspace's data_sources"
    )

    @field_validator("data_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> Any:
        return _all_or_list(value, "data source names")


class Granular(Model):
    apps: list[AppGrant] = Field(default_factory=list)
    data_sources: list[DataSourceGrant] = Field(default_factory=list)


class BuilderRole(Model):
    permissions: Permissions | None = None
    granular: Granular | None = None


def _fixed_role(value: Any) -> Any:
    raise PydanticCustomError("fixed_role", FIXED_ROLE_MESSAGE)


_FIXED_ROLE_SCHEMA = WithJsonSchema(
    {"not": {}, "description": "a default role that cannot be customised: only builder may be declared here"}
)


class Roles(Model):
    builder: BuilderRole | None = Field(default=None, description="the only role that may be customised")
    admin: Annotated[Any, AfterValidator(_fixed_role), _FIXED_ROLE_SCHEMA] = None
    end_user: Annotated[Any, AfterValidator(_fixed_role), _FIXED_ROLE_SCHEMA] = Field(default=None, alias="end-user")


class DuplicateOf(Model):
    group: GroupName = Field(description="the source group, declared in the same workspace")
    parts: list[Literal["users", "permissions", "granular"]] = Field(
        default_factory=lambda: ["users", "permissions", "granular"],
        description="what the copy receives from the source (default: all three)",
    )


class Group(Model):
    name: GroupName = Field(description="unique in the workspace, at most 50 characters, not a role name")
    previously: list[FormerGroupName] = Field(
        default_factory=list,
        description="former names: the group is renamed in place, keeping members and grants (a former name may "
        "look like a role name, so that such a group can be renamed)",
    )
    permissions: Permissions | None = None
    granular: Granular | None = None
    duplicate_of: DuplicateOf | None = Field(default=None, description="copy parts of another group")
    members: Literal["managed", "external"] = Field(
        default="managed",
        description="managed (default): users list their groups here; external: the group's definition is managed "
        "here, its members belong to SSO/SCIM sync or ToolJet's UI (never added or removed by the plan)",
    )
    template: GroupName | None = Field(
        default=None,
        description="a group of the top-level templates: this group takes its definition; permissions and granular "
        "given here override the template's",
        json_schema_extra=_not_null(),
    )


def _check_env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME_RE.match(value):
        raise PydanticCustomError(
            "secret_env",
            f"{quoted(value)} is not a valid environment variable name (letters, digits and '_', not starting "
            "with a digit)",
        )
    return value


def reserved_env_name(name: str) -> bool:
    """Whether ``name`` holds reconciler's or ToolJet's own configuration or secrets (see RESERVED_ENV_NAMES)."""
    upper = name.upper()
    return upper.startswith(RESERVED_ENV_PREFIXES) or upper in RESERVED_ENV_NAMES


def _check_secret_file(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise PydanticCustomError("secret_file", "the 'file' of a secret reference must not be empty")
    if value is not None and "\x00" in value:
        raise PydanticCustomError("secret_file", "the 'file' of a secret reference must not contain a NUL character")
    if value is not None and _CONTROL_RE.search(value):  # the path is printed in the plan
        raise PydanticCustomError("secret_file", "the 'file' of a secret reference must not contain control characters")
    return value


def _check_secret_dir(value: str) -> str:
    if not value.strip() or "\x00" in value or _CONTROL_RE.search(value):
        raise PydanticCustomError("secret_dir", "a directory must be a non-empty path without control characters")
    return value


class SecretRef(Model):
    """{env: NAME} or {file: path}: a metadata value read when needed, never written in the YAML itself."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["env"]}, {"required": ["file"]}]},
    )

    env: Annotated[str | None, AfterValidator(_check_env_name)] = Field(
        default=None,
        description="name of an environment variable holding the value; not one of reconciler's or ToolJet's own "
        "(RECONCILER_*, LOCKBOX_*, " + ", ".join(sorted(RESERVED_ENV_NAMES)) + ")",
        json_schema_extra=_not_null(
            {
                "pattern": ENV_NAME_RE.pattern,
                "not": {
                    "pattern": "^("
                    + "|".join(RESERVED_ENV_PREFIXES)
                    + ")|^("
                    + "|".join(sorted(RESERVED_ENV_NAMES))
                    + ")$"
                },
            }
        ),
    )
    file: Annotated[str | None, AfterValidator(_check_secret_file)] = Field(
        default=None,
        description="path of a file holding the value, relative to the YAML file; inside the configuration's "
        "directory, or inside a directory listed in the workspace's settings.secret_dirs",
        json_schema_extra=_not_null({"minLength": 1}),
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            given = "both" if self.env is not None else "neither"
            raise PydanticCustomError(
                "secret_ref", f"a secret reference needs exactly one of 'env' or 'file' (found {given})"
            )
        return self


def _check_metadata_string(value: str) -> str:
    if len(value) > METADATA_VALUE_MAX:
        raise PydanticCustomError(
            "too_long", f"a metadata value is longer than {METADATA_VALUE_MAX:,} characters ({len(value):,})"
        )
    return value


def _metadata_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return TAG_STRING
    if isinstance(value, dict | SecretRef):
        return TAG_SECRET
    return None  # reported with the message below (and, by errors_map.py, the quoting hint)


METADATA_VALUE_MESSAGE = "metadata values must be strings or secret references ({env: NAME} or {file: path})"

MetadataValue = Annotated[
    Annotated[
        str,
        AfterValidator(_check_metadata_string),
        WithJsonSchema({"type": "string", "maxLength": METADATA_VALUE_MAX}),
        Tag(TAG_STRING),
    ]
    | Annotated[SecretRef, Tag(TAG_SECRET)],
    Discriminator(_metadata_kind, custom_error_type="metadata_value", custom_error_message=METADATA_VALUE_MESSAGE),
]


def _check_expires(value: Any) -> Any:
    try:
        return parse_expires(value)
    except ExpiryFormatError as exc:
        raise PydanticCustomError("expires", str(exc)) from None


Expires = Annotated[
    Any,
    AfterValidator(_check_expires),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
            "description": "when the access ends: a date (2027-03-31: ends at 00:00 UTC that day) or a timestamp "
            "with zone (2027-03-31T17:00:00+02:00); expired access is revoked by the next apply",
        }
    ),
]


class GroupMembership(Model):
    """A group membership that ends: ``{name: finance, expires: 2027-03-31}``."""

    name: GroupName = Field(description="a custom group of this workspace")
    expires: Expires = Field(description="when the group membership ends; the membership itself stays")


def _group_entry_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return TAG_GROUP_NAME
    if isinstance(value, dict | GroupMembership):
        return TAG_GROUP_ENTRY
    return None


GROUP_ENTRY_MESSAGE = "a group is a name, or {name: GROUP, expires: DATE} for a group membership that ends"

GroupEntry = Annotated[
    Annotated[GroupName, Tag(TAG_GROUP_NAME)] | Annotated[GroupMembership, Tag(TAG_GROUP_ENTRY)],
    Discriminator(_group_entry_kind, custom_error_type="group_entry", custom_error_message=GROUP_ENTRY_MESSAGE),
]


class User(Model):
    """A membership of the workspace (the user itself is instance-wide: names must agree across workspaces)."""

    email: Email = Field(description="compared case-insensitively, stored lower-case")
    first_name: Name
    last_name: str = Field(default="", description="may be omitted, and is then empty")
    role: Literal["admin", "builder", "end-user"] = Field(description="admin | builder | end-user")
    status: Literal["active", "archived"] = Field(default="active", description="active (default) | archived")
    groups: list[GroupEntry] = Field(
        default_factory=list,
        description="custom groups of this workspace (a name, or {name, expires}); none when omitted",
    )
    expires: Expires | None = Field(
        default=None,
        description="when the membership ends (it is then archived, groups and metadata kept)",
        json_schema_extra=_not_null(),
    )
    metadata: dict[str, MetadataValue] | None = Field(
        default=None,
        description="string values or secret references; omitted = leave the metadata alone, {} = no metadata",
        json_schema_extra=_not_null(),
    )

    def group_names(self) -> list[str]:
        """The names in ``groups``, in order (with or without an expiry)."""
        return [g if isinstance(g, str) else g.name for g in self.groups]

    def group_expiries(self) -> dict[str, Any]:
        """Group name -> its Expiry, for the group memberships that end."""
        return {g.name: g.expires for g in self.groups if isinstance(g, GroupMembership)}

    @field_validator("last_name")
    @classmethod
    def _last_name(cls, value: str) -> str:
        if value and _CONTROL_RE.search(value):
            raise PydanticCustomError("control_chars", "a name must not contain control characters")
        if len(value) > 255:
            raise PydanticCustomError("too_long", "a name is longer than 255 characters")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError(
                "metadata_null",
                "metadata is empty (null): write 'metadata: {}' for no metadata, or leave the key out to keep "
                "the current metadata",
            )
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            _plain_text(key, what="a metadata key", max_length=255)
        return value


# --- ownership (issue 17): who owns what, the rails' thresholds ------------------------------------------
# Kept in one section so that other changes to the models merge around it. docs/ownership.md describes them.

EMAIL_PATTERN_MAX = 320
MASS_CHANGE_SHARE_DEFAULT = 0.25
MASS_CHANGE_MIN_DEFAULT = 10


def _check_email_pattern(value: str) -> str:
    """A glob on emails (``*@partner.example``, ``bot-?@acme.com``): compared case-insensitively, so stored
    lower-case. It must hold an ``@``: a pattern without one (``*``) would cede every member by accident."""
    if not value.strip() or _CONTROL_RE.search(value) or any(c.isspace() for c in value):
        raise PydanticCustomError(
            "email_pattern", f"{quoted(value)} is not an email pattern: it must not be empty or hold spaces"
        )
    if len(value) > EMAIL_PATTERN_MAX:
        raise PydanticCustomError("too_long", f"an email pattern is longer than {EMAIL_PATTERN_MAX} characters")
    if value.count("@") != 1:
        raise PydanticCustomError(
            "email_pattern",
            f"{quoted(value)} is not an email pattern: it needs exactly one '@' (e.g. '*@partner.example', "
            "'bot-*@acme.com')",
        )
    return value.lower()


EmailPattern = Annotated[
    str,
    AfterValidator(_check_email_pattern),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[^@\s]*@[^@\s]*$",
            "maxLength": EMAIL_PATTERN_MAX,
            "description": "a glob on emails, compared case-insensitively: * any characters, ? one, [abc] one of",
        }
    ),
]


def _check_share(value: float) -> float:
    if not 0 <= value <= 1:
        raise PydanticCustomError(
            "share",
            f"mass_change_share is a share of the workspace between 0 and 1 (0.25 means 25%), got {value:g}",
        )
    return value


def _check_minimum(value: int) -> int:
    if value < 0:
        raise PydanticCustomError(
            "minimum", f"mass_change_min is a number of members or groups, 0 or more, got {value}"
        )
    return value


class Rails(Model):
    """The mass-change rail's thresholds (SPEC 5): apply needs --allow-mass-change when a plan archives, or changes
    the role of, more than ``mass_change_share`` of a workspace's non-archived members (or destroys more than that
    share of its custom groups), once the workspace has at least ``mass_change_min`` of them."""

    mass_change_share: Annotated[
        float, AfterValidator(_check_share), WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1})
    ] = Field(default=MASS_CHANGE_SHARE_DEFAULT, description="0 to 1; default 0.25 (25%)")
    mass_change_min: Annotated[
        int, AfterValidator(_check_minimum), WithJsonSchema({"type": "integer", "minimum": 0})
    ] = Field(
        default=MASS_CHANGE_MIN_DEFAULT, description="members (or groups) below which the rail never trips; default 10"
    )


class Manage(Model):
    """What this configuration manages of the members it manages (default: everything). A kind it does not manage
    is set when the membership is created, then left to ToolJet's UI, SSO/SCIM sync or another tool."""

    roles: bool = Field(default=True, description="false: declared roles apply to new memberships only")
    groups: bool = Field(default=True, description="false: custom-group membership is set for new memberships only")
    metadata: bool = Field(default=True, description="false: metadata is written for new memberships only")


def _check_seat_limit(value: int) -> int:
    if value < 1:
        raise PydanticCustomError("seat_limit", f"a seat limit is a number of people, 1 or more, got {value}")
    return value


SeatLimit = Annotated[int, AfterValidator(_check_seat_limit), WithJsonSchema({"type": "integer", "minimum": 1})]


class Limits(Model):
    """Seat limits of a ToolJet licence (issue 16), counted as ToolJet counts seats: plan refuses a plan that
    would exceed one with ToolJet's HTTP 451 message (docs/tooljet.md, "Seat limits")."""

    total: SeatLimit | None = Field(
        default=None,
        description="users with an invited or active membership in an active workspace (super admins too, at the "
        "top level)",
        json_schema_extra=_not_null(),
    )
    builders: SeatLimit | None = Field(
        default=None, description="admins and builders (ToolJet's builder seats)", json_schema_extra=_not_null()
    )
    end_users: SeatLimit | None = Field(
        default=None, description="end-users (ToolJet's end-user seats)", json_schema_extra=_not_null()
    )

    @model_validator(mode="after")
    def _some(self) -> Limits:
        if self.total is None and self.builders is None and self.end_users is None:
            raise PydanticCustomError("seat_limits", "give total, builders, end_users, or several of them")
        return self


PRUNE_CHOICES = ("archive", "none", "confirm")


class Settings(Model):
    prune: Literal["archive", "none", "confirm"] = Field(
        default="archive",
        description="archive (default): members and groups not in the file are archived / destroyed; none: left "
        "alone; confirm: planned as with archive, but apply refuses them without --allow-removals",
    )
    strict_roles: bool = Field(
        default=False, description="true: an end-user in a builder-level group is an error, not a promotion"
    )
    protected_users: list[Email] = Field(
        default_factory=list, description="users of this workspace that are never archived or demoted"
    )
    secret_dirs: list[Annotated[str, AfterValidator(_check_secret_dir)]] = Field(
        default_factory=list,
        description="directories outside the configuration's directory that {file:} secret references of this "
        "workspace may read (absolute, or relative to the YAML file), e.g. /run/secrets",
        json_schema_extra={"items": {"type": "string", "minLength": 1}},
    )
    csv_dirs: list[Annotated[str, AfterValidator(_check_secret_dir)]] = Field(
        default_factory=list,
        description="directories outside the configuration's directory that users_csv files of this workspace may "
        "be read from (absolute, or relative to the YAML file)",
        json_schema_extra={"items": {"type": "string", "minLength": 1}},
    )
    transfer_apps_to: Email | None = Field(
        default=None,
        description="tooljet backend: an admin of this workspace who receives the apps of a member demoted to "
        "end-user (as ToolJet's role change transfers them to the acting admin); without it such a demotion is "
        "refused with ToolJet's message",
    )
    ignore: list[EmailPattern] = Field(
        default_factory=list,
        description="email patterns of members this configuration never creates, changes, archives or reports as "
        "drift (service accounts, partners, SSO-created members)",
    )
    manage: Manage = Field(default_factory=Manage, description="what this configuration manages of its members")
    rails: Rails = Field(default_factory=Rails, description="the mass-change rail's thresholds for this workspace")


class App(Model):
    slug: Slug = Field(description="the stable key grants use")
    name: Name = Field(description="display name; updated in place")


class DataSource(Model):
    name: Name = Field(description="the key grants use")


class Workspace(Model):
    slug: Slug = Field(description="stable key: [a-z0-9-], 1-50 characters")
    name: Name | None = Field(
        default=None,
        description="display name, unique; changing it is an in-place update. Required in one of the files that "
        "declare the workspace (a workspace may be split over several files with the same slug)",
        json_schema_extra=_not_null(),
    )
    status: Literal["active", "archived"] = Field(default="active", description="active (default) | archived")
    settings: Settings = Field(default_factory=Settings)
    apps: list[App] = Field(default_factory=list, description="registry of apps that grants may name")
    data_sources: list[DataSource] = Field(
        default_factory=list, description="registry of data sources that grants may name"
    )
    roles: Roles | None = None
    groups: list[Group] = Field(default_factory=list, description="custom groups")
    users: list[User] = Field(default_factory=list, description="memberships")
    users_csv: list[str] = Field(
        default_factory=list,
        description="bulk-invite CSV files with more users, relative to this file; inside the configuration's "
        "directory, or inside a directory listed in the workspace's settings.csv_dirs",
    )
    policies: list[PolicyEntry] = Field(
        default_factory=list, description="access rules for this workspace (in addition to the top-level ones)"
    )
    limits: Limits | None = Field(
        default=None,
        description="seat limits of this workspace (ToolJet's per-workspace count); plan refuses to exceed them",
        json_schema_extra=_not_null(),
    )


class Templates(Model):
    groups: list[Group] = Field(
        default_factory=list,
        description="group definitions declared once, used in workspaces with {name: x, template: y}",
    )


class ConfigFile(Model):
    version: Literal[1] = Field(description="the format version: 1")
    templates: Templates | None = Field(
        default=None,
        description="shared definitions, usable in every workspace of the configuration",
        json_schema_extra=_not_null(),
    )
    policies: list[PolicyEntry] = Field(
        default_factory=list, description="access rules checked on every workspace (docs/governance.md)"
    )
    limits: Limits | None = Field(
        default=None,
        description="seat limits of the whole instance (the licence's, counted across every workspace); plan "
        "refuses to exceed them (docs/tooljet.md, Seat limits)",
        json_schema_extra=_not_null(),
    )
    workspaces: list[Workspace] = Field(default_factory=list)


class Envelope(Model):
    """The top level of a file, checked before each workspace is checked on its own."""

    version: Literal[1]
    templates: Any = None
    policies: list[Any] = Field(default_factory=list)
    limits: Any = None
    workspaces: list[Any] = Field(default_factory=list)
