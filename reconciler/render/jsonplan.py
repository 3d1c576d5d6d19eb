"""The JSON plan (``plan --format json``) and the saved plan file (``plan --out`` / ``apply FILE``), SPEC 4.

Stage: render. Pure: text in, text out; keys come in as a :class:`Keyring`.

The JSON plan describes each change for people and tools: ``before``/``after`` hold the resource, or for
partial updates only the parts that change (groups and metadata keys that leave appear in ``before``, those
that arrive in ``after``); metadata values are always masked as ``"(sensitive)"``, and membership changes list
their metadata keys as ``metadata_changes`` (``{"key", "action"}``). Grants, rail warnings and notes are listed too.

A saved plan is the JSON plan plus ``ops``: every op, field by field, so that ``apply FILE`` executes exactly
what was shown. Metadata values travel only encrypted under the ``plan-metadata`` key, bound to the
membership address, and, with a key configured, the whole document is signed (HMAC over its canonical JSON).
Loading is type-directed by the op dataclasses and turns every defect into a :class:`PlanFileError`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
from collections.abc import Mapping
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from ..changes import MASK, change_to_json_dict
from ..changes import encode as _encode
from ..crypto import Keyring
from ..errors import CryptoError, PlanFileError, SecretError
from ..ops import OP_TYPES, Ceded, Op, Plan, RoleChange
from ..state import Metadata
from .text import escape_json

__all__ = [
    "FORMAT_VERSION",
    "MASK",
    "PLAN_METADATA_PURPOSE",
    "PlanFileError",
    "dump_saved_plan",
    "load_saved_plan",
    "plan_to_json_dict",
    "render_json",
]

FORMAT_VERSION = 1
PLAN_METADATA_PURPOSE = "plan-metadata"
BAD_SIGNATURE = "the plan file's signature does not verify: it was edited or made with another key"
UNSIGNED = "the plan file is not signed, so nothing shows that it is the plan that was reviewed"
UNVERIFIABLE = "the plan file is signed, but no master key is configured here to verify the signature"
_UNSIGNED_HINT = (
    "make the plan with the master key configured (RECONCILER_MASTER_KEY), or pass --allow-unsigned to apply it anyway"
)
_NOT_A_PLAN = "not a reconciler plan file"


# --- the JSON plan ----------------------------------------------------------------------------------


def plan_to_json_dict(plan: Plan) -> dict[str, Any]:
    """The JSON plan of SPEC 4 as a dict (``format_version`` 1); never a metadata value."""
    document = {
        "format_version": FORMAT_VERSION,
        "changes": [change_to_json_dict(op) for op in plan.ops],
        "role_changes": [
            {"workspace": c.workspace, "email": c.email, "from": c.old, "to": c.new, "cause": c.cause}
            for c in plan.role_changes
        ],
        # New admins and builders that are not role changes (new memberships, unarchives): the role section.
        "grants": [dataclasses.asdict(g) for g in plan.grants],
        "summary": plan.summary,
        # Safety rails the plan breaks: apply refuses it (mass-change: unless --allow-mass-change).
        "warnings": [dataclasses.asdict(w) for w in plan.warnings],
        "notes": list(plan.notes),
        "unmanaged": list(plan.unmanaged),
        # What the configuration cedes to other writers (settings.ignore, members: external, settings.manage).
        "ceded": [dataclasses.asdict(c) for c in plan.ceded],
        "config_hash": plan.config_hash,
        "state_fingerprint": plan.state_fingerprint,
        "created_at": plan.created_at,
    }
    # Issue 18, present when there is something to say: what ends soon, and the policies checked with their
    # results (what tools such as OPA/conftest read; docs/governance.md).
    if plan.expiring:
        document["expiring_window"] = plan.expiring_window
        document["expiring"] = _encode(plan.expiring)
    if plan.hygiene:
        document["hygiene"] = _encode(plan.hygiene)
    if plan.policies or plan.policy_results:
        document["policies"] = _encode(plan.policies)
        document["policy_digest"] = plan.policy_digest
        document["policy_results"] = _encode(plan.policy_results)
    # Issue 16: the declared seat limits the plan was checked against, and those it leaves exceeded (warnings).
    if plan.seat_limits:
        document["seat_limits"] = _encode(plan.seat_limits)
        document["seat_warnings"] = list(plan.seat_warnings)
    return document


def render_json(plan: Plan) -> str:
    return escape_json(json.dumps(plan_to_json_dict(plan), indent=2, ensure_ascii=False)) + "\n"


# --- saving -----------------------------------------------------------------------------------------


def _canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _metadata_plaintext(metadata: Mapping[str, str]) -> bytes:
    return json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _encode_op(op: Op, keyring: Keyring | None) -> dict[str, Any]:
    encoded: dict[str, Any] = {"kind": type(op).__name__}
    for f in dataclasses.fields(op):
        value = getattr(op, f.name)
        if f.name != "metadata":
            encoded[f.name] = _encode(value)
            continue
        if value.unmanaged:  # the op writes no metadata
            encoded[f.name] = None
            continue
        if keyring is None:
            raise SecretError(
                f"the plan changes metadata of {op.address}, and a saved plan holds metadata values only "
                "encrypted: no master key is configured",
                hint="set RECONCILER_MASTER_KEY (or --master-key-file), then run plan --out again",
            )
        ciphertext = keyring.encrypt(
            _metadata_plaintext(value.values),  # (UNREAD raises: a plan loaded without its values is not saved)
            purpose=PLAN_METADATA_PURPOSE,
            associated_data=op.address.encode("utf-8"),
        )
        encoded[f.name] = {"ciphertext": ciphertext}
    return encoded


def _extra_plan_fields() -> list[str]:
    """Plan fields the JSON plan does not show (``workspaces``, ``protected``): saved under their own names."""
    shown = {"ops", "role_changes", "unmanaged", "ceded", "config_hash", "state_fingerprint", "created_at"}
    return [f.name for f in dataclasses.fields(Plan) if f.name not in shown]


def dump_saved_plan(plan: Plan, keyring: Keyring | None) -> str:
    """The plan file: the JSON plan plus every op; metadata encrypted; signed when a keyring is given."""
    document = plan_to_json_dict(plan)
    document.update({name: _encode(getattr(plan, name)) for name in _extra_plan_fields()})
    document["ops"] = [_encode_op(op, keyring) for op in plan.ops]
    if keyring is not None:
        document["signature"] = keyring.sign(_canonical(document))
    return escape_json(json.dumps(document, indent=2, ensure_ascii=False)) + "\n"


# --- loading ----------------------------------------------------------------------------------------


def _malformed(where: str, problem: str) -> PlanFileError:
    return PlanFileError(
        f"malformed plan file: {where}: {problem}", hint="make a new one with: reconciler plan --out FILE"
    )


_JSON_KINDS = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    type(None): "null",
}


def _kind_name(value: Any) -> str:
    return _JSON_KINDS.get(type(value), type(value).__name__)


def _expect(value: Any, kind: type, where: str, described: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _malformed(where, f"expected {described}, found {_kind_name(value)}")
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _thaw(value: Any, where: str) -> Any:
    """A value of a field typed ``Any`` (FieldChange.old/new): lists come back as tuples."""
    if isinstance(value, list):
        return tuple(_thaw(item, f"{where}[{i}]") for i, item in enumerate(value))
    if isinstance(value, dict):
        raise _malformed(where, "expected a value or a list, found an object")
    return value


def _decode(value: Any, hint: Any, where: str) -> Any:
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return _thaw(value, where)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = (arg for arg in args if arg is not type(None))
        return _decode(value, inner, where)
    if origin is Literal:
        if not isinstance(value, str) or value not in args:
            raise _malformed(where, f"expected one of {', '.join(args)}, found {json.dumps(value)}")
        return value
    if origin in (tuple, frozenset):
        items = _expect(value, list, where, "a list")
        return origin(_decode(item, args[0], f"{where}[{i}]") for i, item in enumerate(items))
    if origin is dict:
        mapping = _expect(value, dict, where, "an object")
        return {key: _decode(item, args[1], f"{where}.{key}") for key, item in mapping.items()}
    if dataclasses.is_dataclass(hint):
        return hint(**_decode_fields(hint, value, where))
    if hint is float:  # a share (settings.rails): JSON writes 1.0 as 1.0, but accept an integer too
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return _expect(value, float, where, "a number")
    described = {str: "a string", int: "an integer", bool: "a boolean"}[hint]
    return _expect(value, hint, where, described)


# Op and Plan fields added after format 1 shipped, with defaults: a plan file saved by an earlier version lacks
# them. (The Plan's grants, warnings and notes only inform; apply checks the rails again under its lock; a plan
# without a plan_id loads, for `show`, but apply refuses it: nothing shows it was not applied before.)
_ADDED_LATER = frozenset(
    {
        "metadata_sources",
        "grants",
        "warnings",
        "notes",
        "plan_id",
        "ceded",
        "rails",
        "expired_groups",
        "default_groups_found",
        "repair_role",
        "metadata_unreadable",
        "unnamed",
        "expiring",
        "expiring_window",
        "policies",
        "policy_digest",
        "policy_results",
        "hygiene",
        "seat_limits",
        "seat_warnings",
        "unmanaged_flags",  # GroupPermissions (issue 16)
        "builder_level_extras",
    }
)


def _decode_fields(cls: type, value: Any, where: str, *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    data = _expect(value, dict, where, "an object")
    names = {f.name for f in dataclasses.fields(cls)} - skip
    unknown = sorted(data.keys() - names - skip)
    if unknown:
        raise _malformed(where, f"unknown field {unknown[0]!r} for {cls.__name__}")
    missing = sorted(names - data.keys() - _ADDED_LATER)
    if missing:
        raise _malformed(where, f"missing field {missing[0]!r} for {cls.__name__}")
    hints = _hints(cls)
    return {name: _decode(data[name], hints[name], f"{where}.{name}") for name in sorted(names & data.keys())}


def _decrypt_metadata(blob: Any, op: Op, keyring: Keyring | None, where: str) -> Metadata:
    envelope = _expect(blob, dict, where, 'an object {"ciphertext": ...}')
    if set(envelope) != {"ciphertext"} or not isinstance(envelope["ciphertext"], str):
        raise _malformed(where, 'expected an object {"ciphertext": "..."}')
    if keyring is None:
        raise SecretError(
            f"the plan file holds encrypted metadata for {op.address}, and no master key is configured",
            hint="set RECONCILER_MASTER_KEY (or --master-key-file) to the key the plan was made with",
        )
    plaintext = keyring.decrypt(
        envelope["ciphertext"], purpose=PLAN_METADATA_PURPOSE, associated_data=op.address.encode("utf-8")
    )
    try:
        metadata = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        metadata = None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _malformed(where, "the decrypted metadata is not an object of string values")
    return Metadata.of(metadata)


def _decode_op(value: Any, keyring: Keyring | None, where: str, *, metadata: bool = True) -> Op:
    data = _expect(value, dict, where, "an object")
    kind = data.get("kind")
    cls = OP_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise _malformed(where, f"unknown op kind {json.dumps(kind)}")
    fields = {f.name for f in dataclasses.fields(cls)}
    secret = frozenset({"metadata"} & fields)
    op = cls(**_decode_fields(cls, {k: v for k, v in data.items() if k != "kind"}, where, skip=secret))
    if secret and data.get("metadata") is not None:
        values = _decrypt_metadata(data["metadata"], op, keyring, f"{where}.metadata") if metadata else Metadata.UNREAD
        op = dataclasses.replace(op, metadata=values)  # type: ignore[call-arg]
    return op


def _parse(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{_NOT_A_PLAN}: it is not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    if not isinstance(document, dict) or "format_version" not in document:
        raise PlanFileError(f"{_NOT_A_PLAN}: it has no format_version")
    version = document["format_version"]
    if type(version) is not int or version != FORMAT_VERSION:
        raise PlanFileError(
            f"unsupported plan format_version {json.dumps(version)}: this reconciler reads version {FORMAT_VERSION}",
            hint="make the plan again with this version of reconciler",
        )
    if "ops" not in document:
        raise PlanFileError(
            f"{_NOT_A_PLAN}: it has no ops (the output of plan --format json cannot be applied)",
            hint="save a plan for apply with: reconciler plan --out FILE",
        )
    return document


def _verify(document: dict[str, Any], keyring: Keyring | None, *, allow_unsigned: bool) -> bool:
    """Whether the signature was verified. A signature that does not verify is always refused; a plan that is
    unsigned, or that no key here can verify, only with ``allow_unsigned`` (SPEC 4)."""
    if "signature" not in document or keyring is None:
        if allow_unsigned:
            return False
        raise CryptoError(UNSIGNED if "signature" not in document else UNVERIFIABLE, hint=_UNSIGNED_HINT)
    unsigned = {key: value for key, value in document.items() if key != "signature"}
    signature = document["signature"]
    if not isinstance(signature, str) or not keyring.verify(_canonical(unsigned), signature):
        raise CryptoError(BAD_SIGNATURE, hint="make the plan again with: reconciler plan --out FILE")
    return True


_ROLE_CHANGE_KEYS = {"workspace": "workspace", "email": "email", "from": "old", "to": "new", "cause": "cause"}


def _role_change(value: Any, where: str) -> RoleChange:
    """A role change in the JSON plan's spelling (``from``/``to``) back into a RoleChange."""
    data = _expect(value, dict, where, "an object")
    for problem, keys in (
        ("unknown", data.keys() - _ROLE_CHANGE_KEYS),
        ("missing", _ROLE_CHANGE_KEYS.keys() - data.keys()),
    ):
        if keys:
            raise _malformed(where, f"{problem} field {sorted(keys)[0]!r} in a role change")
    hints = _hints(RoleChange)
    return RoleChange(
        **{name: _decode(data[key], hints[name], f"{where}.{key}") for key, name in _ROLE_CHANGE_KEYS.items()}
    )


