"""Config stage 1: YAML loading with positions, and every way a file can be refused."""

from __future__ import annotations

import datetime
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from reconciler.config import yamlsource
from reconciler.config.yamlsource import (
    EMPTY_MESSAGE,
    YamlDocument,
    load_yaml_file,
    load_yaml_text,
    render_path,
)
from reconciler.errors import ConfigError, Location

DOC = """\
version: 1
workspaces:
  - slug: acme
    users:
      - email: a@x.io
        role: admin
      - {email: b@x.io, role: end-user}
"""


def load(text: str | bytes, **kwargs) -> YamlDocument:
    data = text.encode() if isinstance(text, str) else text
    return load_yaml_text(data, file="w.yaml", **kwargs)


def problems(text: str | bytes, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(text, **kwargs)
    return info.value.lines()


def billion_laughs() -> str:
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]\n"
    return text


# --- data and positions --------------------------------------------------------------------------------


def test_data_is_plain_python() -> None:
    doc = load(DOC)
    assert doc.file == "w.yaml"
    assert doc.data == {
        "version": 1,
        "workspaces": [
            {
                "slug": "acme",
                "users": [{"email": "a@x.io", "role": "admin"}, {"email": "b@x.io", "role": "end-user"}],
            }
        ],
    }


def test_value_positions() -> None:
    doc = load(DOC)
    assert doc.positions[()] == (1, 1)
    assert doc.positions[("version",)] == (1, 10)
    assert doc.positions[("workspaces",)] == (3, 3)
    assert doc.positions[("workspaces", 0)] == (3, 5)
    assert doc.positions[("workspaces", 0, "slug")] == (3, 11)
    assert doc.positions[("workspaces", 0, "users", 0, "role")] == (6, 15)
    assert doc.positions[("workspaces", 0, "users", 1)] == (7, 9)
    assert doc.positions[("workspaces", 0, "users", 1, "role")] == (7, 31)


def test_key_positions() -> None:
    doc = load(DOC)
    assert doc.key_positions[("workspaces",)] == (2, 1)
    assert doc.key_positions[("workspaces", 0, "slug")] == (3, 5)
    assert doc.key_positions[("workspaces", 0, "users", 0, "role")] == (6, 9)
    assert doc.key_positions[("workspaces", 0, "users", 1, "role")] == (7, 25)
    assert ("workspaces", 0) not in doc.key_positions  # sequence items have no key


def test_render_path() -> None:
    assert render_path(()) == ""
    assert render_path(("workspaces", 0, "users", 2, "role")) == "workspaces[0].users[2].role"
    assert render_path((0, "a")) == "[0].a"
    assert render_path(("a", True)) == "a.True"  # a non-string key is not a sequence index


def test_locate_exact_and_key() -> None:
    doc = load(DOC)
    path = ("workspaces", 0, "users", 1, "role")
    assert doc.locate(path) == Location("w.yaml", 7, 31, "workspaces[0].users[1].role")
    assert doc.locate(path, key=True) == Location("w.yaml", 7, 25, "workspaces[0].users[1].role")
    assert str(doc.locate(["workspaces", 0])) == "w.yaml:3:5: workspaces[0]"


def test_locate_falls_back_to_nearest_ancestor() -> None:
    doc = load(DOC)
    missing = doc.locate(("workspaces", 0, "users", 0, "first_name"))
    assert missing == Location("w.yaml", 5, 9, "workspaces[0].users[0].first_name")
    assert doc.locate(("workspaces", 0, "nope"), key=True) == Location("w.yaml", 3, 5, "workspaces[0].nope")
    assert doc.locate(("nothing", 3, "x")) == Location("w.yaml", 1, 1, "nothing[3].x")
    assert doc.locate(()) == Location("w.yaml", 1, 1, "")


