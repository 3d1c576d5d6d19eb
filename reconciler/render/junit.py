"""The drift report as JUnit XML, so that CI systems show drift as failed tests (``drift --format junit``).

Stage: render. Pure: a Plan (with the configuration and snapshot it was made from) in, XML text out.

One ``<testsuite>`` per workspace of the plan, one ``<testcase>`` per managed entity, named by its address:
the workspace itself (with its app and data source registry), its builder role, each custom group and each
membership of the configuration, plus every entity of the database the plan would remove. A drifted entity's
test case holds one ``<failure>`` whose text is that entity's lines of the text plan (metadata keys only,
never a value). Members and groups left alone by ``prune: none``, and what the configuration cedes to other
writers (settings.ignore, members: external, settings.manage) are ``<skipped>``: listed, but not drift.

Issue 18: every policy checked on a workspace is a test case ``slug/policy/ID``; a broken ``deny`` policy fails
it (``type="policy"``), a broken ``warn`` policy passes with its finding in ``<system-out>``. A membership whose
access (or one of whose group memberships) ends within the look-ahead window says so in its ``<system-out>``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from .. import ops
from ..desired import DesiredState
from ..hygiene import describe_finding
from ..ops import Op, Plan
from ..policies import PolicyResult
from ..state import Snapshot
from .text import escape_control, op_lines

__all__ = ["SUITES_NAME", "render_junit"]

SUITES_NAME = "reconciler drift"
UNMANAGED_MESSAGE = "unmanaged (prune: none): left alone, not drift"


@dataclass
class _Case:
    address: str
    ops: list[Op] = field(default_factory=list)
    unmanaged: bool = False
    ceded: list[str] = field(default_factory=list)  # why the configuration leaves it to other writers (issue 17)


def render_junit(plan: Plan, desired: DesiredState, snapshot: Snapshot) -> str:
    """The JUnit XML document (``<testsuites>``) of ``plan``; failures count the drifted entities."""
    slugs = plan.workspaces or tuple(sorted(desired.workspaces))
    suites = [_suite(slug, _cases(slug, plan, desired), plan) for slug in slugs]
    root = ET.Element("testsuites", _counts(suites, name=SUITES_NAME))
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def _case_address(op: Op) -> str:
    """The managed entity an op belongs to: registry changes belong to the workspace, account changes to the
    membership that declares the user."""
    if isinstance(op, ops.CreateApp | ops.UpdateApp | ops.CreateDataSource):
        return op.workspace
    if isinstance(op, ops.CreateUser | ops.UpdateUser):
        return f"{op.workspace}/user/{op.email}"
    return op.address


def _cases(slug: str, plan: Plan, desired: DesiredState) -> list[_Case]:
    cases = {address: _Case(address) for address in _managed(slug, desired)}
    extra: dict[str, _Case] = {}
    for op in plan.for_workspace(slug):
        address = _case_address(op)
        case = cases.get(address) or extra.setdefault(address, _Case(address))
        case.ops.append(op)
    for address in plan.unmanaged:
        if address.startswith(slug + "/"):
            extra.setdefault(address, _Case(address, unmanaged=True))
    for entry in plan.ceded:
        if entry.address.startswith(slug + "/"):
            (cases.get(entry.address) or extra.setdefault(entry.address, _Case(entry.address))).ceded.append(
                entry.reason
            )
    return [*cases.values(), *(extra[address] for address in sorted(extra))]


def _managed(slug: str, desired: DesiredState) -> list[str]:
    ws = desired.workspaces.get(slug)
    if ws is None:
        return [slug]
    return [
        slug,
        f"{slug}/role/builder",
        *(f"{slug}/group/{name}" for name in sorted(ws.workspace.groups)),
        *(f"{slug}/user/{email}" for email in sorted(ws.workspace.memberships)),
    ]


def _suite(slug: str, cases: list[_Case], plan: Plan) -> ET.Element:
    elements = [_testcase(slug, case) for case in cases]
    _add_expiring(elements, slug, plan)
    elements += [_policy_case(slug, result) for result in plan.policy_results if result.workspace == slug]
    attributes = _counts(elements, name=escape_control(slug), element="testcase")
    if plan.created_at:
        attributes["timestamp"] = plan.created_at
    suite = ET.Element("testsuite", attributes)
    properties = ET.SubElement(suite, "properties")
    for name in ("config_hash", "state_fingerprint"):
        ET.SubElement(properties, "property", {"name": name, "value": getattr(plan, name)})
    suite.extend(elements)
    return suite


def _testcase(slug: str, case: _Case) -> ET.Element:
    element = ET.Element("testcase", {"classname": escape_control(slug), "name": escape_control(case.address)})
    if case.unmanaged:
        ET.SubElement(element, "skipped", {"message": UNMANAGED_MESSAGE})
    elif case.ceded and not case.ops:
        message = "; ".join(escape_control(reason) for reason in case.ceded)
        ET.SubElement(element, "skipped", {"message": f"ceded, not drift: {message}"})
    elif case.ops:
        lines = [line for op in case.ops for line in op_lines(op)]
        resources = [line.render().strip() for line in lines if line.indent == 2]
        failure = ET.SubElement(element, "failure", {"type": "drift", "message": "; ".join(resources)})
        failure.text = "\n".join(line.render()[2:] for line in lines)  # op lines are indented at least 2
    return element


def _add_expiring(elements: list[ET.Element], slug: str, plan: Plan) -> None:
    """A member's expiries and hygiene findings (issue 18) in the ``<system-out>`` of its test case."""
    lines = [
        (a.email, f"{'group ' + a.group if a.group else 'membership'} expires {a.expires}")
        for a in plan.expiring
        if a.workspace == slug
    ]
    lines += [(f.email, describe_finding(f)) for f in plan.hygiene if f.workspace == slug]
    by_name = {element.get("name"): element for element in elements}
    for email, line in lines:
        element = by_name.get(escape_control(f"{slug}/user/{email}"))
        if element is None:
            continue
        out = element.find("system-out")
        if out is None:
            out = ET.SubElement(element, "system-out")
            out.text = ""
        out.text = (out.text or "") + escape_control(line) + "\n"


def _policy_case(slug: str, result: PolicyResult) -> ET.Element:
    element = ET.Element(
        "testcase", {"classname": escape_control(slug), "name": escape_control(f"{slug}/policy/{result.policy}")}
    )
    if result.passed:
        return element
    text = escape_control(f"{result.message}: {result.detail}")
    if result.level == "deny":
        failure = ET.SubElement(element, "failure", {"type": "policy", "message": text})
        failure.text = text
    else:
        ET.SubElement(element, "system-out").text = "warning: " + text
    return element


def _counts(children: list[ET.Element], *, name: str, element: str = "testsuite") -> dict[str, str]:
    """``tests``/``failures``/``errors``/``skipped``/``time``: summed over suites, or counted over test cases."""
    if element == "testsuite":
        totals = {key: sum(int(child.get(key, "0")) for child in children) for key in ("tests", "failures", "skipped")}
    else:
        totals = {
            "tests": len(children),
            "failures": sum(child.find("failure") is not None for child in children),
            "skipped": sum(child.find("skipped") is not None for child in children),
        }
    return {
        "name": name,
        "tests": str(totals["tests"]),
        "failures": str(totals["failures"]),
        "errors": "0",
        "skipped": str(totals["skipped"]),
        "time": "0",
    }
