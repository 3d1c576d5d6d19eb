"""Bulk-invite CSV loading (SPEC section 7).

The reader (``config/csvsource.py``) knows the CSV format and turns rows into YAML-shaped entries with the cell
each value came from; the value rules are the YAML models' and checks', reported at the cell. So the format is
tested on the reader's output (``read_users_csv``), the values through ``load_config``, as a user meets them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pydantic import ValidationError

from reconciler.config import models
from reconciler.config.csvsource import CSV_TEMPLATE, CsvUserEntry, neutralise_cell, read_users_csv
from reconciler.config.loader import load_config
from reconciler.errors import ConfigError, Location

DATA = Path(__file__).resolve().parents[1] / "data" / "csv"
DOCS_HEADER = "Full Name,Email,Role,Groups,Metadata\n"
WORKSPACE = """\
version: 1
workspaces:
  - slug: acme
    name: Acme
    groups: [{name: sales}, {name: support}, {name: eu}, {name: finance}]
    users:
      - {email: ada@acme.example, first_name: Ada, role: admin}
    users_csv: [people.csv]
"""


def write(tmp_path: Path, content: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def read(tmp_path: Path, content: str | bytes) -> list[CsvUserEntry]:
    """The entries of a file without format problems."""
    entries, problems = read_users_csv(write(tmp_path, content), display_name="people.csv")
    assert problems == []
    return entries


def format_errors(tmp_path: Path, content: str | bytes) -> list[str]:
    """The reader's own problems (the file, its header, its cells' form), as printed."""
    _, problems = read_users_csv(write(tmp_path, content), display_name="people.csv")
    assert problems
    return ConfigError(problems).lines()


def config_errors(tmp_path: Path, content: str | bytes, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What ``validate`` prints for a workspace whose users_csv is ``content`` (the lines about the CSV)."""
    write(tmp_path, content)
    (tmp_path / "workspace.yaml").write_text(WORKSPACE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("workspace.yaml", resolve_secrets=False)
    return [line for line in info.value.lines() if line.startswith("people.csv")]


def test_tooljet_docs_example_row() -> None:
    [user] = read(DATA, (DATA / "tooljet-docs.csv").read_bytes())
    assert user.entry == {
        "email": "william.cushing@altostrat.com",
        "first_name": "William",
        "last_name": "Cushing",
        "role": "admin",
        "groups": [],
        "metadata": {"key1": "value1", "key2": "value2"},
    }


def test_tooljet_upload_header(tmp_path: Path) -> None:
    users = read(tmp_path, (DATA / "tooljet-upload.csv").read_bytes())
    assert [u.entry for u in users] == [
        {
            "email": "Alice@Acme.com",  # as written: the model normalises it, as it does the YAML's
            "first_name": "Alice",
            "last_name": "Smith",
            "role": "admin",
            "groups": ["finance", "ops"],
            "metadata": {"team": "finance"},
        },
        {"email": "bob@acme.com", "first_name": "Bob", "last_name": "", "role": "end-user", "groups": []},
        {
            "email": "carol@acme.com",
            "first_name": "Carol",
            "last_name": "Jones",
            "role": "builder",
            "groups": ["finance", "eng"],
            "metadata": {},
        },
    ]
    assert models.User.model_validate(users[0].entry).email == "alice@acme.com"
    alice = users[0]
    assert alice.locations["row"] == Location("people.csv", 2, None, "row 2")
    assert alice.locations["email"] == Location("people.csv", 2, 3, "row 2, column 'Email'")
    assert alice.location("groups") == Location("people.csv", 2, 5, "row 2, column 'Group'")
    assert str(users[2].location("metadata")) == "people.csv:4:6: row 4, column 'Metadata'"
    # bob has no metadata cell: the field falls back to the row
    assert users[1].location("metadata") == Location("people.csv", 3, None, "row 3")
    # the loader's locate: a field's cell, and inside the Metadata cell the key
    assert alice.locate(("groups", 1)) == alice.location("groups")
    assert str(alice.locate(("metadata", "team"))) == "people.csv:2:6: row 2, column 'Metadata', key 'team'"


def test_three_bad_rows_are_reported_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = config_errors(tmp_path, (DATA / "three-errors.csv").read_bytes(), monkeypatch)
    assert lines == [
        "people.csv:2:3: row 2, column 'Role': 'Editor' is not one of admin, builder, end-user",
        "people.csv:3:2: row 3, column 'Email': an email address must not be empty",
        "people.csv:4:5: row 4, column 'Metadata': metadata is not a JSON object (Expecting property name enclosed "
        'in double quotes at character 2) (write a JSON object and quote the cell, e.g. "{""team"": '
        '""finance""}")',
    ]


def test_rows_with_format_problems_keep_their_readable_cells(tmp_path: Path) -> None:
    """The loader still checks a bad row's other cells against the rest (issue 13): the reader returns it,
    marked broken, holding only the cells read without problems."""
    path = write(
        tmp_path,
        DOCS_HEADER + "Grace Hopper,grace@x.io,Editor,finance|marketing,\n"
        "Hank Pym,hank@x.io,Builder,,{bad\n"
        "Hank Again,h\x00@x.io,Builder,,\n"
        "Ivy Chen,ivy@x.io,End User,ops,\n"
        "Jo Bad,jo@x.io,Admin,,,extra\n",
    )

    entries, problems = read_users_csv(path, display_name="people.csv")

    assert [str(p) for p in problems] == [
        "people.csv:3:5: row 3, column 'Metadata': metadata is not a JSON object (Expecting property name enclosed "
        'in double quotes at character 2) (write a JSON object and quote the cell, e.g. "{""team"": '
        '""finance""}")',
        "people.csv:4:2: row 4, column 'Email': cell contains a NUL byte (the file may be binary or not UTF-8; "
        'save the file as UTF-8 ("CSV UTF-8" in Excel))',
        "people.csv:6:6: row 6, column 6: row has 6 cells but the header has 5 columns (quote cells that contain "
        "commas)",
    ]
    assert [(e.entry.get("email"), sorted(e.broken)) for e in entries] == [
        ("grace@x.io", []),  # 'Editor' is the model's to refuse
        ("hank@x.io", ["metadata"]),
        (None, ["email"]),
        ("ivy@x.io", []),
        ("jo@x.io", ["row"]),
    ]
    assert entries[0].entry["role"] == "Editor" and entries[0].entry["groups"] == ["finance", "marketing"]
    assert "metadata" not in entries[1].entry


def test_headers_case_insensitive_any_order_whitespace(tmp_path: Path) -> None:
    [user] = read(tmp_path, " ROLE , email,full name \nend user,X@Y.io,Solo\n")
    assert user.entry == {"email": "X@Y.io", "first_name": "Solo", "last_name": "", "role": "end-user", "groups": []}


@pytest.mark.parametrize("role", ["Admin", "admin", "BUILDER", "End User", "end-user", "End-User", " end  user "])
def test_accepted_roles(tmp_path: Path, role: str) -> None:
    [user] = read(tmp_path, f"Full Name,Email,Role\nA B,a@b.co,{role}\n")
    assert user.entry["role"] in {"admin", "builder", "end-user"}


@pytest.mark.parametrize(("cell", "shown"), [("", "''"), ("Editor", "'Editor'"), ("end-users", "'end-users'")])
def test_other_roles_are_refused_by_the_model_at_the_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cell: str, shown: str
) -> None:
    [line] = config_errors(tmp_path, f"Full Name,Email,Role\nA B,a@b.co,{cell}\n", monkeypatch)
    assert line == f"people.csv:2:3: row 2, column 'Role': {shown} is not one of admin, builder, end-user"


