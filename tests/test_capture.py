"""kb init and kb new: a vault laid out without touching what exists; notes that never overwrite."""

from __future__ import annotations

import datetime as dt
import os
import stat
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import kb
from kb.notes.slug import file_stem
from kb.vault.config import Config, load_config
from kb.vault.scaffold import NOT_COPIED

from .conftest import REPO, run_kb


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


# -- kb init -----------------------------------------------------------------------------------
def test_init_lays_out_a_vault_that_checks_clean(tmp_path: Path) -> None:
    root = tmp_path / "new vault"
    result = run_kb("init", str(root))
    assert result.exit_code == 0
    for name in ("kb.toml", "notes/", "articles/", "templates/", ".gitignore"):
        assert f"created      {name}" in result.stdout
    assert (root / "notes").is_dir() and (root / "articles").is_dir()
    builtins = sorted(p.name for p in (REPO / "templates").glob("*.j2") if p.name not in NOT_COPIED)
    assert sorted(p.name for p in (root / "templates").iterdir()) == builtins
    assert "graph.html.j2" in NOT_COPIED and not (root / "templates" / "graph.html.j2").exists()
    assert ".kb/" in (root / ".gitignore").read_text().splitlines()
    # kb.toml is valid, and every value it sets is the default
    config, problems, _ = load_config(root)
    assert problems == []
    assert replace(config, notes=None) == Config()
    assert config.notes == "notes"
    assert run_kb("check", vault=root).exit_code == 0


def test_init_never_overwrites_and_says_what_it_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "vault"
    (root / "templates").mkdir(parents=True)
    (root / "kb.toml").write_text('author = "Me"\n')
    (root / "templates" / "article.md.j2").write_text("mine\n")
    (root / ".gitignore").write_text("*.pyc\n")
    result = run_kb("init", str(root))
    assert result.exit_code == 0
    assert (root / "kb.toml").read_text() == 'author = "Me"\n'
    assert (root / "templates" / "article.md.j2").read_text() == "mine\n"
    assert (root / ".gitignore").read_text() == "*.pyc\n"
    assert "left alone   kb.toml (exists)" in result.stdout
    assert "left alone   templates/article.md.j2 (exists)" in result.stdout
    assert "add a line `.kb/`" in result.stdout
    assert "created      templates/note-reading.md.j2" in result.stdout
    again = run_kb("init", str(root))
    assert "created" not in again.stdout and "nothing to do" in again.stdout


# -- kb new: names ------------------------------------------------------------------------------
@pytest.mark.parametrize(("title", "stem"), [
    ("Bayes' theorem", "bayes-theorem"),
    ("القيم الذاتية", "القيم-الذاتية"),
    ("固有値 と 固有ベクトル", "固有値-と-固有ベクトル"),
    ("🎉 LoRA 🚀", "lora"),
    ("🎉🚀", "note"),
    ("..", "note"),
    ("../../etc/passwd", "etc-passwd"),
    ("a/b\\c", "a-b-c"),
    ("CON", "con-note"),
    ("lpt1", "lpt1-note"),
    ("𠀀" * 100, "𠀀" * 42 + "-7d5fd993"),  # 4-byte characters: cut to fit a file name, stably
    ("zero\ufeffwidth \u202eflip", "zero-width-flip"),  # format characters are escaped in YAML
])
def test_new_note_file_names(tmp_path: Path, title: str, stem: str) -> None:
    run_kb("init", str(tmp_path))
    result = run_kb("new", "concept", title, vault=tmp_path)
    assert result.exit_code == 0, result.stderr
    path = Path(result.stdout.strip())
    path = path if path.is_absolute() else Path.cwd() / path
    assert path.name == f"{stem}.md"
    assert len(path.name.encode()) <= 255
    assert path.parent == (tmp_path / "notes").resolve()
    assert front_matter(path)["title"] == title.strip()
    assert run_kb("check", vault=tmp_path).exit_code == 0  # kb reads back what it wrote


