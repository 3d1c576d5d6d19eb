"""The YAML fast path (built from parser events) reads every document exactly as the careful path does.

Documents are written by hand from tokens that YAML 1.1 reads in surprising ways (``yes``, ``0x1F``, ``1:20``,
``2001-12-14``, ``~``, ``=``, ``<<``), in block and flow style, quoted and plain, so that implicit typing,
duplicate keys, complex keys and the markers the fast path must refuse all come up. Whenever the fast path
returns data, the careful path must return the same data; whenever it refuses, the careful path decides.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.config.yamlsource import _load_careful, _load_fast
from reconciler.errors import ConfigError

pytestmark = pytest.mark.reliability(
    area="Property-based",
    fault="random YAML documents (block and flow, YAML 1.1 surprises, duplicate and complex keys, anchors and tags)",
    outcome="the fast path (built from parser events) reads what the careful path reads, or leaves it to it",
)

TOKENS = [
    "a", "name", "yes", "No", "ON", "off", "true", "False", "y", "n", "~", "null", "Null", "", "0", "007", "0x1F",
    "0o17", "0b101", "1_000", "-12", "+3", "1:20", "190:20:30", "1.5", "1e3", "1.0e+3", ".inf", "-.Inf", ".nan",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43", "=", "<<", "a b", "x@y.io", "Ben & Co",
    "Hi!", "50%", "#hash", "a: b", "é", "&anchor", "*alias", "!tag", "- item", "[x]", "{y}", "?", "'q'", '"d"',
]  # fmt: skip


def written(token: str, style: str) -> str:
    if style == "single":
        return "'" + token.replace("'", "''") + "'"
    if style == "double" and '"' not in token:
        return f'"{token}"'
    return token


scalar = st.builds(written, st.sampled_from(TOKENS), st.sampled_from(["plain", "plain", "single", "double"]))


def flow(node: object) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(flow(item) for item in node) + "]"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{key}: {flow(value)}" for key, value in node.items()) + "}"
    return str(node)


def block(node: object, indent: int = 0) -> str:
    pad = " " * indent
    if isinstance(node, list) and node:
        return "".join(f"{pad}-{entry(item, indent + 2)}" for item in node)
    if isinstance(node, dict) and node:
        return "".join(f"{pad}{key}:{entry(value, indent + 2)}" for key, value in node.items())
    return f"{pad}{flow(node)}\n"


def entry(value: object, indent: int) -> str:
    if isinstance(value, list | dict) and value:
        return "\n" + block(value, indent)
    return f" {flow(value)}\n"


# Keys repeat on purpose (a small alphabet), so duplicates occur; dict keys here are source text, not data.
documents = st.recursive(
    scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(scalar, children, max_size=4),
    max_leaves=12,
)


def careful(text: str) -> object:
    try:
        return _load_careful(text, "w.yaml", 100_000).data
    except ConfigError:
        return ConfigError


@settings(max_examples=600, deadline=None)
@given(documents, st.booleans())
def test_fast_path_reads_what_the_careful_path_reads(document: object, as_flow: bool) -> None:
    text = flow(document) + "\n" if as_flow else block(document)
    fast = _load_fast(text)
    if fast is not None:
        # repr, not ==: it tells True from 1 and a date from a string, and .nan from .nan (nan != nan)
        assert repr(fast) == repr(careful(text))


@pytest.mark.parametrize(
    "text",
    [
        "a: Hi! & welcome\n",  # markers inside a plain scalar are text, not YAML syntax
        "company: 'Ben & Jerry''s *best*'\n",
        'slug: "<<"\n',
        "- 1\n- yes\n- 2001-12-14\n- ~\n- 0x1F\n- '007'\n",
    ],
)
def test_plain_documents_with_marker_characters_still_take_the_fast_path(text: str) -> None:
    assert _load_fast(text) is not None
    assert _load_fast(text) == careful(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: *x\n",  # anchor and alias
        "a: !!str 1\n",  # explicit tag
        "base: {x: 1}\nc:\n  <<: {y: 2}\n",  # merge key
        "a: 1\na: 2\n",  # duplicate key
        "yes: 1\ntrue: 2\n",  # the same key written two ways
        "? [a]\n: 1\n",  # complex key
        "a: =\n",  # the YAML 1.1 value key, not readable as data
        "---\na: 1\n---\nb: 2\n",  # two documents
        "",  # no document
        "a: [\n",  # a syntax error
        "[" * 65 + "]" * 65 + "\n",  # deeper than MAX_DEPTH
    ],
)
def test_anything_unusual_goes_to_the_careful_path(text: str) -> None:
    assert _load_fast(text) is None
