"""The documented way to run an external OPA/conftest policy on the JSON plan (issue 18, docs/governance.md).

The example policy (``examples/policy/reconciler.rego``) runs with conftest or OPA when one of them is installed;
the project installs neither, so without them the test is skipped, saying so (marked ``optional_tool``: the skip
stays a skip under RECONCILER_REQUIRE_ALL_TESTS). What the policy reads from the plan is checked always.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "examples" / "policy"
SOD = """\
policies:
  - id: budget
    level: warn
    message: Admins are few
    admins: {max: 3}
"""


def plan_json(tmp_path: Path, admins: int) -> Path:
    users = "".join(
        f"      - {{email: admin{n}@acme.example, first_name: Admin{n}, role: admin}}\n" for n in range(admins)
    )
    config = tmp_path / f"config-{admins}.yaml"
    config.write_text(
        f"version: 1\n{SOD}workspaces:\n  - slug: acme\n    name: Acme\n    users:\n{users}", encoding="utf-8"
    )
    result = run_cli(
        ["--database", f"sqlite:///{tmp_path / 'absent.db'}", "plan", "-f", str(config), "--format", "json"],
        env={"RECONCILER_MASTER_KEY": None, "RECONCILER_OUTBOX_DIR": str(tmp_path / "outbox")},
    )
    assert result.exit_code == 0, result.stderr
    path = tmp_path / f"plan-{admins}.json"
    path.write_text(result.stdout, encoding="utf-8")
    return path


def test_the_plan_holds_what_the_example_policy_reads(tmp_path: Path) -> None:
    document = json.loads(plan_json(tmp_path, 4).read_text(encoding="utf-8"))
    (result,) = document["policy_results"]
    assert {k: result[k] for k in ("policy", "level", "workspace", "passed", "message", "detail")} == {
        "policy": "budget",
        "level": "warn",
        "workspace": "acme",
        "passed": False,
        "message": "Admins are few",
        "detail": "4 admins (admin0@acme.example, admin1@acme.example, admin2@acme.example, admin3@acme.example); "
        "at most 3 allowed",
    }
    assert [(g["email"], g["role"]) for g in document["grants"]][:1] == [("admin0@acme.example", "admin")]
    assert {"address", "kind", "before", "after", "reasons"} <= set(document["changes"][0])
    policy = (POLICY_DIR / "reconciler.rego").read_text(encoding="utf-8")
    for field in ("input.policy_results", "input.grants", "input.changes", "result.passed", "change.before.members"):
        assert field in policy


@pytest.mark.optional_tool
def test_the_example_policy_runs_with_conftest_or_opa(tmp_path: Path) -> None:
    small, large = plan_json(tmp_path, 2), plan_json(tmp_path, 4)
    if shutil.which("conftest"):
        passed = _run(["conftest", "test", "--no-color", "--policy", str(POLICY_DIR), str(small)])
        failed = _run(["conftest", "test", "--no-color", "--policy", str(POLICY_DIR), str(large)])
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert failed.returncode == 1 and "4 new admins in one plan (at most 3)" in failed.stdout
        assert "policy budget in workspace acme: Admins are few" in failed.stdout  # the warn result, as a warning
    elif shutil.which("opa"):
        query = ["opa", "eval", "--format", "json", "-d", str(POLICY_DIR), "data.main.deny"]
        passed = json.loads(_run([*query, "-i", str(small)]).stdout)
        failed = json.loads(_run([*query, "-i", str(large)]).stdout)
        assert passed["result"][0]["expressions"][0]["value"] == []
        assert failed["result"][0]["expressions"][0]["value"] == [
            "4 new admins in one plan (at most 3): admin0@acme.example, admin1@acme.example, admin2@acme.example, "
            "admin3@acme.example"
        ]
    else:
        pytest.skip("neither conftest nor opa is installed: the example policy is optional and needs one of them")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