def test_yaml_11_scalars_are_constructed_and_source_text_kept() -> None:
    doc = load("m: {a: NO, b: yes, c: 1.10, d: on, e: '1.10', f: 2024-01-02, g: ~, h: 010}\n")
    m = doc.data["m"]
    assert m["a"] is False and m["b"] is True and m["d"] is True
    assert isinstance(m["c"], float) and m["c"] == 1.1
    assert m["e"] == "1.10"
    assert m["f"] == datetime.date(2024, 1, 2)
    assert m["g"] is None and m["h"] == 8
    assert doc.source_text[("m", "a")] == "NO"
    assert doc.source_text[("m", "b")] == "yes"
    assert doc.source_text[("m", "c")] == "1.10"
    assert doc.source_text[("m", "f")] == "2024-01-02"
    assert ("m", "e") not in doc.source_text  # strings are not recorded


def test_non_string_keys_are_kept_as_constructed() -> None:
    doc = load("1: x\nno: y\nnull: z\n3.5: w\n")
    assert doc.data == {1: "x", False: "y", None: "z", 3.5: "w"}
    assert [type(key) for key in doc.data] == [int, bool, type(None), float]
    assert doc.key_positions[(False,)] == (2, 1)
    assert doc.locate((False,), key=True) == Location("w.yaml", 2, 1, "False")


def test_yes_and_1_are_the_same_key() -> None:
    assert problems("1: x\nyes: y\n") == [
        "w.yaml:2:1: True: duplicate key 'yes' (first defined at line 1 as '1'; both are read as the same key)"
    ]


def test_utf8_bom_is_accepted() -> None:
    doc = load(b"\xef\xbb\xbfname: Zo\xc3\xab\n")
    assert doc.data == {"name": "Zoë"}
    assert doc.positions[("name",)] == (1, 7)


def test_crlf_line_endings() -> None:
    doc = load(b"a: 1\r\nb:\r\n  c: [x, NO]\r\n")
    assert doc.positions[("b", "c", 1)] == (3, 10)
    assert doc.source_text[("b", "c", 1)] == "NO"


def test_explicit_standard_tags() -> None:
    doc = load("a: !!str 12\nb: !!int '7'\nc: !!binary aGk=\nd: !!float 1\n")
    assert doc.data == {"a": "12", "b": 7, "c": b"hi", "d": 1.0}


# --- aliases and merge keys ----------------------------------------------------------------------------


def test_aliases_are_expanded_with_positions_at_the_alias() -> None:
    doc = load("r: &r editor\nperms: &p {create: true}\nusers:\n  - role: *r\n    perms: *p\n")
    assert doc.data["users"] == [{"role": "editor", "perms": {"create": True}}]
    assert doc.data["users"][0]["perms"] is not doc.data["perms"]  # copies, not shared objects
    assert doc.positions[("users", 0, "role")] == (4, 11)  # the alias
    assert doc.positions[("users", 0, "perms")] == (5, 12)
    assert doc.positions[("users", 0, "perms", "create")] == (2, 20)  # inside the anchored original


def test_merge_keys() -> None:
    text = """\
base: &base {role: end-user, first_name: X}
extra: &extra {role: builder, last_name: Y}
user:
  <<: [*base, *extra]
  first_name: Alice
"""
    doc = load(text)
    assert doc.data["user"] == {"role": "end-user", "first_name": "Alice", "last_name": "Y"}
    assert doc.positions[("user", "first_name")] == (5, 15)  # explicit key wins
    assert doc.positions[("user", "role")] == (1, 20)  # earlier merge wins, located in the anchor
    assert doc.key_positions[("user", "last_name")] == (2, 31)


def test_single_and_nested_merge() -> None:
    doc = load("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc:\n  <<: *b\n  z: 3\n")
    assert doc.data["c"] == {"x": 1, "y": 2, "z": 3}


def test_merge_of_a_scalar_is_an_error() -> None:
    assert problems("a:\n  <<: 5\n") == ["w.yaml:2:7: a: '<<' (merge key) expects a mapping or a list of mappings"]


def test_billion_laughs_is_rejected_fast_with_flat_memory() -> None:
    text = billion_laughs()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as info:
            load(text)
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 50 * 1024 * 1024
    assert info.value.lines() == [
        "w.yaml:7:28: g[5]: document expands to more than 3,000,000 nodes through aliases"
        ' (a "billion laughs" document?)'
    ]


