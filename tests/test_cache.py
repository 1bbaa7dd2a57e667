"""The cache saves work and never changes an answer: warm runs equal cold runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import kb
import kb.vault.load
from kb.graph.export import to_json
from kb.graph.mastery import gaps

from .conftest import run_kb, write_vault


def snapshot(root: Path, use_cache: bool) -> tuple:
    session = kb.open_vault(root, use_cache=use_cache)
    graph = session.graph
    found, missing = gaps(graph)
    return (to_json(graph.graph), [d.format() for d in graph.diagnostics],
            [(g.concept.key, g.concept.level, g.concept.unblocks, g.sources) for g in found], missing,
            list(session.vault.notes), session.vault.config)


def test_warm_run_parses_nothing_and_equals_cold(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: concept\ndate: 2026-01-02\nextra: {1: x, when: 2026-03-04}\n---\n# A\n",
        "notes/b.md": "---\nconcept: a\nprerequisites: [c]\n---\n[[a]] [[nowhere]]\n",
        "notes/bad.md": "---\ntitle: [oops\n---\n",
    })
    cold = snapshot(root, use_cache=False)
    first = kb.open_vault(root)
    assert first.vault.parsed == 3
    assert (root / ".kb" / "cache.sqlite").is_file()
    again = kb.open_vault(root)
    assert again.vault.parsed == 0
    assert snapshot(root, use_cache=True) == cold


def test_edit_rename_delete_and_config_change(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n", "notes/b.md": "[[a]]\n"})
    kb.open_vault(root)
    (root / "notes/b.md").write_text("---\nconcept: a\n---\n[[c]]\n")
    (root / "notes/a.md").rename(root / "notes/c.md")
    (root / "notes/new.md").write_text("---\ntype: practice\npractice: code\nconcept: c\n---\n")
    assert snapshot(root, True) == snapshot(root, False)
    (root / "notes/new.md").unlink()
    assert snapshot(root, True) == snapshot(root, False)
    (root / "notes/sub").mkdir()
    shutil.move(root / "notes/b.md", root / "notes/sub/b.md")
    (root / "kb.toml").write_text('notes = "notes/sub"\n')
    assert snapshot(root, True) == snapshot(root, False)
    assert [n.rel for n in kb.open_vault(root).vault.notes] == ["b"]


def test_validated_config_is_remembered_until_kb_toml_changes(make_vault, monkeypatch) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n",
                       "kb.toml": 'citations = "quarto"\nstalled_days = 0\nnope = 1\n'})
    first = kb.open_vault(root).vault
    assert first.config.citations == "quarto" and first.config.stalled_days == 30
    problems = [d.format() for d in first.diagnostics]
    assert problems == ["kb.toml:2: error: 'stalled_days': input should be greater than or equal "
                        "to 1 [config-error]",
                        "kb.toml:3: error: 'nope': unknown key; did you mean 'notes'? [config-error]"]

    def no_validation(text: str | None) -> None:
        raise AssertionError("kb.toml was validated again although it did not change")

    monkeypatch.setattr("kb.vault.config.parse_config", no_validation)
    again = kb.open_vault(root).vault
    assert (again.config, [d.format() for d in again.diagnostics]) == (first.config, problems)
    monkeypatch.undo()
    (root / "kb.toml").write_text('citations = "plain"\n')
    changed = kb.open_vault(root).vault
    assert changed.config.citations == "plain" and changed.diagnostics == []


def test_one_unreadable_record_costs_only_its_own_parse(make_vault) -> None:
    import sqlite3

    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n", "notes/b.md": "[[a]]\n",
                       "notes/c.md": "---\nconcept: a\n---\n"})
    cold = snapshot(root, use_cache=False)
    kb.open_vault(root)
    with sqlite3.connect(root / ".kb" / "cache.sqlite") as db:
        db.execute("UPDATE notes SET record = '{\"id\": ' WHERE path = 'notes/b.md'")
    assert kb.open_vault(root).vault.parsed == 1
    assert kb.open_vault(root).vault.parsed == 0
    assert snapshot(root, use_cache=True) == cold


LATER_NOTE = ("---\ntype: reading\nconcept: a\ndate: 2026-01-02\n---\n# Reading\n\n"
              "Seen in #ml and #topic/sub.\n\n## Prerequisites\n\n- [[b]]\n\n## More\n\n[[a]]\n")
LATER_VAULT = {"notes/r.md": LATER_NOTE, "notes/a.md": "---\ntype: concept\n---\n",
               "notes/b.md": "---\ntype: concept\n---\n"}


def _warm_note(root: Path, path: str):
    vault = kb.vault.load.load_vault(root)
    assert vault.parsed == 0
    return next(n for n in vault.notes if n.path == path)


def test_fields_decoded_on_first_use_equal_a_fresh_parse(make_vault) -> None:
    """Headings, field lines and body tags wait in a warm note's record as text until one is
    read; whichever is read first, each is what parsing the file gives."""
    from kb.notes.model import LATER_FIELDS, Heading

    root = make_vault(LATER_VAULT)
    cold = next(n for n in kb.vault.load.load_vault(root, use_cache=False).notes if n.path == "notes/r.md")
    assert cold.headings == [Heading(1, "Reading", 6, 0), Heading(2, "Prerequisites", 10, 13),
                             Heading(2, "More", 14, 0)]
    assert cold.field_lines == {"type": 2, "concept": 3, "date": 4}
    assert cold.inline_tags == ["ml", "topic/sub"]
    kb.vault.load.load_vault(root)  # writes the cache
    for first in LATER_FIELDS:
        warm = _warm_note(root, "notes/r.md")
        assert getattr(warm, first) == getattr(cold, first)
        assert warm == cold
    assert all(type(h) is Heading for h in _warm_note(root, "notes/r.md").headings)
    warm = _warm_note(root, "notes/r.md")
    warm.headings = []  # set before the others are decoded: kept
    assert warm.field_lines == cold.field_lines
    assert warm.headings == []
    assert warm.line_of("date") == 4


def test_conventions_read_decoded_fields_warm_as_cold(make_vault) -> None:
    """[conventions] read the fields a warm note decodes on first use: headings, body tags."""
    root = make_vault({**LATER_VAULT, "notes/t.md": "A note on #ml\n",
                       "kb.toml": '[conventions]\nprerequisite_headings = ["Prerequisites"]\n\n'
                                  '[conventions.types.concept]\ntags = ["ml"]\n'})
    cold = snapshot(root, use_cache=False)
    kb.open_vault(root)
    session = kb.open_vault(root)
    assert session.vault.parsed == 0
    assert [r.target for r in session.graph.notes["r"].prerequisites] == ["b"]
    assert session.graph.notes["t"].type == "concept"
    assert snapshot(root, use_cache=True) == cold


def test_a_damaged_later_part_is_an_error_naming_the_cache(make_vault) -> None:
    """The record's checksum covers its later part too; should a damaged one pass it anyway,
    reading a field from it is a clear error, never a wrong answer."""
    import sqlite3

    from kb.errors import KbError
    from kb.vault.cache import checksum

    root = make_vault(LATER_VAULT)
    kb.vault.load.load_vault(root)
    with sqlite3.connect(root / ".kb" / "cache.sqlite") as db:
        record, body = db.execute("SELECT record, body FROM notes WHERE path = 'notes/r.md'").fetchone()
        damaged = record.partition("\n")[0] + "\n" + '{"headings": [[1, "x"]]}'
        db.execute("UPDATE notes SET record = ?, checksum = ? WHERE path = 'notes/r.md'",
                   (damaged, checksum(damaged, body)))
    warm = _warm_note(root, "notes/r.md")
    with pytest.raises(KbError, match="cache"):
        _ = warm.headings


def test_corrupt_cache_falls_back_with_a_warning(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n"})
    kb.open_vault(root)
    (root / ".kb" / "cache.sqlite").write_bytes(b"this is not a database" * 100)
    result = run_kb("gaps", "--json", vault=root)
    assert result.exit_code == 0
    assert [g["id"] for g in result.json()["gaps"]] == ["a"]
    assert "cache" in result.stderr and "warning" in result.stderr
    assert kb.open_vault(root).vault.parsed == 0  # rebuilt: the next run uses it again
    assert run_kb("gaps", "--json", vault=root).stderr == ""


def test_unwritable_cache_file_still_answers(make_vault) -> None:
    """Works as root too: the cache path is a folder, so SQLite cannot open it."""
    root = make_vault({"notes/a.md": "---\ntype: concept\n---\n"})
    (root / ".kb" / "cache.sqlite").mkdir(parents=True)
    result = run_kb("gaps", "--json", vault=root)
    assert result.exit_code == 0 and result.json()["gaps"][0]["id"] == "a"
    assert "cache" in result.stderr


def test_no_cache_flag_neither_reads_nor_writes(make_vault) -> None:
    root = make_vault({"notes/a.md": "x\n"})
    assert run_kb("list", "--no-cache", "--json", vault=root).exit_code == 0
    assert not (root / ".kb").exists()
    assert run_kb("--no-cache", "list", "--json", vault=root).exit_code == 0
    assert not (root / ".kb").exists()


def test_two_processes_at_once_stay_correct(make_vault) -> None:
    import subprocess
    import sys

    root = make_vault({f"notes/n{i}.md": f"---\nprerequisites: [n{i + 1}]\n---\n[[n{i - 1}]]\n"
                       for i in range(300)})
    command = [sys.executable, "-m", "kb", "gaps", "--json", "--vault", str(root)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len({out for out, _ in outputs}) == 1
    assert run_kb("gaps", "--json", "--no-cache", vault=root).stdout == outputs[0][0]


NAMES = st.sampled_from(["a", "b", "c", "sub/d", "sub/a", "Émile", "القيم"])
TEXTS = st.sampled_from([
    "---\ntype: concept\n---\n# T\n",
    "---\nconcept: a\nsource: s\n---\n[[b]] [[c|see c]]\n",
    "---\ntype: practice\npractice: code\nconcept: [b, c]\nprerequisites: [a]\n---\n",
    "---\nprerequisites: [c]\ntags: [x]\n---\n![[a#h]]\n",
    "---\nbad: [\n---\n",
    "",
    "plain [[sub/a]] text\n",
])


class WarmEqualsCold(RuleBasedStateMachine):
    """Random edits, renames, deletions and config changes; every warm result equals cold."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="kb-cache-"))
        write_vault(self.root, {"notes/a.md": "---\ntype: concept\n---\n"})

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @rule(name=NAMES, text=TEXTS)
    def write(self, name: str, text: str) -> None:
        write_vault(self.root, {f"notes/{name}.md": text})

    @rule(name=NAMES, new=NAMES)
    def rename(self, name: str, new: str) -> None:
        source, target = self.root / f"notes/{name}.md", self.root / f"notes/{new}.md"
        if source.exists() and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)

    @rule(name=NAMES)
    def delete(self, name: str) -> None:
        (self.root / f"notes/{name}.md").unlink(missing_ok=True)

    @rule(config=st.sampled_from(["", 'notes = "notes"\n', 'notes = "notes/sub"\n',
                                  'articles = "notes/sub"\n', "broken = \n", "stalled_days = 0\n",
                                  'unknown = 1\ncitations = "quarto"\n']))
    def configure(self, config: str) -> None:
        (self.root / "kb.toml").write_text(config)

    @invariant()
    def warm_equals_cold(self) -> None:
        if (self.root / "notes").is_dir():
            assert snapshot(self.root, True) == snapshot(self.root, False)