def test_full_name_split_at_first_space(tmp_path: Path) -> None:
    [user] = read(tmp_path, "Full Name,Email,Role\nMary Ann van Dyke,m@x.org,admin\n")
    assert (user.entry["first_name"], user.entry["last_name"]) == ("Mary", "Ann van Dyke")


def test_duplicate_email_differing_in_case(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = config_errors(
        tmp_path, "Full Name,Email,Role\nA B,Dup@Acme.com,admin\nC D,dup@ACME.COM,builder\n", monkeypatch
    )
    assert lines == [
        "people.csv:3:2: row 3, column 'Email': Duplicate email found. Please provide a unique email address."
        " (first declared at people.csv:2:2: row 2, column 'Email')"
    ]


@pytest.mark.parametrize(
    "email", ["nobody", "a@b@c.com", "@acme.com", "a@localhost", "a b@c.com", "a@b..com", "a@b..c"]
)
def test_invalid_email_is_refused_as_in_the_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, email: str) -> None:
    """One rule, one message, in a YAML entry and in a CSV row (issue 15: ``a@b..c`` once passed the YAML)."""
    [line] = config_errors(tmp_path, f"Full Name,Email,Role\nA B,{email},admin\n", monkeypatch)
    with pytest.raises(ValidationError) as yaml:
        models.User.model_validate({"email": email, "first_name": "A", "role": "admin"})
    [error] = yaml.value.errors()
    assert line == f"people.csv:2:2: row 2, column 'Email': {error['msg']}"
    assert "not a valid email address" in line


