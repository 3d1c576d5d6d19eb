"""The pydantic models of ``policies:`` entries (issue 18), top level and per workspace.

Stage: config. Form only: one rule kind per entry, its own fields well-formed. Which groups, apps and data
sources a rule may name, and the uniqueness of ids, need the whole configuration: ``policy_rules.py``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

POLICY_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
KIND_KEYS = ("admins", "seats", "exclusive", "allow", "require_metadata", "forbid")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_id(value: str) -> str:
    if not POLICY_ID_RE.match(value):
        raise PydanticCustomError(
            "policy_id", "a policy id is 1-100 letters, digits, '-', '_' or '.', starting with a letter or digit"
        )
    return value


def _check_text(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "must not be empty")
    if _CONTROL_RE.search(value):
        raise PydanticCustomError("control_chars", "must not contain control characters")
    if len(value) > 500:
        raise PydanticCustomError("too_long", "is longer than 500 characters")
    return value


PolicyId = Annotated[
    str,
    AfterValidator(_check_id),
    WithJsonSchema({"type": "string", "pattern": POLICY_ID_RE.pattern}),
]
Text = Annotated[str, AfterValidator(_check_text), WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 500})]
Count = Annotated[int, Field(ge=0)]
Names = Annotated[list[Text], Field(min_length=1)]


class AdminsRule(_Model):
    min: Count | None = Field(default=None, description="at least this many admins that are not archived")
    max: Count | None = Field(default=None, description="at most this many admins that are not archived")

    @model_validator(mode="after")
    def _bounds(self) -> AdminsRule:
        if self.min is None and self.max is None:
            raise PydanticCustomError("admins_bounds", "give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise PydanticCustomError("admins_bounds", f"min ({self.min}) is greater than max ({self.max})")
        return self


class SeatsRule(_Model):
    builders: Count | None = Field(default=None, description="admins and builders (ToolJet's editor seats)")
    end_users: Count | None = Field(default=None, description="end users (ToolJet's viewer seats)")
    total: Count | None = Field(default=None, description="every member that is not archived")

    @model_validator(mode="after")
    def _some(self) -> SeatsRule:
        if self.builders is None and self.end_users is None and self.total is None:
            raise PydanticCustomError("seats_budget", "give builders, end_users, total, or several of them")
        return self


def _exactly_one(model: BaseModel, keys: tuple[str, ...], what: str) -> None:
    given = [k for k in keys if getattr(model, k) is not None]
    if len(given) != 1:
        found = ", ".join(given) if given else "none"
        raise PydanticCustomError("one_of", f"{what} needs exactly one of {', '.join(keys)} (found {found})")


class AllowRule(_Model):
    role: Literal["admin", "builder", "end-user"] | None = Field(default=None, description="who may hold this role")
    group: Text | None = Field(default=None, description="who may be a member of this custom group")
    builder_level: Literal[True] | None = Field(
        default=None, description="true: who may be an admin or a builder (builder-level access)"
    )
    emails: Names = Field(description="email patterns of who may: '*@acme.com', 'ops-*@acme.com'")

    @model_validator(mode="after")
    def _one(self) -> AllowRule:
        _exactly_one(self, ("role", "group", "builder_level"), "allow")
        return self


class RequireMetadataRule(_Model):
    group: Text | None = Field(default=None, description="members of this custom group")
    role: Literal["admin", "builder", "end-user"] | None = Field(default=None, description="members with this role")
    keys: Names = Field(description="metadata keys each of those members must have")

    @model_validator(mode="after")
    def _one(self) -> RequireMetadataRule:
        _exactly_one(self, ("group", "role"), "require_metadata")
        return self


class ForbidRule(_Model):
    access: Literal["edit", "view", "configure", "use"] = Field(
        description="edit | view (with apps), configure | use (with data_sources)"
    )
    apps: Names | None = Field(default=None, description="app slugs")
    data_sources: Names | None = Field(default=None, description="data source names")
    except_groups: list[Text] = Field(
        default_factory=list, description="the only custom groups through which that access may be granted"
    )

    @model_validator(mode="after")
    def _target(self) -> ForbidRule:
        _exactly_one(self, ("apps", "data_sources"), "forbid")
        if self.apps is not None and self.access not in ("edit", "view"):
            raise PydanticCustomError(
                "forbid_access", f"access {self.access} is for data_sources; apps take edit or view"
            )
        if self.data_sources is not None and self.access not in ("configure", "use"):
            raise PydanticCustomError(
                "forbid_access", f"access {self.access} is for apps; data_sources take configure or use"
            )
        return self


class PolicyEntry(_Model):
    """One declarative rule: ``{id, level, message, <one kind>}``."""

    id: PolicyId = Field(description="unique among the policies that apply to a workspace")
    level: Literal["deny", "warn"] = Field(
        default="deny", description="deny (default): the plan is refused; warn: reported, the plan goes through"
    )
    message: Text = Field(description="what the rule is for, shown with every violation")
    admins: AdminsRule | None = Field(default=None, description="bounds on the admins of each workspace")
    seats: SeatsRule | None = Field(default=None, description="seat budgets, counted as ToolJet counts seats")
    exclusive: Annotated[list[Text], Field(min_length=2)] | None = Field(
        default=None, description="separation of duties: custom groups no one may hold two of"
    )
    allow: AllowRule | None = Field(default=None, description="who may hold a role, a group or builder-level access")
    require_metadata: RequireMetadataRule | None = Field(
        default=None, description="metadata keys the members of a group or role must have"
    )
    forbid: ForbidRule | None = Field(
        default=None, description="access nobody may get except through the listed groups (admins excepted)"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> PolicyEntry:
        _exactly_one(self, KIND_KEYS, "a policy")
        return self