@pytest.mark.parametrize("title", ["tab\there\x00nul\x1b[31m", "line\nbreak", "bad \udcff byte"])
def test_new_refuses_control_characters_and_bytes_that_are_not_utf8(tmp_path: Path, title: str) -> None:
    run_kb("init", str(tmp_path))
    before = sorted(p.name for p in (tmp_path / "notes").iterdir())
    result = run_kb("new", "reading", title, "--tag", "ok", vault=tmp_path)
    assert result.exit_code == 2
    assert "kb will not write it into a note" in result.stderr
    assert "\n" not in result.stderr.split("Error: ", 1)[1].rstrip("\n")  # one line, escaped
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == before


def test_file_stem_keeps_citation_keys_but_not_separators() -> None:
    assert file_stem("huLoRALowRank2021") == "huLoRALowRank2021"
    assert file_stem("doi:10.1/x") == "doi-10.1-x"
    assert file_stem("../..") == "untitled"
    assert file_stem("nul") == "nul-untitled"


def test_new_never_overwrites(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    (tmp_path / "notes" / "sub").mkdir()
    (tmp_path / "notes" / "sub" / "Eigenvalues.md").write_text("my words\n")
    paths = [run_kb("new", "reading", "Eigenvalues", vault=tmp_path) for _ in range(3)]
    names = [Path(r.stdout.strip()).name for r in paths]
    # an id that exists anywhere in the vault (in any case) is taken: -2, then -3, -4
    assert names == ["eigenvalues-2.md", "eigenvalues-3.md", "eigenvalues-4.md"]
    assert "a note named 'eigenvalues' exists (notes/sub/Eigenvalues.md)" in paths[0].stderr
    assert (tmp_path / "notes" / "sub" / "Eigenvalues.md").read_text() == "my words\n"
    assert run_kb("check", vault=tmp_path).exit_code == 0


def test_new_concept_that_exists_is_refused_not_duplicated(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    first = run_kb("new", "concept", "Vectors", vault=tmp_path)
    assert first.exit_code == 0
    again = run_kb("new", "concept", "vectors", vault=tmp_path)
    assert again.exit_code == 1
    assert "already has a note: notes/vectors.md" in again.stderr
    assert "kb new reading TITLE --concept vectors" in again.stderr
    assert sorted(p.name for p in (tmp_path / "notes").iterdir()) == ["vectors.md"]


def test_a_concept_named_before_its_note_is_one_concept_not_two(tmp_path: Path) -> None:
    """`--prerequisite "matrix rank"` names the id `kb new concept "Matrix rank"` gives."""
    run_kb("init", str(tmp_path))
    reading = run_kb("new", "reading", "SVD", "--prerequisite", "matrix rank", vault=tmp_path)
    assert "names it 'matrix-rank'" in reading.stderr
    run_kb("new", "concept", "Matrix rank", vault=tmp_path)
    gaps = run_kb("gaps", "--json", vault=tmp_path).json()
    assert gaps["missing"] == []
    assert [g["id"] for g in gaps["gaps"] if g["id"] == "matrix-rank"] == ["matrix-rank"]


def test_new_reading_note_is_typed_linked_and_dated(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    (tmp_path / "notes" / "eigenvalues.md").write_text("---\ntype: concept\ntitle: Eigenvalues\n"
                                                       "aliases: [eigen]\n---\n")
    (tmp_path / "notes" / "prml.md").write_text("---\ntype: source\ntitle: Pattern Recognition\n---\n")
    result = run_kb("new", "reading", "Eigen in PRML", "--concept", "Eigenvalues", "--source",
                    "pattern recognition", "--locator", "app. C", "--prerequisite", "eigen",
                    "--tag", "#linalg", "--tag", "math", vault=tmp_path)
    assert result.exit_code == 0 and result.stderr == ""
    front = front_matter(tmp_path / "notes" / "eigen-in-prml.md")
    assert front == {"type": "reading", "title": "Eigen in PRML", "concept": "[[eigenvalues]]",
                     "source": "[[prml]]", "locator": "app. C", "prerequisites": ["[[eigenvalues]]"],
                     "tags": ["linalg", "math"], "date": dt.date.today()}
    graph = kb.open_vault(tmp_path, use_cache=False).graph
    note = graph.notes["eigen-in-prml"]
    assert note in graph.concepts["eigenvalues"].notes
    assert graph.graph.has_edge("note:eigen-in-prml", "source:prml")


def test_new_practice_note_and_its_level(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    run_kb("new", "concept", "Determinant", vault=tmp_path)
    run_kb("new", "practice", "Determinants by hand", "--concept", "determinant", vault=tmp_path)
    assert kb.open_vault(tmp_path).graph.concepts["determinant"].level == "exercise"
    run_kb("new", "practice", "Determinant in numpy", "--concept", "determinant", "--practice", "code",
           vault=tmp_path)
    assert kb.open_vault(tmp_path).graph.concepts["determinant"].level == "code"
    assert run_kb("new", "reading", "x", "--practice", "code", vault=tmp_path).exit_code == 2


def test_unknown_names_are_kept_with_a_suggestion(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    run_kb("new", "concept", "Eigenvalues", vault=tmp_path)
    run_kb("new", "source", "Bishop PRML", vault=tmp_path)
    result = run_kb("new", "reading", "r", "--concept", "eigenvalue", "--source", "bishop-prm",
                    vault=tmp_path)
    assert result.exit_code == 0
    assert "concept 'eigenvalue' is not in the vault yet (did you mean eigenvalues?)" in result.stderr
    assert "source 'bishop-prm' is not in the vault yet (did you mean bishop-prml?)" in result.stderr
    front = front_matter(tmp_path / "notes" / "r.md")
    assert front["concept"] == "[[eigenvalue]]" and front["source"] == "[[bishop-prm]]"


def test_new_uses_folders_and_the_vaults_template(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    toml = (tmp_path / "kb.toml").read_text().replace('# source = "sources"', 'source = "lit"')
    (tmp_path / "kb.toml").write_text(toml)
    (tmp_path / "templates" / "note-source.md.j2").write_text(
        "---\ntype: source\ntitle: {{ title | yaml }}\nstatus: reading\n---\nMine, {{ date }}.\n")
    result = run_kb("new", "source", "Deep Learning from Scratch", vault=tmp_path)
    path = tmp_path / "notes" / "lit" / "deep-learning-from-scratch.md"
    assert result.exit_code == 0 and path.is_file()
    assert path.read_text().endswith(f"Mine, {dt.date.today().isoformat()}.\n")


def test_folders_cannot_point_outside_the_notes_folder(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    toml = (tmp_path / "kb.toml").read_text().replace('# concept = "concepts"', 'concept = "../../x"')
    (tmp_path / "kb.toml").write_text(toml)
    result = run_kb("new", "concept", "Escape", vault=tmp_path)
    assert result.exit_code == 1 and "outside" in result.stderr
    assert not (tmp_path.parent / "x").exists()


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script as the editor")
def test_edit_opens_the_editor_on_the_new_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_kb("init", str(tmp_path))
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\necho "edited" >> "$1"\n')
    editor.chmod(editor.stat().st_mode | stat.S_IEXEC)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", str(editor))
    result = run_kb("new", "concept", "Edited", "--edit", vault=tmp_path)
    assert result.exit_code == 0
    assert (tmp_path / "notes" / "edited.md").read_text().endswith("edited\n")


def test_new_notes_from_every_builtin_template_check_clean(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    for note_type in ("concept", "reading", "practice", "source"):
        assert run_kb("new", note_type, f"A {note_type}", vault=tmp_path).exit_code == 0
    result = run_kb("check", "--json", vault=tmp_path)
    assert result.json()["diagnostics"] == []
    types = {n.type for n in kb.open_vault(tmp_path).graph.notes.values()}
    assert types == {"concept", "reading", "practice", "source"}
    assert os.listdir(tmp_path / "notes")  # and nothing was left behind as a temporary file
    assert not [p for p in (tmp_path / "notes").iterdir() if p.name.startswith(".")]
