"""The library API the CLI is a thin layer over: a session, and writing notes without click."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

import kb
from kb.errors import ConfigErrorsError
from kb.notes.authoring import create_note, import_bibtex, read_bibtex_file, record_review
from kb.notes.capture import NoteRequest
from kb.notes.parse import parse_note
from kb.vault import write as write_module

from .conftest import REPO, copy_sample, write_vault

TODAY = dt.date(2026, 11, 24)


def test_a_session_holds_the_vault_and_the_graph_holds_none() -> None:
    session = kb.open_vault(REPO / "notes", use_cache=False)
    assert "vault" not in {f.name for f in dataclasses.fields(session.graph)}
    assert session.root == REPO / "notes" and session.config is session.vault.config
    assert session.diagnostics is session.graph.diagnostics
    assert not session.use_cache


def test_create_note_writes_a_readable_note_where_its_type_goes(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    session = kb.open_vault(root)
    created = create_note(session, NoteRequest(type="reading", title="Eigen stuff",
                                               concepts=("Eigenvalues", "no-such-thing")),
                          today=TODAY)
    assert created.path == root / "notes" / "readings" / "eigen-stuff.md"
    note = parse_note(str(created.path), "readings/eigen-stuff", created.path.read_bytes())
    assert note.type == "reading" and note.date == TODAY
    # a title becomes the concept's id; an unknown name is kept, with a warning
    assert [c.target for c in note.concepts] == ["eigenvalues", "no-such-thing"]
    assert len(created.warnings) == 1 and "no-such-thing" in created.warnings[0]
    again = create_note(kb.open_vault(root), NoteRequest(type="reading", title="Eigen stuff"),
                        today=TODAY)
    assert again.path.name == "eigen-stuff-2.md" and again.taken_by == ["notes/readings/eigen-stuff.md"]


def test_writing_commands_refuse_a_vault_whose_kb_toml_has_errors(tmp_path: Path) -> None:
    root = write_vault(tmp_path, {"kb.toml": '[folders]\nreading = "../out"\n', "notes/a.md": "a\n"})
    session = kb.open_vault(root)
    with pytest.raises(ConfigErrorsError) as raised:
        create_note(session, NoteRequest(type="reading", title="x"), today=TODAY)
    assert [d.code for d in raised.value.diagnostics] == ["config-error"]
    with pytest.raises(ConfigErrorsError):
        record_review(session, "a", result="good", day=TODAY, practice="exercise", minutes=None,
                      today=TODAY)
    assert sorted(p.name for p in (root / "notes").iterdir()) == ["a.md"]
    assert not (tmp_path / "out").exists()


def test_import_tells_each_outcome_as_it_happens(tmp_path: Path, monkeypatch) -> None:
    root = copy_sample(tmp_path / "vault")
    bib = str(REPO / "tests" / "fixtures" / "library.bib")
    text, latin1 = read_bibtex_file(bib)
    assert not latin1
    heard = []
    report = import_bibtex(kb.open_vault(root), text, bib, status="to-read", dry_run=False,
                           today=TODAY, on_line=heard.append)
    assert heard == report.lines and report.count("created") >= 3
    for line in report.lines:
        if line.outcome == "created":
            assert (root / line.path).is_file()

    # A write that fails halfway: the notes already written were told before the error.
    real = write_module.create_new_file
    written: list[str] = []

    def fail_on_second(*args, **kwargs):
        if written:
            raise OSError(28, "No space left on device")
        path = real(*args, **kwargs)
        written.append(path.name)
        return path

    monkeypatch.setattr(write_module, "create_new_file", fail_on_second)
    fresh = copy_sample(tmp_path / "fresh")
    heard.clear()
    with pytest.raises(OSError):
        import_bibtex(kb.open_vault(fresh), text, bib, status="reading", dry_run=False,
                      today=TODAY, on_line=heard.append)
    assert [Path(h.path).name for h in heard if h.outcome == "created"] == written


def test_record_review_writes_a_practice_note_that_counts(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    recorded = record_review(kb.open_vault(root), "Eigenvalues", result="hard", day=TODAY,
                             practice="exercise", minutes=20, today=TODAY)
    assert recorded.concept == "eigenvalues" and recorded.earlier is None
    session = kb.open_vault(root)
    memory = session.memory(TODAY)
    assert memory.concepts["eigenvalues"].last_practice == TODAY
    again = record_review(session, "eigenvalues", result="good", day=TODAY, practice="exercise",
                          minutes=None, today=TODAY)
    assert again.earlier == recorded.path.relative_to(root).as_posix()


def test_the_names_of_the_modules_that_became_packages_still_import() -> None:
    """kb.graph, kb.vault and kb.articles were modules before the package was grouped; their
    names still work, with a DeprecationWarning naming the new place."""
    from kb.graph.concepts import KnowledgeGraph
    from kb.vault.load import load_vault

    with pytest.warns(DeprecationWarning, match="kb.graph.concepts.KnowledgeGraph"):
        from kb.graph import KnowledgeGraph as old_graph
    with pytest.warns(DeprecationWarning, match="kb.vault.load.load_vault"):
        from kb.vault import load_vault as old_load
    assert old_graph is KnowledgeGraph and old_load is load_vault
    with pytest.raises(ImportError):
        from kb.articles import no_such_name  # noqa: F401


def test_the_library_example_in_the_docs_runs() -> None:
    """docs/library.md's first example, on a copy of the sample vault."""
    from .conftest import SAMPLE_VAULT

    text = (REPO / "docs" / "library.md").read_text(encoding="utf-8")
    example = text.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, object] = {}
    exec(compile(example.replace("path/to/vault", str(SAMPLE_VAULT)), "library.md", "exec"), scope)
    assert scope["graph"] is scope["session"].graph  # type: ignore[attr-defined]


