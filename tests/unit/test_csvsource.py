"""Bulk-invite CSV loading (SPEC section 7)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from reconciler.config.csvsource import (
    CSV_TEMPLATE,
    CsvUserEntry,
    load_users_csv,
    neutralise_cell,
    read_users_csv,
)
from reconciler.errors import ConfigError, Location

DATA = Path(__file__).resolve().parents[1] / "data" / "csv"
DOCS_HEADER = "Full Name,Email,Role,Groups,Metadata\n"


def write(tmp_path: Path, content: str | bytes, name: str = "people.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def load(tmp_path: Path, content: str | bytes) -> list[CsvUserEntry]:
    return load_users_csv(write(tmp_path, content), display_name="people.csv")


def errors(tmp_path: Path, content: str | bytes) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, content)
    return info.value.lines()


def test_tooljet_docs_example_row() -> None:
    [user] = load_users_csv(DATA / "tooljet-docs.csv")
    assert user.entry == {
        "email": "william.cushing@altostrat.com",
        "first_name": "William",
        "last_name": "Cushing",
        "role": "admin",
        "groups": [],
        "metadata": {"key1": "value1", "key2": "value2"},
    }


def test_tooljet_upload_header() -> None:
    users = load_users_csv(DATA / "tooljet-upload.csv", display_name="upload.csv")
    assert [u.entry for u in users] == [
        {
            "email": "alice@acme.com",
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
    alice = users[0]
    assert alice.locations["row"] == Location("upload.csv", 2, None, "row 2")
    assert alice.locations["email"] == Location("upload.csv", 2, 3, "row 2, column 'Email'")
    assert alice.location("groups") == Location("upload.csv", 2, 5, "row 2, column 'Group'")
    assert str(users[2].location("metadata")) == "upload.csv:4:6: row 4, column 'Metadata'"
    # bob has no metadata cell: the field falls back to the row
    assert users[1].location("metadata") == Location("upload.csv", 3, None, "row 3")


def test_three_bad_rows_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_users_csv(DATA / "three-errors.csv", display_name="people.csv")
    lines = info.value.lines()
    assert len(lines) == 3
    assert lines[0] == "people.csv:2:3: row 2, column 'Role': 'Editor' is not one of Admin, Builder, End User"
    assert lines[1] == "people.csv:3:2: row 3, column 'Email': email is required"
    assert lines[2].startswith("people.csv:4:5: row 4, column 'Metadata': metadata is not a JSON object")
    assert [p.location.line for p in info.value.problems] == [2, 3, 4]


def test_rows_with_problems_keep_their_valid_cells_for_the_cross_checks(tmp_path: Path) -> None:
    """The loader still checks a bad row's groups and email against the YAML (issue 13): the reader returns it,
    marked broken, holding only the cells read without problems."""
    path = write(
        tmp_path,
        DOCS_HEADER + "Grace Hopper,grace@x.io,Editor,finance|marketing,\n"
        "Hank Pym,hank@x.io,Builder,,{bad\n"
        "Hank Again,hank@x.io,Builder,,\n"
        "Ivy Chen,ivy@x.io,End User,ops,\n"
        "Bad\x01Name,jo@x.io,Admin,,,extra\n",
    )

    entries, problems = read_users_csv(path, display_name="people.csv")

    assert len(problems) == 5
    assert [(e.entry.get("email"), sorted(e.broken)) for e in entries] == [
        ("grace@x.io", ["role"]),
        ("hank@x.io", ["metadata"]),
        (None, ["email"]),  # a duplicate of row 3: its email is not compared again
        ("ivy@x.io", []),
        ("jo@x.io", ["first_name", "last_name", "row"]),
    ]
    assert entries[0].entry["groups"] == ["finance", "marketing"]
    assert "role" not in entries[0].entry
    assert [
        e.entry["email"] for e in load_users_csv(write(tmp_path, DOCS_HEADER + "Ivy Chen,ivy@x.io,End User,,\n"))
    ] == ["ivy@x.io"]


def test_headers_case_insensitive_any_order_whitespace(tmp_path: Path) -> None:
    [user] = load(tmp_path, " ROLE , email,full name \nend user,X@Y.io,Solo\n")
    assert user.entry == {
        "email": "x@y.io",
        "first_name": "Solo",
        "last_name": "",
        "role": "end-user",
        "groups": [],
    }


@pytest.mark.parametrize("role", ["Admin", "admin", "BUILDER", "End User", "end-user", "End-User", " end  user "])
def test_accepted_roles(tmp_path: Path, role: str) -> None:
    [user] = load(tmp_path, f"Full Name,Email,Role\nA B,a@b.co,{role}\n")
    assert user.entry["role"] in {"admin", "builder", "end-user"}


def test_empty_role(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "Full Name,Email,Role\nA B,a@b.co,\n")
    assert line == "people.csv:2:3: row 2, column 'Role': role is required (one of Admin, Builder, End User)"


def test_full_name_split_at_first_space(tmp_path: Path) -> None:
    [user] = load(tmp_path, "Full Name,Email,Role\nMary Ann van Dyke,m@x.org,admin\n")
    assert (user.entry["first_name"], user.entry["last_name"]) == ("Mary", "Ann van Dyke")


def test_duplicate_email_differing_in_case(tmp_path: Path) -> None:
    lines = errors(tmp_path, "Full Name,Email,Role\nA B,Dup@Acme.com,admin\nC D,dup@ACME.COM,builder\n")
    assert lines == [
        "people.csv:3:2: row 3, column 'Email': Duplicate email found. Please provide a unique email address."
        " ('dup@acme.com' is already on row 2)"
    ]


@pytest.mark.parametrize("email", ["nobody", "a@b@c.com", "@acme.com", "a@localhost", "a b@c.com", "a@b..com"])
def test_invalid_email(tmp_path: Path, email: str) -> None:
    [line] = errors(tmp_path, f"Full Name,Email,Role\nA B,{email},admin\n")
    assert line.startswith("people.csv:2:2: row 2, column 'Email': ")
    assert "not a valid email address" in line


def test_pipe_separated_groups(tmp_path: Path) -> None:
    [user] = load(tmp_path, "Full Name,Email,Role,Groups\nA B,a@b.co,builder, sales |  | support|eu \n")
    assert user.entry["groups"] == ["sales", "support", "eu"]


def test_group_listed_twice_in_a_row(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "Full Name,Email,Role,Groups\nA B,a@b.co,builder,sales|sales\n")
    assert line == "people.csv:2:4: row 2, column 'Groups': group 'sales' is listed twice"


def test_empty_metadata_cell_means_absent(tmp_path: Path) -> None:
    users = load(tmp_path, DOCS_HEADER + "A B,a@b.co,admin,,\nC D,c@d.co,admin,,  \nE F,e@f.co,admin,,{}\n")
    assert "metadata" not in users[0].entry
    assert "metadata" not in users[1].entry
    assert users[2].entry["metadata"] == {}


def test_python_expression_metadata_is_rejected_not_evaluated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    def boom(*args: object) -> int:
        raise AssertionError("metadata was evaluated")

    monkeypatch.setattr(os, "system", boom)
    for cell in ["\"__import__('os').system('x')\"", "\"{'k': __import__('os').system('x')}\""]:
        [line] = errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n")
        assert line.startswith("people.csv:2:5: row 2, column 'Metadata': metadata is not a JSON object")


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ('"[""a""]"', "metadata must be an object of string keys to string values, not an array"),
        ('"{""n"": 1}"', "metadata value of 'n' must be a string, not a number (1)"),
        ("\"{'b': True}\"", "metadata value of 'b' must be a string, not true"),
        ('"{""o"": {}}"', "metadata value of 'o' must be a string, not an object"),
        ('"{"""": ""v""}"', "metadata keys must be non-empty strings, not ''"),
        ("\"{1: 'v'}\"", "metadata keys must be non-empty strings, not 1"),
        ('"{""k"": ""a"", ""k"": ""b""}"', "metadata key 'k' appears twice"),
    ],
)
def test_bad_metadata(tmp_path: Path, cell: str, message: str) -> None:
    [line] = errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n")
    assert line.startswith(f"people.csv:2:5: row 2, column 'Metadata': {message}")


