"""Drift marks for the report: which entries differ from a configuration (``report -f CONFIG``).

Stage: report model (pure). The plan's ops say what apply would change; each op's address marks the member,
group, role, app or workspace it touches. Members and groups left alone under ``prune: none`` are marked
``unmanaged``. Descriptions are the text plan's lines (``op_lines``), so they never hold a metadata value.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ..op_lines import op_lines
from ..ops import Op, Plan, RenameGroup

UNMANAGED = "unmanaged"
UNMANAGED_TEXT = "not in the configuration; left alone (prune: none)"
CEDED = "ceded"  # left to other writers by settings.ignore, members: external or settings.manage (issue 17)


@dataclass(frozen=True)
class DriftEntry:
    address: str
    action: str  # create | update | destroy | rename | archive | unarchive | unmanaged | ceded
    description: str


@dataclass(frozen=True)
class DriftIndex:
    """The plan's entries by workspace and by the addresses they mark."""

    by_workspace: dict[str, tuple[DriftEntry, ...]] = field(default_factory=dict)
    by_address: dict[str, tuple[DriftEntry, ...]] = field(default_factory=dict)

    def for_workspace(self, slug: str) -> tuple[DriftEntry, ...]:
        return self.by_workspace.get(slug, ())

    def at(self, *addresses: str) -> tuple[DriftEntry, ...]:
        return tuple(entry for address in addresses for entry in self.by_address.get(address, ()))

    def for_member(self, slug: str, email: str) -> tuple[DriftEntry, ...]:
        return self.at(f"{slug}/user/{email}", f"user/{email}")

    def for_group(self, slug: str, name: str) -> tuple[DriftEntry, ...]:
        return self.at(f"{slug}/group/{name}")


def describe_op(op: Op) -> str:
    """The op's lines of the text plan on one line: ``~ user "bob@x"; ~ role: builder -> end-user``."""
    return "; ".join(f"{line.symbol} {line.text}" if line.symbol else line.text for line in op_lines(op))


def _marked_addresses(op: Op) -> tuple[str, ...]:
    if isinstance(op, RenameGroup):  # the database still holds the old name
        return (op.address, f"{op.workspace}/group/{op.old_name}")
    return (op.address,)


def index_plan(plan: Plan) -> DriftIndex:
    by_workspace: dict[str, list[DriftEntry]] = defaultdict(list)
    by_address: dict[str, list[DriftEntry]] = defaultdict(list)
    for op in plan.ops:
        entry = DriftEntry(op.address, op.action, describe_op(op))
        by_workspace[op.workspace].append(entry)
        for address in _marked_addresses(op):
            by_address[address].append(entry)
    for address in plan.unmanaged:
        entry = DriftEntry(address, UNMANAGED, f"{address}: {UNMANAGED_TEXT}")
        by_workspace[address.split("/", 1)[0]].append(entry)
        by_address[address].append(entry)
    for ceded in plan.ceded:
        entry = DriftEntry(ceded.address, CEDED, f"{ceded.address}: {ceded.reason}")
        by_workspace[ceded.address.split("/", 1)[0]].append(entry)
        by_address[ceded.address].append(entry)
    return DriftIndex(
        {slug: tuple(entries) for slug, entries in by_workspace.items()},
        {address: tuple(entries) for address, entries in by_address.items()},
    )
