"""Front matter read without PyYAML must mean exactly what PyYAML reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.notes.frontmatter import load_yaml, simple_mapping
from kb.notes.markdown import make_parser

from .conftest import REPO


def typed(value: Any) -> Any:
    """A value with the type of every part, so 1 == 1.0 == True no longer compare equal."""
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, dict):
        return {typed(k): typed(v) for k, v in value.items()}
    return (type(value).__name__, value)


def assert_same_as_pyyaml(text: str) -> bool:
    """True when the simple reader took the text (and agreed with PyYAML)."""
    reference, reference_diagnostics = load_yaml(text, "n.md", 2, simple=False)
    if simple_mapping(text, 2) is None:
        return False
    fast, diagnostics = load_yaml(text, "n.md", 2)
    assert not reference_diagnostics and not diagnostics, text
    assert reference is not None and fast is not None
    assert typed(fast.data) == typed(reference.data), text
    assert list(fast.data) == list(reference.data), text
    assert fast.key_lines == reference.key_lines, text
    assert fast.item_lines == reference.item_lines, text
    return True


KEYS = st.sampled_from(["type", "title", "concept", "tags", "date", "a-b", "due date", "x_1",
                        "été", "yes", "null", "True", "on", "1", "_k", "key-"])
WORDS = st.sampled_from([
    "reading", "Concept 1", "ch. 18", "2026-11-16", "2024-02-31", "2026-11-16 10:00:00", "1", "007",
    "0x1F", "1_000", "1:30", "-1", "+2", "3.5", ".5", ".inf", "1e3", "yes", "No", "on", "OFF", "y",
    "true", "False", "null", "~", "Null", "http://x.org/a", "C#", "a #b", "a: b", "a:", "a:b",
    "it's", "say \"hi\"", "<<", "=", "!tag", "&anchor", "*alias", "@at", "`tick", "%", "|", ">",
    "[[note]]", "[[note|label]]", "see [[x]]", "{a: 1}", "?", "-", "- x", "ش", "α β", "x\\y", "",
])


def quoted(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, f'"{word}"', f"'{word}'", "'" + word.replace("'", "''") + "'"])


SCALARS = WORDS.flatmap(quoted)
FLOW = st.lists(SCALARS, max_size=4).map(lambda items: "[" + ", ".join(items) + "]")
SPACES = st.sampled_from(["", " ", "  ", "\t"])


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        key = draw(KEYS)
        kind = draw(st.sampled_from(["scalar", "flow", "block", "empty", "comment", "blank", "odd"]))
        if kind == "scalar":
            lines.append(f"{key}:{draw(st.sampled_from([' ', '  ']))}{draw(SCALARS)}{draw(SPACES)}")
        elif kind == "flow":
            lines.append(f"{key}: {draw(FLOW)}")
        elif kind == "block":
            lines.append(f"{key}:")
            indent = draw(st.sampled_from(["", "  ", "    "]))
            for item in draw(st.lists(SCALARS, min_size=1, max_size=3)):
                lines.append(f"{indent}{draw(st.sampled_from([indent, indent + ' ']))}- {item}")
        elif kind == "empty":
            lines.append(f"{key}:")
        elif kind == "comment":
            lines.append(draw(st.sampled_from(["# note", "  # indented", f"{key}: x # trailing"])))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", "  "])))
        else:
            lines.append(draw(st.sampled_from(["  nested: 1", "? k", "- orphan", "key : v", "a\tb: c",
                                               "k: |", "k: >", "...", "k: [a, [b]]", "k: [a,]", "k: [, a]",
                                               "  continued", "k: 'open", "k: v\r"])))
    return "\n".join(lines)


@settings(max_examples=2000, deadline=None)
@given(front_matter())
def test_simple_front_matter_reads_as_pyyaml_does(text: str) -> None:
    assert_same_as_pyyaml(text)


def test_the_simple_reader_takes_the_usual_shapes() -> None:
    text = ('type: concept\ntitle: "Eigen: values"\naliases: [eigen, "[[ev]]"]\n'
            "prerequisites:\n  - \"[[vectors]]\"\n  - '[[matrices]]'\ndate: 2024-01-05\n"
            "order: 2\npublished: yes\nnothing:\n# a comment\n")
    assert assert_same_as_pyyaml(text)
    raw = load_yaml(text, "n.md", 2)[0]
    assert raw is not None
    assert raw.data == {"type": "concept", "title": "Eigen: values", "aliases": ["eigen", "[[ev]]"],
                        "prerequisites": ["[[vectors]]", "[[matrices]]"],
                        "date": dt.date(2024, 1, 5), "order": 2, "published": True, "nothing": None}
    assert raw.key_lines["prerequisites"] == 5 and raw.item_lines["prerequisites"] == [6, 7]
    assert raw.item_lines["aliases"] == [4, 4]


@pytest.mark.parametrize("text", ["date: 2024-02-31", "k: &a x\nj: *a", "k: x # c", "k: v\nk: w",
                                  "a:\n  b: 1", "k: \"a\\tb\"", "k:\n- a\n  - b", "- a\n- b",
                                  "k: [, a]", "k: [a, , b]"])
def test_anything_else_is_left_to_pyyaml(text: str) -> None:
    assert simple_mapping(text, 2) is None


def test_every_front_matter_of_the_sample_vault_reads_the_same() -> None:
    taken = 0
    for path in sorted((REPO / "notes").rglob("*.md")):
        tokens = make_parser().parse(path.read_text(encoding="utf-8"))
        if tokens and tokens[0].type == "front_matter":
            taken += assert_same_as_pyyaml(tokens[0].content)
    assert taken >= 30  # the sample vault's front matter is the usual kind