TestWarmEqualsCold = WarmEqualsCold.TestCase
TestWarmEqualsCold.settings = settings(max_examples=25, stateful_step_count=12, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])


def test_parallel_parse_equals_serial(make_vault, monkeypatch) -> None:
    files = {f"notes/n{i}.md": f"---\nconcept: c{i % 7}\nprerequisites: [c{(i + 1) % 7}]\n"
                              f"when: 2026-01-0{1 + i % 9}\nseen: !!set {{a: null}}\n---\n"
                              f"# N{i}\n\n[[n{i + 1}]] and [x](n{i + 2}.md) `[[not]]`\n"
             for i in range(40)}
    files["notes/bad.md"] = "---\ntitle: [oops\n---\n"
    files["notes/binary.md"] = "\x00\x01"
    root = make_vault(files)
    serial = snapshot(root, use_cache=False)
    monkeypatch.setattr("kb.vault.load.PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr("kb.vault.load.MAX_CHUNK_FILES", 5)
    batches = []
    rebuild = kb.vault.load._notes_from_workers
    monkeypatch.setattr("kb.vault.load._notes_from_workers",
                        lambda items, sent: batches.append(len(items)) or rebuild(items, sent))
    assert snapshot(root, use_cache=False) == serial
    assert sum(batches) == 42 and len(batches) >= 9  # every note came back from a worker
    assert snapshot(root, use_cache=True) == serial  # parsed in workers, records stored
    assert kb.open_vault(root).vault.parsed == 0
    assert snapshot(root, use_cache=True) == serial


def test_work_is_split_by_bytes_largest_files_first() -> None:
    sizes = [2_000] * 300 + [900_000, 5_000, 800_000]
    chunks = kb.vault.load.byte_chunks(sizes, workers=2)
    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(sizes)))
    assert chunks[0] == [300] and chunks[1] == [302]  # each huge file alone, and first
    assert all(len(chunk) <= kb.vault.load.MAX_CHUNK_FILES for chunk in chunks)
    target = sum(sizes) // (2 * kb.vault.load.CHUNKS_PER_WORKER)
    assert all(sum(sizes[i] for i in chunk) >= target or len(chunk) == kb.vault.load.MAX_CHUNK_FILES
               for chunk in chunks[:-1])