def test_a_session_still_answers_what_the_graph_did_with_a_warning() -> None:
    session = kb.open_vault(REPO / "notes", use_cache=False)
    with pytest.warns(DeprecationWarning, match="session.graph.concepts"):
        concepts = session.concepts
    assert concepts is session.graph.concepts
    with pytest.raises(AttributeError):
        session.no_such_thing  # noqa: B018


def test_kb_today_dates_new_notes_and_a_broken_kb_toml_stops_an_import_before_the_file_is_read(
        tmp_path: Path, monkeypatch) -> None:
    from .conftest import run_kb

    monkeypatch.setenv("KB_TODAY", "2026-01-02")
    root = write_vault(tmp_path, {"kb.toml": "", "notes/a.md": "a\n"})
    made = run_kb("new", "reading", "On a", vault=root)
    assert made.exit_code == 0
    assert "date: 2026-01-02" in (root / made.stdout.strip()).read_text()
    (root / "kb.toml").write_text('[folders]\nsource = "../out"\n')
    (tmp_path / "latin1.bib").write_bytes("@book{k, title={Caf\xe9}}\n".encode("latin-1"))
    refused = run_kb("sources", "import", str(tmp_path / "latin1.bib"), vault=root)
    assert refused.exit_code == 1 and "kb.toml has errors" in refused.stderr
    assert "Latin-1" not in refused.stderr


def test_a_second_review_recorded_the_same_day_is_not_the_one_that_counts(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    first = record_review(kb.open_vault(root), "eigenvalues", result="easy", day=TODAY,
                          practice="exercise", minutes=None, today=TODAY)
    after_first = kb.open_vault(root).memory(TODAY).concepts["eigenvalues"]
    second = record_review(kb.open_vault(root), "eigenvalues", result="again", day=TODAY,
                           practice="exercise", minutes=None, today=TODAY)
    assert second.earlier == first.path.relative_to(root).as_posix()
    assert second.path.name.endswith("-2.md")
    after_second = kb.open_vault(root).memory(TODAY).concepts["eigenvalues"]
    assert after_second.stability == after_first.stability


def test_kb_today_dates_an_article(tmp_path: Path, monkeypatch) -> None:
    from .conftest import run_kb

    root = write_vault(tmp_path, {"kb.toml": "", "notes/x.md": "---\ntype: concept\n---\n# X\n"})
    monkeypatch.setenv("KB_TODAY", "2020-01-02")  # no note is dated: the article is dated today
    article = run_kb("article", "x", "--stdout", vault=root)
    assert article.exit_code == 0 and "2020-01-02" in article.stdout
