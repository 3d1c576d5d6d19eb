"""ConfigError.lines(): one mistake, one error (issue 14). Repeated problems are grouped, the output is bounded,
user text is escaped, and the time stays linear in the number of problems."""

from __future__ import annotations

import time

from reconciler.errors import MAX_LINE_CHARS, MAX_PROBLEM_LINES, ConfigError, Location, Problem, problem_lines

DUPLICATE = "Duplicate email found. Please provide a unique email address."


def at(i: int, field: str = "email", file: str = "ws.yaml") -> Location:
    return Location(file, 6 + i, 9, f"workspaces[0].users[{i}].{field}")


def test_a_repeated_problem_is_shown_five_times_then_counted() -> None:
    problems = [Problem(at(i), DUPLICATE, "first declared at ws.yaml:6:9") for i in range(1, 20_000)]
    lines = ConfigError(problems).lines()
    hint = "(first declared at ws.yaml:6:9)"
    assert lines[:5] == [f"ws.yaml:{6 + i}:9: workspaces[0].users[{i}].email: {DUPLICATE} {hint}" for i in range(1, 6)]
    assert lines[5:] == [f"ws.yaml: workspaces[*].users[*].email: ... and 19,994 more: {DUPLICATE}"]


def test_differing_values_are_counted_under_the_message_shape() -> None:
    problems = [Problem(Location("g.csv", 2, 4, "row 2, column 'Groups'"), f"unknown group 'g{i}'") for i in range(100)]
    lines = problem_lines(problems)
    assert lines[4] == "g.csv:2:4: row 2, column 'Groups': unknown group 'g4'"
    assert lines[5:] == ["g.csv: row *, column 'Groups': ... and 95 more: unknown group '...'"]


def test_kinds_keep_their_order_and_one_more_is_shown_rather_than_counted() -> None:
    problems = []
    for i in range(6):
        problems += [Problem(at(i, "role"), "'editor' is not one of admin, builder, end-user"), Problem(at(i), "x")]
    problems.append(Problem(Location("other.yaml", 1, 1), "file is empty"))
    lines = problem_lines(problems)
    assert len(lines) == 13  # 6 of each kind in full (6 = 5 + 1: no summary line for a single one) + 1
    assert lines[0].endswith("users[0].role: 'editor' is not one of admin, builder, end-user")
    assert lines[1].endswith("users[0].email: x")
    assert lines[-1] == "other.yaml:1:1: file is empty"


def test_different_rules_at_the_same_place_are_not_grouped() -> None:
    problems = [Problem(at(i), "a") for i in range(10)] + [Problem(at(i), "b") for i in range(10)]
    lines = problem_lines(problems)
    assert [line.rsplit(": ", 1)[-1] for line in lines] == ["a"] * 5 + ["a"] + ["b"] * 5 + ["b"]
    assert lines[5] == "ws.yaml: workspaces[*].users[*].email: ... and 5 more: a"


def test_the_number_of_lines_is_bounded() -> None:
    problems = [
        Problem(Location("ws.yaml", i, 1, f"workspaces[0].key{i}"), f"unknown key 'key{i}'") for i in range(500)
    ]
    lines = problem_lines(problems)
    assert len(lines) == MAX_PROBLEM_LINES
    assert lines[-1] == f"... and {500 - MAX_PROBLEM_LINES + 1:,} more problem(s) not shown; fix the ones above first"


def test_a_long_line_is_cut() -> None:
    [line] = problem_lines([Problem(Location("ws.yaml", 1, 1, "k" * 10_000), "unknown key")])
    assert len(line) == MAX_LINE_CHARS and line.endswith("...")


def test_user_text_is_escaped() -> None:
    key = "\x1b]0;PWNED\x07RED\u202e"
    [line] = ConfigError([Problem(Location("ws.yaml", 10, 5, f"workspaces[0].{key}"), f"unknown key '{key}'")]).lines()
    assert line == (
        "ws.yaml:10:5: workspaces[0].\\x1b]0;PWNED\\x07RED<U+202E>: unknown key '\\x1b]0;PWNED\\x07RED<U+202E>'"
    )
    assert "\x1b" not in str(ConfigError([Problem(Location("x\x1b"), "m")]))


def test_time_is_linear_in_the_number_of_problems() -> None:
    def seconds(n: int) -> float:
        problems = [Problem(at(i), f"unknown group 'g{i}'", "groups declared: none") for i in range(n)]
        started = time.perf_counter()
        problem_lines(problems)
        return time.perf_counter() - started

    small, large = seconds(20_000), seconds(200_000)
    assert large < 30 * max(small, 0.01)  # 10 times the input; a quadratic step would take 100 times as long
    assert large < 10