def _run_on_terminal(argv: list[str], cwd: Path) -> tuple[str, str]:
    """Run a command with stdout and stderr on pseudo-terminals; return what each showed."""
    import pty

    out_parent, out_child = pty.openpty()
    err_parent, err_child = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "kb", *argv], cwd=cwd, stdout=out_child,
                            stderr=err_child, stdin=subprocess.DEVNULL)
    os.close(out_child)
    os.close(err_child)
    shown = {out_parent: b"", err_parent: b""}
    for fd in shown:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed its end
                break
            if not chunk:
                break
            shown[fd] += chunk
    proc.wait()
    return shown[out_parent].decode(), shown[err_parent].decode()


def _can_open_terminals() -> bool:
    try:
        parent, child = os.openpty()
    except (AttributeError, OSError):
        return False
    os.close(parent)
    os.close(child)
    return True


@pytest.mark.skipif(not _can_open_terminals(), reason="needs pseudo-terminals")
def test_progress_bar_only_on_a_terminal_and_never_with_json(make_vault) -> None:
    root = make_vault({f"notes/n{i:04d}.md": f"# N{i}\n\n[[n{i + 1:04d}]]\n" for i in range(2001)})
    _, stderr = _run_on_terminal(["check", "--no-cache"], root)
    assert "parsing notes" in stderr and "100%" in stderr
    stdout, stderr = _run_on_terminal(["check", "--no-cache", "--json"], root)
    assert "parsing notes" not in stderr and json.loads(stdout)["diagnostics"] != []
    piped = subprocess.run([sys.executable, "-m", "kb", "check", "--no-cache"], cwd=root,
                           capture_output=True, text=True)
    assert "parsing notes" not in piped.stderr and "2001 notes" in piped.stdout