def test_node_limit_is_configurable_and_counts_alias_expansion() -> None:
    text = "a: &a [1, 2, 3]\nb: [*a, *a, *a]\n"
    assert load(text, max_nodes=20).data["b"] == [[1, 2, 3]] * 3
    [line] = problems(text, max_nodes=12)
    assert line.startswith("w.yaml:2:13: b[2]: document expands to more than 12 nodes through aliases")


def test_plain_document_over_the_node_limit_is_refused_without_being_built() -> None:
    assert problems("[1, 2, 3, 4]", max_nodes=3) == ["w.yaml:1:8: document has more than 3 nodes"]


def test_large_document_with_anchors_has_its_own_message() -> None:
    assert problems("[&a 1, 2, 3, 4]", max_nodes=3) == ["w.yaml:1:11: document has more than 3 nodes"]


def test_plain_documents_take_the_fast_path_and_find_positions_only_when_asked() -> None:
    doc = load("a: [1, 2, 3, 4]\nb:\n  c: NO\n")
    assert doc.data == {"a": [1, 2, 3, 4], "b": {"c": False}}
    assert doc._index is None  # nothing located yet
    assert str(doc.locate(("b", "c"))) == "w.yaml:3:6: b.c"
    assert doc.source_text[("b", "c")] == "NO"


def test_duplicate_keys_are_caught_even_on_the_fast_path() -> None:
    assert problems("a: 1\nb: 2\na: 3\n") == ["w.yaml:3:1: a: duplicate key 'a' (first defined at line 1)"]


def test_recursive_alias_is_an_error() -> None:
    assert problems("a: &a [1, *a]\n") == ["w.yaml:1:11: a[1]: alias refers to a node that contains it (recursive)"]


def test_alias_chains_count_towards_depth() -> None:
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 100))
    assert problems(text) == ["w.yaml:64:12: a63[0]: document nested deeper than 64 levels (through aliases)"]


def test_undefined_alias() -> None:
    assert problems("a: *nope\n") == ["w.yaml:1:4: found undefined alias"]


# --- refused documents ---------------------------------------------------------------------------------


def test_duplicate_keys_are_all_reported() -> None:
    text = "a: 1\nb:\n  x: 1\n  y: 2\n  x: 3\na: 4\n"
    assert problems(text) == [
        "w.yaml:5:3: b.x: duplicate key 'x' (first defined at line 3)",
        "w.yaml:6:1: a: duplicate key 'a' (first defined at line 1)",
    ]


def test_duplicate_key_in_flow_mapping() -> None:
    assert problems("- {role: admin, role: builder}\n") == [
        "w.yaml:1:17: [0].role: duplicate key 'role' (first defined at line 1)"
    ]


def test_more_than_one_document() -> None:
    assert problems("version: 1\n---\nversion: 2\n") == [
        "w.yaml:2:1: found a second YAML document; a file must hold exactly one"
        " (put each document in its own file and pass the directory)"
    ]


def test_explicit_single_document_is_fine() -> None:
    assert load("---\na: 1\n...\n").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n  # and another\n", "---\n", "--- # c\n"])
def test_empty_file(text: str) -> None:
    assert problems(text) == [f"w.yaml:1:1: {EMPTY_MESSAGE}"]
    assert EMPTY_MESSAGE == "file is empty: expected a mapping with 'version' and 'workspaces'"


def test_explicit_null_document_is_not_empty() -> None:
    assert load("~\n").data is None


def test_syntax_error_has_parser_position() -> None:
    assert problems("a: 1\n b: 2\n") == ["w.yaml:2:3: mapping values are not allowed in this context"]
    [line] = problems("a: [1, 2\nb: 3\n")
    assert line.startswith("w.yaml:2:")


def test_syntax_error_keeps_context() -> None:
    [line] = problems("a: 1\nb\nc: 2\n")
    assert line == "w.yaml:3:1: could not find expected ':' (while scanning a simple key at line 2, column 1)"


def test_invalid_utf8_position() -> None:
    assert problems(b"a: 1\nname: Zo\xc3\xab \xff\n") == [
        "w.yaml:2:11: invalid UTF-8 at byte offset 16 (save the file as UTF-8)"
    ]


def test_invalid_utf8_offset_counts_the_bom() -> None:
    assert problems(b"\xef\xbb\xbfa: \xc3\n") == ["w.yaml:1:4: invalid UTF-8 at byte offset 6 (save the file as UTF-8)"]