def test_pipe_separated_groups(tmp_path: Path) -> None:
    [user] = read(tmp_path, "Full Name,Email,Role,Groups\nA B,a@b.co,builder, sales |  | support|eu \n")
    assert user.entry["groups"] == ["sales", "support", "eu"]


def test_group_rules_are_the_yaml_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group listed twice, a role look-alike and a 51-character name: the YAML's checks, at the Groups cell;
    the cell's valid names are still checked against the workspace's groups."""
    long = "g" * 51
    lines = config_errors(
        tmp_path,
        f"Full Name,Email,Role,Groups\nA B,a@b.co,builder,sales|sales\nC D,c@d.co,builder,Admin|{long}|sales|unknown\n",
        monkeypatch,
    )
    assert lines == [
        "people.csv:2:4: row 2, column 'Groups': group 'sales' is listed twice for a@b.co",
        "people.csv:3:4: row 3, column 'Groups': Group name already exists "
        "('Admin' is a role name as ToolJet shows it)",
        "people.csv:3:4: row 3, column 'Groups': a group name is longer than 50 characters",
        "people.csv:3:4: row 3, column 'Groups': unknown group 'unknown' (groups declared in this workspace: eu, "
        "finance, sales, support)",
    ]


def test_empty_metadata_cell_means_absent(tmp_path: Path) -> None:
    users = read(tmp_path, DOCS_HEADER + "A B,a@b.co,admin,,\nC D,c@d.co,admin,,  \nE F,e@f.co,admin,,{}\n")
    assert "metadata" not in users[0].entry
    assert "metadata" not in users[1].entry
    assert users[2].entry["metadata"] == {}


def test_python_expression_metadata_is_rejected_not_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def boom(*args: object) -> int:
        raise AssertionError("metadata was evaluated")

    monkeypatch.setattr(os, "system", boom)
    for cell in ["\"__import__('os').system('x')\"", "\"{'k': __import__('os').system('x')}\""]:
        [line] = format_errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n")
        assert line.startswith("people.csv:2:5: row 2, column 'Metadata': metadata is not a JSON object")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('"[""a""]"', "metadata must be an object of string keys to string values, not an array"),
        ('"{""n"": 1}"', "metadata value of 'n' must be a string, not a number (1)"),
        ("\"{'b': True}\"", "metadata value of 'b' must be a string, not true"),
        ('"{""o"": {}}"', "metadata value of 'o' must be a string, not an object"),
        ('"{""o"": {""env"": ""HOME""}}"', "metadata value of 'o' must be a string, not an object"),
        ('"{""k"": ""a"", ""k"": ""b""}"', "metadata key 'k' appears twice"),
    ],
)
def test_bad_metadata_cell(tmp_path: Path, cell: str, message: str) -> None:
    """The cell's form: a JSON object (or ToolJet's Python-style dict) of strings; no secret references in a CSV."""
    [line] = format_errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n")
    assert line.startswith(f"people.csv:2:5: row 2, column 'Metadata': {message}")


@pytest.mark.parametrize(
    ("cell", "located", "message"),
    [
        ('"{"""": ""v""}"', "", "a metadata key must not be empty"),  # (the YAML's too is at metadata)
        ("\"{1: 'v'}\"", "key '1'", "expected a string, got the number 1"),
        ('"{""k"": ""' + "x" * 2001 + '""}"', "key 'k'", "a metadata value is longer than 2,000 characters (2,001)"),
    ],
)
def test_metadata_values_are_checked_by_the_model_at_the_cell_and_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cell: str, located: str, message: str
) -> None:
    [line] = config_errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n", monkeypatch)
    assert line == f"people.csv:2:5: row 2, column 'Metadata'{', ' if located else ''}{located}: {message}"