def _plan(document: dict[str, Any], keyring: Keyring | None, *, metadata: bool = True) -> Plan:
    op_list = _expect(document["ops"], list, "ops", "a list")
    role_list = _expect(document.get("role_changes", []), list, "role_changes", "a list")
    scalars: dict[str, Any] = {
        name: _expect(document.get(name, ""), str, name, "a string")
        for name in ("config_hash", "state_fingerprint", "created_at")
    }
    hints = _hints(Plan)
    for name in _extra_plan_fields():
        if name not in document:
            if name in _ADDED_LATER:
                continue
            raise _malformed("plan", f"missing field {name!r}")
        scalars[name] = _decode(document[name], hints[name], name)
    return Plan(
        ops=tuple(_decode_op(item, keyring, f"ops[{i}]", metadata=metadata) for i, item in enumerate(op_list)),
        role_changes=tuple(_role_change(item, f"role_changes[{i}]") for i, item in enumerate(role_list)),
        unmanaged=_decode(document.get("unmanaged", []), tuple[str, ...], "unmanaged"),
        ceded=_decode(document.get("ceded", []), tuple[Ceded, ...], "ceded"),
        **scalars,
    )


def load_saved_plan(text: str, keyring: Keyring | None, *, allow_unsigned: bool = False, metadata: bool = True) -> Plan:
    """Rebuild the Plan of a plan file whose signature verifies with ``keyring``.

    ``allow_unsigned`` also accepts a file without a signature, or one that cannot be verified because no key is
    given; a signature that does not verify is refused whatever the options. Without ``metadata`` the encrypted
    metadata values are left out (``reconciler show`` needs only the keys, and no key to decrypt them).
    """
    return read_saved_plan(text, keyring, allow_unsigned=allow_unsigned, metadata=metadata)[0]


def read_saved_plan(
    text: str, keyring: Keyring | None, *, allow_unsigned: bool = False, metadata: bool = True
) -> tuple[Plan, str | None]:
    """:func:`load_saved_plan`, and why the signature was not verified (None when it was): ``"it is not signed"``
    or ``"no master key is configured to verify it"``."""
    try:
        document = _parse(text)
        verified = _verify(document, keyring, allow_unsigned=allow_unsigned)
        plan = _plan(document, keyring, metadata=metadata)
    except RecursionError:
        raise PlanFileError(f"{_NOT_A_PLAN}: it is nested too deeply") from None
    if verified:
        return plan, None
    return plan, "it is not signed" if "signature" not in document else "no master key is configured to verify it"
