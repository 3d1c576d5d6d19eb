"""The pydantic models of the YAML format (SPEC 2.1).

Stage: config. These check the *form* of one document: types, enumerations, unknown keys. Rules that need
the whole configuration (references, duplicates, admins) live in ``checks.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

SLUG_RE = re.compile(r"^[a-z0-9-]{1,50}$")
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
METADATA_VALUE_MAX = 2_000
ROLE_NAMES = ("admin", "builder", "end-user")


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
            "slug", f"{value[:60]!r} is not a valid slug (1-50 characters: lower-case letters, digits, '-')"
        )
    return value


def _check_email(value: str) -> str:
    if len(value) > 320 or not EMAIL_RE.match(value):
        raise PydanticCustomError("email", f"{value[:80]!r} is not a valid email address")
    return value.lower()


def _check_group_name(value: str) -> str:
    _plain_text(value, what="a group name", max_length=50)
    if value.strip().lower() in ROLE_NAMES or value.strip().lower() in ("end user", "end-users"):
        raise PydanticCustomError("reserved", f"{value!r} is a role name and cannot be used for a custom group")
    return value


def _check_name(value: str) -> str:
    return _plain_text(value, what="a name", max_length=255)


Slug = Annotated[str, AfterValidator(_check_slug)]
Email = Annotated[str, AfterValidator(_check_email)]
GroupName = Annotated[str, AfterValidator(_check_group_name)]
Name = Annotated[str, AfterValidator(_check_name)]


class CreateDelete(Model):
    create: bool = False
    delete: bool = False


class CreateUpdateDelete(Model):
    create: bool = False
    update: bool = False
    delete: bool = False


class Permissions(Model):
    apps: CreateDelete | None = None
    folders: CreateUpdateDelete | None = None
    workspace_constants: CreateUpdateDelete | None = None
    data_sources: CreateDelete | None = None

    def true_flags(self) -> set[str]:
        flags = set()
        for section in ("apps", "folders", "workspace_constants", "data_sources"):
            value = getattr(self, section)
            if value is not None:
                flags |= {f"{section}.{k}" for k, v in value.model_dump().items() if v}
        return flags


def _all_or_list(value: Any, what: str) -> Any:
    if value == "all":
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return value
    raise PydanticCustomError("all_or_list", f"expected 'all' or a non-empty list of {what}")


class AppGrant(Model):
    access: Literal["edit", "view"]
    apps: Any
    hide_from_dashboard: bool = False

    @field_validator("apps", mode="before")
    @classmethod
    def _apps(cls, value: Any) -> Any:
        return _all_or_list(value, "app slugs")

    @model_validator(mode="after")
    def _hidden_only_with_view(self) -> AppGrant:
        if self.hide_from_dashboard and self.access == "edit":
            raise PydanticCustomError(
                "hide_with_edit", "hide_from_dashboard can only be true when access is view, not edit"
            )
        return self


class DataSourceGrant(Model):
    access: Literal["configure", "use"]
    data_sources: Any

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
    raise PydanticCustomError(
        "fixed_role",
        "Group cannot be update because its not allowed (only the builder role can be customised)",
    )


class Roles(Model):
    builder: BuilderRole | None = None
    admin: Annotated[Any, AfterValidator(_fixed_role)] = None
    end_user: Annotated[Any, AfterValidator(_fixed_role)] = Field(default=None, alias="end-user")


class DuplicateOf(Model):
    group: GroupName
    parts: list[Literal["users", "permissions", "granular"]] = Field(
        default_factory=lambda: ["users", "permissions", "granular"]
    )


class Group(Model):
    name: GroupName
    previously: list[GroupName] = Field(default_factory=list)
    permissions: Permissions | None = None
    granular: Granular | None = None
    duplicate_of: DuplicateOf | None = None


class SecretRef(Model):
    env: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise PydanticCustomError("secret_ref", "a secret reference needs exactly one of 'env' or 'file'")
        if self.env is not None and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", self.env):
            raise PydanticCustomError("secret_env", f"{self.env[:60]!r} is not a valid environment variable name")
        if self.file is not None and not self.file.strip():
            raise PydanticCustomError("secret_file", "the 'file' of a secret reference must not be empty")
        return self


def _metadata_value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > METADATA_VALUE_MAX:
            raise PydanticCustomError("too_long", f"a metadata value is longer than {METADATA_VALUE_MAX} characters")
        return value
    if isinstance(value, dict):
        try:
            return SecretRef.model_validate(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            raise PydanticCustomError("secret_ref", first["msg"]) from None
    raise PydanticCustomError(
        "metadata_value", "metadata values must be strings or secret references ({env: NAME} or {file: path})"
    )


MetadataValue = Annotated[Any, AfterValidator(_metadata_value)]


class User(Model):
    email: Email
    first_name: Name
    last_name: str = ""
    role: Literal["admin", "builder", "end-user"]
    status: Literal["active", "archived"] = "active"
    groups: list[GroupName] = Field(default_factory=list)
    metadata: dict[str, MetadataValue] | None = None

    @field_validator("last_name")
    @classmethod
    def _last_name(cls, value: str) -> str:
        if value and _CONTROL_RE.search(value):
            raise PydanticCustomError("control_chars", "a name must not contain control characters")
        if len(value) > 255:
            raise PydanticCustomError("too_long", "a name is longer than 255 characters")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            _plain_text(key, what="a metadata key", max_length=255)
        return value


class Settings(Model):
    prune: Literal["archive", "none"] = "archive"
    strict_roles: bool = False
    protected_users: list[Email] = Field(default_factory=list)


class App(Model):
    slug: Slug
    name: Name


class DataSource(Model):
    name: Name


class Workspace(Model):
    slug: Slug
    name: Name
    status: Literal["active", "archived"] = "active"
    settings: Settings = Field(default_factory=Settings)
    apps: list[App] = Field(default_factory=list)
    data_sources: list[DataSource] = Field(default_factory=list)
    roles: Roles | None = None
    groups: list[Group] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    users_csv: list[str] = Field(default_factory=list)


class ConfigFile(Model):
    version: Literal[1]
    workspaces: list[Workspace] = Field(default_factory=list)


class Envelope(Model):
    """The top level of a file, checked before each workspace is checked on its own."""

    version: Literal[1]
    workspaces: list[Any] = Field(default_factory=list)