def test_huge_metadata_cell_is_refused_before_parsing(tmp_path: Path) -> None:
    cell = "{'k': '" + "(" * 200_001 + "'}"
    [line] = format_errors(tmp_path, DOCS_HEADER + f'A B,a@b.co,admin,,"{cell}"\n')
    assert "metadata is longer than 200,000 characters" in line


def test_nul_byte(tmp_path: Path) -> None:
    [line] = format_errors(tmp_path, b"Full Name,Email,Role\nA B,a@b.co,admin\nC\x00D,c@d.co,admin\n")
    assert line.startswith("people.csv:3:1: row 3, column 'Full Name': cell contains a NUL byte")


def test_invalid_utf8(tmp_path: Path) -> None:
    [line] = format_errors(tmp_path, b"Full Name,Email,Role\nA B,a@b.co,admin\nJos\xe9 K,j@k.co,admin\n")
    assert line.startswith("people.csv:3:1: row 3, column 'Full Name': cell is not valid UTF-8")


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    [user] = read(tmp_path, "\ufeffFull Name,Email,Role\r\nJosé K,j@k.co,admin\r\n".encode())
    assert user.entry["first_name"] == "José"


def test_utf16_file(tmp_path: Path) -> None:
    assert format_errors(tmp_path, "Full Name,Email,Role\n".encode("utf-16")) == [
        'people.csv: file is UTF-16 encoded (save the file as UTF-8 ("CSV UTF-8" in Excel))'
    ]


def test_quoted_newline_counts_as_one_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = DOCS_HEADER + 'A B,a@b.co,admin,,"{""k"": ""line1\nline2""}"\nC D,c@d.co,boss,,\n'
    [line] = config_errors(tmp_path, content, monkeypatch)
    assert line.startswith("people.csv:3:3: row 3, column 'Role':")
    users = read(tmp_path, content.replace("boss", "admin"))
    assert users[0].entry["metadata"] == {"k": "line1\nline2"}
    assert users[1].locations["row"].line == 3


def test_unknown_and_duplicate_headers(tmp_path: Path) -> None:
    lines = format_errors(tmp_path, "Full Name,Emial,Role,Role,Email\n")
    assert lines[0].startswith("people.csv:1:2: row 1, column 'Emial': unknown column 'Emial' (did you mean 'Email'?")
    assert "accepted headers: First Name, Last Name, Email, User Role, Group, Metadata" in lines[0]
    assert lines[1].startswith("people.csv:1:4: row 1, column 'Role': column 'Role' duplicates column 3")
    assert len(lines) == 2