def test_metadata_value_too_long(tmp_path: Path) -> None:
    cell = '"{""k"": ""' + "x" * 2001 + '""}"'
    [line] = errors(tmp_path, DOCS_HEADER + f"A B,a@b.co,admin,,{cell}\n")
    assert "metadata value of 'k' is longer than 2,000 characters" in line


def test_huge_metadata_cell_is_refused_before_parsing(tmp_path: Path) -> None:
    cell = "{'k': '" + "(" * 200_001 + "'}"
    [line] = errors(tmp_path, DOCS_HEADER + f'A B,a@b.co,admin,,"{cell}"\n')
    assert "metadata is longer than 200,000 characters" in line


def test_nul_byte(tmp_path: Path) -> None:
    [line] = errors(tmp_path, b"Full Name,Email,Role\nA B,a@b.co,admin\nC\x00D,c@d.co,admin\n")
    assert line.startswith("people.csv:3:1: row 3, column 'Full Name': cell contains a NUL byte")


def test_invalid_utf8(tmp_path: Path) -> None:
    [line] = errors(tmp_path, b"Full Name,Email,Role\nA B,a@b.co,admin\nJos\xe9 K,j@k.co,admin\n")
    assert line.startswith("people.csv:3:1: row 3, column 'Full Name': cell is not valid UTF-8")


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    [user] = load(tmp_path, "\ufeffFull Name,Email,Role\r\nJosé K,j@k.co,admin\r\n".encode())
    assert user.entry["first_name"] == "José"


