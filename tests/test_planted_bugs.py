"""Bugs planted on purpose (bench/mutants.py) that once passed every test: each test here
fails when its bug is put back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import kb
import kb.vault.load
from kb.notes.parse import parse_note

from .conftest import copy_sample, run_kb


def test_the_same_link_twice_on_a_line_is_counted_apart() -> None:
    note = parse_note("notes/a.md", "a", b"[[b]] then [[b]], [x](c.md) and [x](c.md)\n[[b]]\n")
    assert [(link.literal, link.line, link.occurrence) for link in note.links] == [
        ("[[b]]", 1, 0), ("[[b]]", 1, 1), ("[x](c.md)", 1, 0), ("[x](c.md)", 1, 1), ("[[b]]", 2, 0)]


def test_a_link_by_the_trailing_part_of_a_path_resolves(make_vault) -> None:
    root = make_vault({
        "notes/math/linear/eigen.md": "---\ntype: concept\n---\n",
        "notes/other/eigen.md": "---\ntype: concept\n---\n",
        "notes/r.md": "[[linear/eigen]] and [[other/eigen]]\n",
    })
    graph = kb.open_vault(root).graph
    assert [d.format() for d in graph.diagnostics if d.code in ("dangling-link", "ambiguous-link")] == []
    linked = {v for _u, v, kind in graph.graph.out_edges("note:r", data="kind") if kind == "link"}
    assert linked == {"concept:math/linear/eigen", "concept:other/eigen"}


def test_a_prerequisite_of_itself_is_a_warning_and_no_edge(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\nprerequisites: [b, a]\n---\n"})
    result = run_kb("check", vault=root)
    assert "notes/a.md:3: warning: 'a' is listed as a prerequisite of itself; ignored " \
           "[self-prerequisite]" in result.stderr
    graph = kb.open_vault(root).graph
    assert sorted(graph.prerequisite_graph().edges) == [("b", "a")]


def test_missing_concepts_are_listed_most_needed_first(make_vault) -> None:
    root = make_vault({
        "notes/x.md": "---\ntype: concept\nprerequisites: [zeta, alpha]\n---\n",
        "notes/y.md": "---\ntype: concept\nprerequisites: [zeta, mu]\n---\n",
    })
    missing = run_kb("gaps", "--json", vault=root).json()["missing"]
    assert missing == [{"id": "zeta", "needed_by": ["x", "y"]},
                       {"id": "alpha", "needed_by": ["x"]}, {"id": "mu", "needed_by": ["y"]}]


def test_unblocks_counts_the_other_members_of_a_cycle(make_vault) -> None:
    # a and b need each other, c needs a, d needs c: every concept after a in some order.
    root = make_vault({
        "notes/a.md": "---\ntype: concept\nprerequisites: [b]\n---\n",
        "notes/b.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
        "notes/c.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
        "notes/d.md": "---\ntype: concept\nprerequisites: [c]\n---\n",
    })
    graph = kb.open_vault(root).graph
    assert {key: c.unblocks for key, c in graph.concepts.items()} == {"a": 3, "b": 3, "c": 1, "d": 0}


def test_a_warm_run_gives_the_whole_notes_of_a_cold_run_on_the_sample(tmp_path: Path) -> None:
    """Every field of every note (locator, links with their occurrence, …), not a selection."""
    root = copy_sample(tmp_path / "vault")
    (root / "notes" / "twice.md").write_text("[[pca]] or [[pca]]\n", encoding="utf-8")
    cold = kb.open_vault(root, use_cache=False).vault.notes
    assert any(n.locator for n in cold) and any(link.occurrence for n in cold for link in n.links)
    kb.open_vault(root)
    warm = kb.open_vault(root)
    assert warm.vault.parsed == 0
    assert warm.vault.notes == cold


def test_another_version_of_a_parsing_library_rebuilds_the_cache(make_vault, monkeypatch) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n", "notes/b.md": "[[a]]\n"})
    kb.open_vault(root)
    assert kb.open_vault(root).vault.parsed == 0
    versions = kb.vault.load.library_versions()
    assert "markdown-it-py=" in versions and "PyYAML=" in versions and "pydantic=" in versions
    monkeypatch.setattr(kb.vault.load, "library_versions",
                        lambda: versions.replace("markdown-it-py=", "markdown-it-py=0.0.1+"))
    assert kb.open_vault(root).vault.parsed == 2


@pytest.mark.parametrize("exists", [True, False], ids=["stale-cache", "no-cache"])
def test_a_cache_that_cannot_be_written_still_answers(make_vault, monkeypatch, exists: bool) -> None:
    """A read-only database (as on a read-only mount): works as root too, where permissions
    would not stop the write."""
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n"})
    if exists:
        kb.open_vault(root)
    (root / "notes/b.md").write_text("---\ntype: concept\nprerequisites: [a]\n---\n")
    connect = sqlite3.connect

    def read_only(path: Path, timeout: float = 5.0, isolation_level: str | None = None) -> sqlite3.Connection:
        return connect(f"file:{path}?mode=ro", timeout=timeout, isolation_level=isolation_level, uri=True)

    monkeypatch.setattr("kb.vault.cache.sqlite3.connect", read_only)
    result = run_kb("gaps", "--json", vault=root)
    assert result.exit_code == 0
    assert [g["id"] for g in result.json()["gaps"]] == ["a", "b"]
    assert "cache" in result.stderr and "warning" in result.stderr


def test_diagnostics_are_reported_in_file_and_line_order(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: concept\nprerequisites: [a]\n---\n[[nowhere]]\n",
        "notes/b.md": "[[elsewhere]]\n",
    })
    lines = run_kb("check", vault=root).stderr.splitlines()
    assert [line.split(" ")[0] for line in lines if "[" in line] == ["notes/a.md:3:", "notes/a.md:5:",
                                                                     "notes/b.md:1:"]