def test_role_and_user_role_are_duplicates(tmp_path: Path) -> None:
    [line] = format_errors(tmp_path, "Full Name,Email,Role,User Role\n")
    assert "column 'User Role' duplicates column 3 ('Role')" in line


def test_missing_required_columns(tmp_path: Path) -> None:
    lines = format_errors(tmp_path, "Groups\n")
    assert [line.split(" (accepted")[0] for line in lines] == [
        "people.csv:1: row 1: missing column 'Email'",
        "people.csv:1: row 1: missing a role column ('Role' or 'User Role')",
        "people.csv:1: row 1: missing a name column ('Full Name', or 'First Name' and 'Last Name')",
    ]


def test_semicolon_separated_file(tmp_path: Path) -> None:
    [line, *_] = format_errors(tmp_path, "Full Name;Email;Role\n")
    assert "the file must be comma-separated" in line


def test_header_only_and_blank_rows(tmp_path: Path) -> None:
    assert read(tmp_path, DOCS_HEADER) == []
    assert read(tmp_path, DOCS_HEADER + "\n,,,,\n") == []


def test_empty_file(tmp_path: Path) -> None:
    [line] = format_errors(tmp_path, "\n")
    assert line.startswith("people.csv: file is empty")


def test_too_many_cells(tmp_path: Path) -> None:
    [line] = format_errors(tmp_path, "Full Name,Email,Role\nA B,a@b.co,admin,oops\n")
    assert line.startswith("people.csv:2:4: row 2, column 4: row has 4 cells but the header has 3 columns")


def test_trailing_empty_cells_and_short_rows(tmp_path: Path) -> None:
    users = read(tmp_path, "Full Name,Email,Role,Groups,\nA B,a@b.co,admin,,,,\nC D,c@d.co,builder\n")
    assert [u.entry["groups"] for u in users] == [[], []]


def test_names_are_checked_by_the_model_at_the_cell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long = "x" * 256
    lines = config_errors(
        tmp_path,
        f"First Name,Last Name,Email,User Role\n{long},,a@b.co,admin\nA,B\x07,c@d.co,admin\n,Solo,e@f.co,admin\n",
        monkeypatch,
    )
    assert lines == [
        "people.csv:2:1: row 2, column 'First Name': a name is longer than 255 characters",
        "people.csv:3:2: row 3, column 'Last Name': a name must not contain control characters",
        "people.csv:4:1: row 4, column 'First Name': a name must not be empty",
    ]


def test_a_full_name_is_located_at_its_cell_for_both_halves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = config_errors(tmp_path, f"Full Name,Email,Role\nAda {'x' * 256},a@b.co,admin\n", monkeypatch)
    assert lines == ["people.csv:2:1: row 2, column 'Full Name': a name is longer than 255 characters"]


def test_file_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, DOCS_HEADER * 10)
    _, problems = read_users_csv(path, display_name="people.csv", max_bytes=100)
    assert ConfigError(problems).lines() == ["people.csv: file is 370 bytes, larger than the limit of 100 bytes"]


def test_missing_file(tmp_path: Path) -> None:
    _, problems = read_users_csv(tmp_path / "nope.csv", display_name="nope.csv")
    assert ConfigError(problems).lines()[0].startswith("nope.csv: cannot read file")


def test_template_loads() -> None:
    rows = list(csv.reader(io.StringIO(CSV_TEMPLATE)))
    assert rows[0] == ["Full Name", "Email", "Role", "Groups", "Metadata"]
    assert len(rows) == 2


def test_template_round_trip(tmp_path: Path) -> None:
    [user] = read(tmp_path, CSV_TEMPLATE)
    assert models.User.model_validate(user.entry).email == "william.cushing@altostrat.com"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("alice@acme.com", "alice@acme.com"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralise_cell(value: str, expected: str) -> None:
    assert neutralise_cell(value) == expected