def test_utf16_file(tmp_path: Path) -> None:
    assert errors(tmp_path, "Full Name,Email,Role\n".encode("utf-16")) == [
        'people.csv: file is UTF-16 encoded (save the file as UTF-8 ("CSV UTF-8" in Excel))'
    ]


def test_quoted_newline_counts_as_one_row(tmp_path: Path) -> None:
    content = DOCS_HEADER + 'A B,a@b.co,admin,,"{""k"": ""line1\nline2""}"\nC D,c@d.co,boss,,\n'
    [line] = errors(tmp_path, content)
    assert line.startswith("people.csv:3:3: row 3, column 'Role':")
    users = load(tmp_path, content.replace("boss", "admin"))
    assert users[0].entry["metadata"] == {"k": "line1\nline2"}
    assert users[1].locations["row"].line == 3


def test_unknown_and_duplicate_headers(tmp_path: Path) -> None:
    lines = errors(tmp_path, "Full Name,Emial,Role,Role,Email\n")
    assert lines[0].startswith("people.csv:1:2: row 1, column 'Emial': unknown column 'Emial' (did you mean 'Email'?")
    assert "accepted headers: First Name, Last Name, Email, User Role, Group, Metadata" in lines[0]
    assert lines[1].startswith("people.csv:1:4: row 1, column 'Role': column 'Role' duplicates column 3")
    assert len(lines) == 2


def test_role_and_user_role_are_duplicates(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "Full Name,Email,Role,User Role\n")
    assert "column 'User Role' duplicates column 3 ('Role')" in line


def test_missing_required_columns(tmp_path: Path) -> None:
    lines = errors(tmp_path, "Groups\n")
    assert [line.split(" (accepted")[0] for line in lines] == [
        "people.csv:1: row 1: missing column 'Email'",
        "people.csv:1: row 1: missing a role column ('Role' or 'User Role')",
        "people.csv:1: row 1: missing a name column ('Full Name', or 'First Name' and 'Last Name')",
    ]


def test_semicolon_separated_file(tmp_path: Path) -> None:
    [line, *_] = errors(tmp_path, "Full Name;Email;Role\n")
    assert "the file must be comma-separated" in line


def test_header_only_and_blank_rows(tmp_path: Path) -> None:
    assert load(tmp_path, DOCS_HEADER) == []
    assert load(tmp_path, DOCS_HEADER + "\n,,,,\n") == []


def test_empty_file(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "\n")
    assert line.startswith("people.csv: file is empty")


def test_too_many_cells(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "Full Name,Email,Role\nA B,a@b.co,admin,oops\n")
    assert line.startswith("people.csv:2:4: row 2, column 4: row has 4 cells but the header has 3 columns")


def test_trailing_empty_cells_and_short_rows(tmp_path: Path) -> None:
    users = load(tmp_path, "Full Name,Email,Role,Groups,\nA B,a@b.co,admin,,,,\nC D,c@d.co,builder\n")
    assert [u.entry["groups"] for u in users] == [[], []]


def test_names_checked(tmp_path: Path) -> None:
    long = "x" * 256
    lines = errors(
        tmp_path,
        f"First Name,Last Name,Email,User Role\n{long},,a@b.co,admin\nA,B\x07,c@d.co,admin\n,Solo,e@f.co,admin\n",
    )
    assert lines == [
        "people.csv:2:1: row 2, column 'First Name': first name is longer than 255 characters",
        "people.csv:3:2: row 3, column 'Last Name': last name contains a control character",
        "people.csv:4:1: row 4, column 'First Name': first name is required",
    ]


def test_file_too_large(tmp_path: Path) -> None:
    path = write(tmp_path, DOCS_HEADER * 10)
    with pytest.raises(ConfigError) as info:
        load_users_csv(path, display_name="people.csv", max_bytes=100)
    assert info.value.lines() == ["people.csv: file is 370 bytes, larger than the limit of 100 bytes"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_users_csv(tmp_path / "nope.csv", display_name="nope.csv")
    assert info.value.lines()[0].startswith("nope.csv: cannot read file")


def test_template_loads() -> None:
    rows = list(csv.reader(io.StringIO(CSV_TEMPLATE)))
    assert rows[0] == ["Full Name", "Email", "Role", "Groups", "Metadata"]
    assert len(rows) == 2


def test_template_round_trip(tmp_path: Path) -> None:
    [user] = load(tmp_path, CSV_TEMPLATE)
    assert user.entry["email"] == "william.cushing@altostrat.com"


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
