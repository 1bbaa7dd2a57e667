"""Writing articles: atomic, umask-respecting, recorded in the article itself and under a lock,
never losing a record or a hand edit — on this machine, on a fresh clone, in parallel."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import kb
import kb.vault.write
from kb.vault.write import Records, create_new_file, stamp, stamp_state, write_article

from .conftest import run_kb


def concept(name: str, body: str = "Body.", prerequisites: tuple[str, ...] = ()) -> str:
    front = f"---\ntype: concept\nprerequisites: [{', '.join(prerequisites)}]\n---\n"
    return f"{front}# {name.title()}\n\n{body}\n"


@pytest.fixture
def umask():
    def set_to(mask: int) -> None:
        os.umask(mask)
    old = os.umask(0o022)
    os.umask(old)
    yield set_to
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


# -- modes ---------------------------------------------------------------------------------
def test_articles_get_the_mode_an_editor_would_give_them(make_vault, umask) -> None:
    root = make_vault({"notes/a.md": concept("a")})
    umask(0o022)
    assert run_kb("article", "a", vault=root).exit_code == 0
    assert mode(root / "articles/a.md") == 0o644
    umask(0o027)
    (root / "notes/b.md").write_text(concept("b"))
    assert run_kb("article", "b", vault=root).exit_code == 0
    assert mode(root / "articles/b.md") == 0o640


def test_force_keeps_the_mode_of_the_article_it_replaces(make_vault, umask) -> None:
    umask(0o077)
    root = make_vault({"notes/a.md": concept("a")})
    assert run_kb("article", "a", vault=root).exit_code == 0
    article = root / "articles/a.md"
    article.chmod(0o644)
    article.write_text(article.read_text() + "edit\n")
    assert run_kb("article", "a", "--force", vault=root).exit_code == 0
    assert mode(article) == 0o644 and "edit\n" not in article.read_text()


# -- atomic --------------------------------------------------------------------------------
def test_an_article_is_replaced_by_rename_never_rewritten_in_place(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a", "Old body.")})
    run_kb("article", "a", vault=root)
    article = root / "articles/a.md"
    old = article.read_bytes()
    reader = root / "old-inode"
    os.link(article, reader)  # what a reader holding the old file sees
    (root / "notes/a.md").write_text(concept("a", "New body."))
    assert run_kb("article", "a", vault=root).exit_code == 0
    assert b"New body." in article.read_bytes()
    assert reader.read_bytes() == old  # written in place, this would change too
    assert article.stat().st_ino != reader.stat().st_ino


def test_a_name_is_claimed_exclusively_a_file_appearing_meanwhile_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another program creates the very name while kb writes: kb takes the next name."""
    folder = tmp_path / "notes"
    folder.mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_race(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        (folder / "note.md").write_text("theirs\n")  # appears in the window before the claim
        return made

    monkeypatch.setattr(kb.vault.write.tempfile, "mkstemp", mkstemp_then_race)
    path = create_new_file(folder, "note", ".md", "ours\n")
    assert (folder / "note.md").read_text() == "theirs\n"
    assert path == folder / "note-2.md" and path.read_text() == "ours\n"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


# -- the record travels with the article ------------------------------------------------------
def test_the_stamp_detects_any_change(tmp_path: Path) -> None:
    text = "---\ntitle: x\n---\n\nBody\r\nwith a CR.\n"
    stamped = stamp(text, "a.md")
    assert stamp_state(stamped.encode()) is True
    assert stamp_state(stamped.replace("Body", "B0dy").encode()) is False
    assert stamp_state(stamped.replace("\r\n", "\n").encode()) is False  # byte exact
    assert stamp_state(text.encode()) is None
    bib = stamp("@book{k, title={T}}\n", "references.bib")
    assert bib.startswith("% kb-sha256: ") and stamp_state(bib.encode()) is True


def test_a_fresh_clone_without_kb_state_knows_what_kb_wrote(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a", "First.")})
    assert run_kb("article", "a", vault=root).exit_code == 0
    clone = root.parent / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns(".kb"))
    (clone / "notes/a.md").write_text(concept("a", "Second."))
    result = run_kb("article", "a", vault=clone)
    assert result.exit_code == 0 and "articles/a.md: written" in result.stdout
    assert "Second." in (clone / "articles/a.md").read_text()
    # --force on an article nobody edited does not claim an edit was replaced
    (clone / "notes/a.md").write_text(concept("a", "Third."))
    shutil.rmtree(clone / ".kb")
    forced = run_kb("article", "a", "--force", vault=clone)
    assert "articles/a.md: written\n" in forced.stdout and "edit was replaced" not in forced.stdout


def test_a_hand_edit_is_detected_on_a_fresh_clone(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a", "First.")})
    run_kb("article", "a", vault=root)
    shutil.rmtree(root / ".kb")
    article = root / "articles/a.md"
    article.write_text(article.read_text().replace("First.", "First, said better."))
    (root / "notes/a.md").write_text(concept("a", "Second."))
    refused = run_kb("article", "a", vault=root)
    assert refused.exit_code == 1 and "--force" in refused.stderr
    assert "said better" in article.read_text()


def test_kb_never_refuses_its_own_output_with_carriage_returns(make_vault) -> None:
    """A title may hold a carriage return (YAML's "\\r"); kb writes it as it is and must
    compare what is on disk byte for byte, not with newlines translated."""
    root = make_vault({"notes/a.md": '---\ntype: concept\ntitle: "Odd\\rtitle"\n---\nBody.\n'})
    assert run_kb("article", "a", vault=root).exit_code == 0
    assert b"Odd\rtitle" in (root / "articles/a.md").read_bytes()
    assert run_kb("article", "a", vault=root).stdout.strip() == "articles/a.md: unchanged"
    (root / "notes/a.md").write_text('---\ntype: concept\ntitle: "Odd\\rtitle"\n---\nChanged.\n')
    again = run_kb("article", "a", vault=root)
    assert again.exit_code == 0, again.stderr
    assert b"Changed." in (root / "articles/a.md").read_bytes()


def test_a_stray_temporary_file_from_a_killed_run_is_removed(make_vault) -> None:
    root = make_vault({
        "kb.toml": '[[series]]\ntitle = "S"\nslug = "s"\nparts = ["a"]\n',
        "notes/a.md": concept("a"),
    })
    run_kb("build", vault=root)
    stray = root / "articles/s" / f".01-a.md.x1y2z3{kb.vault.write.TEMP_SUFFIX}"
    stray.write_text("half an article")
    assert run_kb("build", vault=root).exit_code == 0
    assert not stray.exists()
    assert sorted(p.name for p in (root / "articles/s").iterdir()) == ["01-a.md"]


def test_a_killed_write_leaves_its_temporary_file_for_the_next_run_to_remove(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a")})
    script = (
        "import os, sys, kb.vault.write\n"
        "real = os.replace\n"
        "def die(*a): os._exit(9)\n"  # killed between writing the temporary file and the rename
        "kb.vault.write.os.replace = die\n"
        "from kb.cli import main\n"
        f"main(['article', 'a', '--vault', {str(root)!r}])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert done.returncode == 9
    assert any(p.name.endswith(kb.vault.write.TEMP_SUFFIX) for p in (root / "articles").iterdir())
    assert run_kb("article", "a", vault=root).exit_code == 0
    assert [p.name for p in (root / "articles").iterdir()] == ["a.md"]


# -- records under a lock -----------------------------------------------------------------------
def test_records_are_merged_never_overwritten(tmp_path: Path) -> None:
    root = tmp_path
    first, second = Records.load(root), Records.load(root)  # two runs, both started
    write_article(root, root / "articles", "a.md", "---\ntitle: a\n---\nA\n", first)
    write_article(root, root / "articles", "b.md", "---\ntitle: b\n---\nB\n", second)
    first.save()  # a late save from the first run keeps the second run's record
    entries = json.loads((root / ".kb/generated.json").read_text())["articles"]
    assert set(entries) == {"articles/a.md", "articles/b.md"}


def test_parallel_article_runs_never_lose_a_record(make_vault) -> None:
    names = [f"c{i}" for i in range(8)]
    root = make_vault({f"notes/{n}.md": concept(n) for n in names})
    env = {**os.environ, "PYTHONPATH": str(Path(kb.__file__).parent.parent)}
    runs = [subprocess.Popen([sys.executable, "-m", "kb", "article", n, "--vault", str(root)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for n in names]
    for run in runs:
        assert run.wait() == 0, run.stderr.read() if run.stderr else ""
    entries = json.loads((root / ".kb/generated.json").read_text())["articles"]
    assert set(entries) == {f"articles/{n}.md" for n in names}


def test_records_are_written_as_each_article_is_written(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a"), "notes/b.md": concept("b"),
                       "kb.toml": '[[series]]\ntitle = "S"\nslug = "s"\nparts = ["a", "b"]\n'})
    script = (
        "import os, kb.vault.write\n"
        "real = kb.vault.write.atomic_write\n"
        "def write(path, data):\n"
        "    if path.name == '02-b.md': os._exit(9)\n"
        "    real(path, data)\n"
        "kb.vault.write.atomic_write = write\n"
        "from kb.cli import main\n"
        f"main(['build', '--vault', {str(root)!r}])\n"
    )
    assert subprocess.run([sys.executable, "-c", script], capture_output=True).returncode == 9
    entries = json.loads((root / ".kb/generated.json").read_text())["articles"]
    assert "articles/s/01-a.md" in entries


# -- kb build --------------------------------------------------------------------------------
def test_build_exits_1_when_it_refused_an_edited_part_and_loads_the_vault_once(
        make_vault, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_vault({"kb.toml": '[[series]]\ntitle = "S"\nslug = "s"\nparts = ["a", "b"]\n',
                       "notes/a.md": concept("a"), "notes/b.md": concept("b", prerequisites=("a",))})
    assert run_kb("build", vault=root).exit_code == 0
    part = root / "articles/s/01-a.md"
    part.write_text(part.read_text() + "\nMy edit.\n")
    (root / "notes/a.md").write_text(concept("a", "Changed."))
    loads = []
    real_open = kb.open_vault

    def counting_open(*args, **kwargs):
        loads.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(kb, "open_vault", counting_open)
    result = run_kb("build", vault=root)
    assert result.exit_code == 1
    assert "articles/s/01-a.md was edited" in result.stderr
    assert "My edit." in part.read_text()
    assert "articles/s/02-b.md" in result.stdout  # the other part is still written
    assert "read but never practiced" in result.stdout
    assert len(loads) == 1


def test_series_whose_folders_collide_are_an_error_before_anything_is_written(make_vault) -> None:
    root = make_vault({
        "kb.toml": ('[[series]]\ntitle = "One"\nslug = "Math"\nparts = ["a"]\n\n'
                    '[[series]]\ntitle = "Two"\nslug = "math"\nparts = ["b"]\n'),
        "notes/a.md": concept("a"), "notes/b.md": concept("b"),
    })
    result = run_kb("build", vault=root)
    assert result.exit_code == 1
    assert "'One'" in result.stderr and "'Two'" in result.stderr and "articles/math/" in result.stderr
    assert not (root / "articles").exists() or not any((root / "articles").rglob("*"))


def test_an_unwritable_kb_folder_is_a_warning_and_the_stamp_still_records(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a", "First."), ".kb": "not a folder\n"})
    result = run_kb("article", "a", vault=root)
    assert result.exit_code == 0 and "kb: warning: could not" in result.stderr
    (root / "notes/a.md").write_text(concept("a", "Second."))
    again = run_kb("article", "a", vault=root)
    assert again.exit_code == 0 and "Second." in (root / "articles/a.md").read_text()


def test_two_builds_at_once_never_lose_a_record_or_refuse_each_other(make_vault) -> None:
    root = make_vault({"kb.toml": ('citations = "quarto"\n[[series]]\ntitle = "S"\nslug = "s"\n'
                                   'parts = ["c2", "c5"]\n'),
                       **{f"notes/c{i}.md": concept(f"c{i}", prerequisites=(f"c{i - 1}",) if i else ())
                          for i in range(6)}})
    env = {**os.environ, "PYTHONPATH": str(Path(kb.__file__).parent.parent)}
    runs = [subprocess.Popen([sys.executable, "-m", "kb", "build", "--template", template,
                              "--vault", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=env)
            for template in ("article.md.j2", "article.qmd.j2") * 2]
    for run in runs:
        assert run.wait() == 0, run.stderr.read() if run.stderr else ""
    entries = json.loads((root / ".kb/generated.json").read_text())["articles"]
    assert set(entries) == {f"articles/s/{name}" for name in
                            ("01-c2.md", "02-c5.md", "01-c2.qmd", "02-c5.qmd", "references.bib")}