def test_nul_byte() -> None:
    assert problems("a: 1\nb: x\x00y\n") == [
        "w.yaml:2:5: unacceptable character U+0000 (NUL byte): control characters are not allowed in YAML"
    ]


def test_other_control_character() -> None:
    assert problems("a: \x1b[31m\n") == [
        "w.yaml:1:4: unacceptable character U+001B: control characters are not allowed in YAML"
    ]


def test_tabs_and_escaped_control_characters_are_fine() -> None:
    assert load('a:\t"x\\ty\\x07"\n').data == {"a": "x\ty\x07"}


def test_unsupported_tags_are_all_reported() -> None:
    text = "a: !!python/object:os.system x\nb: !custom 1\nc: !!set {x}\nd: !!int abc\n"
    assert problems(text) == [
        "w.yaml:1:4: a: unsupported tag !!python/object:os.system",
        "w.yaml:2:4: b: unsupported tag !custom",
        "w.yaml:3:4: c: unsupported tag !!set",
        "w.yaml:4:4: d: cannot read 'abc' as !!int",
    ]


def test_complex_key_is_an_error() -> None:
    assert problems("? [a, b]\n: 1\n") == ["w.yaml:1:3: mapping keys must be scalars, not a list or mapping"]


def test_nesting_limit() -> None:
    ok = "[" * 64 + "]" * 64
    assert load(ok).data is not None
    assert problems("[" * 65 + "]" * 65) == ["w.yaml:1:65: document nested deeper than 64 levels"]
    block = "".join(" " * i + "k:\n" for i in range(70))
    assert problems(block) == ["w.yaml:65:65: document nested deeper than 64 levels"]


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "- " * 100_000 + "x\n", "{a: " * 100_000])
def test_100k_deep_nesting_is_a_located_error(text: str) -> None:
    [line] = problems(text)
    assert line.startswith("w.yaml:1:")
    assert line.endswith("document nested deeper than 64 levels")


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "- " * 100_000 + "x\n", billion_laughs()])
def test_pure_python_loader_fallback(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(yamlsource, "_LOADER", yaml.SafeLoader)
    [line] = problems(text)
    assert "nested deeper than 64 levels" in line or "billion laughs" in line


def test_pure_python_loader_gives_same_positions(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = load(DOC)
    monkeypatch.setattr(yamlsource, "_LOADER", yaml.SafeLoader)
    assert load(DOC) == expected


# --- files ---------------------------------------------------------------------------------------------


def test_load_file_with_display_name(tmp_path: Path) -> None:
    path = tmp_path / "ws.yaml"
    path.write_text(DOC)
    assert load_yaml_file(path).file == str(path)
    doc = load_yaml_file(path, display_name="ws.yaml")
    assert doc.locate(("version",)) == Location("ws.yaml", 1, 10, "version")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_yaml_file(tmp_path / "nope.yaml", display_name="nope.yaml")
    assert info.value.lines() == ["nope.yaml: cannot read file: No such file or directory"]


def test_oversize_sparse_file_is_refused_by_size(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as handle:
        handle.truncate(2048)
    with pytest.raises(ConfigError) as info:
        load_yaml_file(path, display_name="big.yaml", max_bytes=1024)
    assert info.value.lines() == ["big.yaml: file is 2,048 bytes, larger than the limit of 1,024 bytes"]


def test_file_at_the_limit_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"a: 1\n")
    assert load_yaml_file(path, max_bytes=5).data == {"a": 1}


def test_text_over_the_limit() -> None:
    assert problems("a: 1\n", max_bytes=4) == ["w.yaml: file is 5 bytes, larger than the limit of 4 bytes"]


def test_real_50mb_file_fails_fast_without_being_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"a: [" + b"1, " * (50 * 1024 * 1024 // 3) + b"]\n")
    monkeypatch.setattr(Path, "open", lambda *a, **k: pytest.fail("an oversize file must not be opened"))
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        load_yaml_file(path, display_name="huge.yaml")
    assert time.perf_counter() - start < 0.5
    assert info.value.lines() == ["huge.yaml: file is 52,428,804 bytes, larger than the limit of 16,777,216 bytes"]
