"""Front matter and bad input: every problem is a diagnostic with path and line, never a crash."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kb.errors import Diagnostic
from kb.notes.model import Note
from kb.notes.parse import parse_note
from kb.vault.cache import decode_records, note_to_record, record_to_note


def parse(text: str | bytes, rel: str = "n"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return parse_note(f"notes/{rel}.md", rel, data)


def codes(note) -> list[tuple[str, int, str]]:
    return [(d.code, d.line, d.severity) for d in note.diagnostics]


def test_typed_front_matter_with_field_lines() -> None:
    note = parse(
        "---\n"
        "type: practice\n"
        "practice: code\n"
        "concept: [[pca]]\n"
        "prerequisites:\n"
        "  - \"[[covariance]]\"\n"
        "  - eigenvalues\n"
        "source: \"[[bishop-prml|PRML]]\"\n"
        "locator: 45\n"
        "date: 2026-10-12\n"
        "order: 2\n"
        "tags: [math, '#pca']\n"
        "aliases: principal components\n"
        "---\n"
        "# PCA in NumPy\n"
    )
    assert note.diagnostics == []
    assert note.type == "practice" and note.practice == "code"
    assert [(r.target, r.line) for r in note.concepts] == [("pca", 4)]
    assert [(r.target, r.line) for r in note.prerequisites] == [("covariance", 6), ("eigenvalues", 7)]
    assert note.source is not None and (note.source.target, note.source.line) == ("bishop-prml", 8)
    assert note.locator == "45"
    assert note.date == dt.date(2026, 10, 12)
    assert note.order == 2.0
    assert note.tags == ["math", "pca"]
    assert note.aliases == ["principal components"]
    assert note.title == "PCA in NumPy"
    assert note.body_line == 15


def test_title_defaults_to_heading_then_id() -> None:
    assert parse("Title\n=====\n\nSome text\n").title == "Title"
    assert parse("Some text\n\nSection\n=======\n", rel="folder/my-id").title == "my-id"
    assert parse("no heading at all\n", rel="folder/my-id").title == "my-id"
    assert parse("---\ntitle: Given\n---\n# Heading\n").title == "Given"


def test_unknown_fields_are_kept_and_property_links_found() -> None:
    note = parse('---\nrelated: "[[svd]]"\nrating: 5\nsee:\n  - "[[a]]"\n  - plain\n---\n')
    assert note.extra == {"related": "[[svd]]", "rating": 5, "see": ["[[a]]", "plain"]}
    assert [(link.target, link.line, link.kind) for link in note.links] == [
        ("svd", 2, "property"), ("a", 5, "property")]


def test_near_miss_field_names_the_intended_field() -> None:
    note = parse("---\nprerequisite: [a]\nconcpet: b\nTags: [x]\nunrelated: 1\n---\n")
    messages = {d.line: d.message for d in note.diagnostics}
    assert codes(note) == [("near-miss-field", 2, "warning"), ("near-miss-field", 3, "warning")]
    assert "'prerequisites'" in messages[2]
    assert "'concept'" in messages[3]


def test_other_tools_properties_are_ordinary_properties() -> None:
    """`Title`, `Status`, `author`; source fields on a project note; practice fields on a
    reading note; an unknown type: no diagnostic on the note, the values kept as written."""
    note = parse("---\nTitle: T\nStatus: Next\nauthor: me\nkind: note\nyear: 2021-2022\n"
                 "status: Next\nresult: pass\ntype: book\nurl: not a url\n---\n")
    assert note.diagnostics == []
    assert note.type == "reading"
    assert note.extra["status"] == "Next" and note.extra["type"] == "book"
    assert note.extra["year"] == "2021-2022" and note.extra["result"] == "pass"
    source = parse("---\ntype: source\nkind: note\n---\n")
    assert codes(source) == [("invalid-field", 3, "error")]  # on a source note, kb's field


def test_wrong_values_are_reported_at_their_line_and_other_fields_survive() -> None:
    """kb's own strict fields (practice, on a practice note) are errors; date and order, which
    other tools use loosely, are warnings that keep the value as written; an unknown type is
    kept too (and reported once per value for the whole vault, see test_graph)."""
    note = parse("---\ntype: practice\ntitle: Kept\npractice: sometimes\ndate: tomorrow\n---\n")
    assert codes(note) == [("invalid-field", 4, "error"), ("invalid-field", 5, "warning"),
                           ("missing-practice", 2, "warning")]
    assert note.title == "Kept"
    assert note.type == "practice"
    assert note.extra == {"date": "tomorrow"}
    assert "exercise" in note.diagnostics[0].message and "sometimes" in note.diagnostics[0].message
    lecture = parse("---\ntype: lecture\n---\n")
    assert parse("---\ntype: [\"[[Product]]\"]\n---\n").diagnostics == []  # a property link
    assert lecture.type == "reading" and lecture.extra == {"type": "lecture"} and not lecture.diagnostics


def test_bad_yaml_reports_the_file_line() -> None:
    note = parse("---\ntype: concept\ntitle: [unclosed\n---\nbody [[x]]\n")
    assert note.diagnostics[0].code == "yaml-error"
    assert note.diagnostics[0].severity == "error"
    assert note.diagnostics[0].line in (3, 4)
    assert [link.target for link in note.links] == ["x"]  # the body is still read


def test_front_matter_that_is_not_a_mapping() -> None:
    note = parse("---\n- a\n- b\n---\ntext\n")
    assert codes(note) == [("frontmatter-not-mapping", 2, "error")]
    assert note.type == "reading"


def test_bom_and_crlf_are_accepted() -> None:
    note = parse("\ufeff---\r\ntype: concept\r\nprerequisites: [a]\r\n---\r\n# T\r\n\r\nx [[b]]\r\n")
    assert note.diagnostics == []
    assert note.type == "concept"
    assert [(r.target, r.line) for r in note.prerequisites] == [("a", 3)]
    assert [(link.target, link.line) for link in note.links] == [("b", 7)]


def test_empty_file_is_a_warning_not_a_crash() -> None:
    note = parse(b"")
    assert codes(note) == [("empty-note", 0, "warning")]
    assert note.loaded and note.title == "n"


def test_non_utf8_bytes_name_the_line() -> None:
    note = parse(b"---\ntype: concept\n---\nline four\ncaf\xe9 [[x]]\n")
    assert codes(note) == [("encoding", 5, "error")]
    assert note.type == "concept"
    assert [link.target for link in note.links] == ["x"]


def test_binary_file_named_md_is_skipped() -> None:
    note = parse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert codes(note) == [("binary-file", 0, "error")]
    assert not note.loaded


def test_unclosed_front_matter() -> None:
    note = parse("---\ntype: concept\nno closing line\n")
    assert "frontmatter-unclosed" in [d.code for d in note.diagnostics]


def test_practice_note_without_kind_warns() -> None:
    note = parse("---\ntype: practice\n---\n")
    assert codes(note) == [("missing-practice", 2, "warning")]


def assert_cached_equal(note: Note) -> None:
    """The note read back from its cache record is the same note, every field of it."""
    [record] = decode_records([note_to_record(note)])
    assert record is not None
    assert record_to_note(note.path, note.rel, record, note.body) == note


def test_parse_is_pure_and_deterministic() -> None:
    data = b"---\nconcept: a\n---\n[[b]] and [c](c.md)\n"
    first, second = parse_note("notes/x.md", "x", data), parse_note("notes/x.md", "x", data)
    assert first == second


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary().map(lambda b: b.decode("latin-1")))
def test_any_text_parses_into_a_note_or_diagnostics(text: str) -> None:
    note = parse_note("notes/fuzz.md", "fuzz", text.encode("utf-8", errors="surrogatepass"))
    lines = text.count("\n") + text.count("\r") + 1
    assert all(isinstance(d, Diagnostic) and d.path == "notes/fuzz.md" for d in note.diagnostics)
    assert all(0 <= d.line <= lines for d in note.diagnostics)
    assert all(1 <= link.line <= lines and link.literal in text for link in note.links)
    assert_cached_equal(note)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_into_a_note_or_diagnostics(data: bytes) -> None:
    note = parse_note("notes/fuzz.md", "fuzz", data)
    assert all(d.path == "notes/fuzz.md" and 0 <= d.line <= data.count(b"\n") + 1
               for d in note.diagnostics)
    assert_cached_equal(note)


FRONT_MATTER_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["type", "concept", "prerequisites", "source", "date", "tags",
                                         "order", "practice", "aliases", "title", "other", "locator",
                                         "minutes", "result", "status", "kind"]),
                       FRONT_MATTER_VALUES, max_size=5))
def test_any_front_matter_values_give_a_note(fields: dict) -> None:
    import yaml

    text = "---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\nbody\n"
    note = parse_note("notes/fm.md", "fm", text.encode())
    assert_cached_equal(note)
    assert all(d.line >= 1 for d in note.diagnostics)


@pytest.mark.parametrize(("text", "title"), [
    ("# Eigenvalues\n\nBody\n", "Eigenvalues"),
    ("---\ntype: concept\n---\n# From front matter on\n", "From front matter on"),
    ("Intro line.\n\n# Section heading\n", "note"),  # a heading further down is a section
    ("## Level two\n", "note"),
    ("# See [[svd|SVD]] and [[pca]] with `code`\n", "See SVD and pca with code"),
    ("Title\n=====\n", "Title"),
    ("# Notes on #linear-algebra [[svd]]\n", "Notes on #linear-algebra svd"),
])
def test_title_is_a_heading_that_opens_the_note(text: str, title: str) -> None:
    assert parse_note("notes/note.md", "note", text.encode()).title == title
