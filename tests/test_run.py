"""kb run: the code of practice notes runs in a fresh process per note, failures point at the
note's line, timeouts and interrupts leave no process behind, and results are remembered."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kb.learning.run import Block, code_blocks, fence_language, run_reviews

from .conftest import copy_sample, run_kb, write_vault


def practice(body: str, **fields: str) -> str:
    lines = ["---", "type: practice", "practice: code", "concept: c"]
    lines += [f"{key}: {value}" for key, value in fields.items()]
    return "\n".join([*lines, "---", body])


def vault(tmp_path: Path, notes: dict[str, str], toml: str = "") -> Path:
    files: dict[str, str | bytes] = {f"notes/{name}.md": text for name, text in notes.items()}
    files["notes/c.md"] = "---\ntype: concept\n---\n# C\n"
    files["kb.toml"] = toml
    return write_vault(tmp_path / "vault", files)


def runs(root: Path, *args: str) -> tuple[int, dict[str, dict]]:
    result = run_kb("run", "--json", *args, vault=root)
    return result.exit_code, {r["note"]: r for r in result.json()["runs"]}


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the first line containing needle."""
    return next(i for i, line in enumerate(text.split("\n"), 1) if needle in line)


def gone(pid: int) -> bool:
    """True once the process no longer exists (or is a zombie waiting for init)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return True
    return state == "Z"


def wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


# -- which blocks run ------------------------------------------------------------------
@pytest.mark.parametrize(("info", "language", "words"), [
    ("python", "python", []),
    ("py", "python", []),
    ("python3 notest", "python", ["notest"]),
    ("{python}", "python", []),
    ("{.python}", "python", []),
    ("Python title=\"x.py\"", "python", ['title="x.py"']),
    ("bash", "bash", []),
    ("", "", []),
])
def test_fence_language(info: str, language: str, words: list[str]) -> None:
    assert fence_language(info) == (language, words)


def test_code_blocks_come_from_tokens_with_their_file_lines() -> None:
    text = "\n".join([
        "---", "type: practice", "---",            # 1-3
        "```python", "a = 1", "```",               # 4-6: code on line 5
        "- item", "", "  ```python", "  b = a + 1", "  ```",  # 7-11: in a list, code on line 10
        "> ```python", "> c = 3", "> ```",          # 12-14: in a callout, code on line 13
        "%%", "```python", "hidden = 1", "```", "%%",  # 15-19: commented out
        "```python notest", "boom()", "```",        # 20-22: skipped
        "```{python}", "#| eval: false", "boom()", "```",  # 23-26: Quarto's eval: false
        "    indented = 1",                          # indented code has no language
        "Text with `inline = 1` code.",
    ])
    blocks = code_blocks(text)
    assert blocks == [
        Block("python", 5, "a = 1\n"),
        Block("python", 10, "b = a + 1\n"),
        Block("python", 13, "c = 3\n"),
        Block("python", 21, "boom()\n", skip=True),
        Block("python", 24, "#| eval: false\nboom()\n", skip=True),
    ]


# -- passing, failing, line mapping ------------------------------------------------------
def test_blocks_share_one_interpreter_and_pass(tmp_path: Path) -> None:
    root = vault(tmp_path, {"p": practice("```python\nx = 40\n```\nThen:\n```py\nassert x + 2 == 42\n```\n")})
    code, found = runs(root)
    assert code == 0
    assert found["p"]["status"] == "passed" and found["p"]["cached"] is False
    assert set(found["p"]) >= {"note", "path", "status", "line", "message", "seconds"}
    assert found["p"]["path"] == "notes/p.md"


def test_the_blocks_run_as_the_main_module(tmp_path: Path) -> None:
    body = ("```python\nfrom __future__ import annotations\nimport dataclasses, pickle, sys\n\n"
            "@dataclasses.dataclass\nclass Point:\n    x: int\n```\n\n"
            "```python\nassert pickle.loads(pickle.dumps(Point(3))) == Point(3)\n"
            "assert sys.modules['__main__'].Point is Point and __name__ == '__main__'\n```\n")
    code, found = runs(vault(tmp_path, {"p": practice(body)}))
    assert code == 0, found["p"]["output"]


def test_a_failing_assertion_is_reported_at_its_line_in_the_note(tmp_path: Path) -> None:
    body = ("Setup:\n\n```python\ndef mean(xs):\n    return sum(xs) / len(xs)\n```\n\n"
            "Check:\n\n```python\nvalues = [1, 2, 3]\nassert mean(values) == 3\nprint('never')\n```\n")
    text = practice(body)
    root = vault(tmp_path, {"p": text})
    result = run_kb("run", vault=root)
    line = line_of(text, "assert mean(values) == 3")
    assert result.exit_code == 1
    assert f"notes/p.md:{line}: error: AssertionError: assert mean(values) == 3 [run-failed]" in result.stderr
    assert "never" not in result.stderr
    code, found = runs(root)
    assert code == 1 and found["p"]["status"] == "failed" and found["p"]["line"] == line


def test_an_error_inside_a_function_points_at_the_function_line(tmp_path: Path) -> None:
    body = "```python\ndef f(x):\n    return 1 / x\n```\n\n```python\nf(0)\n```\n"
    text = practice(body)
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1
    assert found["p"]["line"] == line_of(text, "return 1 / x")
    assert found["p"]["message"] == "ZeroDivisionError: division by zero"
    assert 'File "notes/p.md", line' in found["p"]["output"] and "return 1 / x" in found["p"]["output"]


def test_a_syntax_error_is_reported_at_its_line(tmp_path: Path) -> None:
    text = practice("```python\nok = 1\n```\n\n```python\nx = 1\ny = (2 +\n```\n")
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1 and found["p"]["status"] == "failed"
    assert found["p"]["message"].startswith("SyntaxError")
    assert found["p"]["line"] == line_of(text, "y = (2 +")


def test_sys_exit_zero_passes_and_nonzero_fails(tmp_path: Path) -> None:
    root = vault(tmp_path, {
        "zero": practice("```python\nimport sys\nsys.exit(0)\n```\n```python\nassert False\n```\n"),
        "one": practice("```python\nimport sys\nsys.exit(3)\n```\n")})
    code, found = runs(root)
    assert code == 1
    assert found["zero"]["status"] == "passed"
    assert found["one"]["status"] == "failed" and "SystemExit: 3" in found["one"]["message"]


def test_a_crash_is_placed_at_the_block_that_was_running(tmp_path: Path) -> None:
    text = practice("```python\nx = 1\n```\n\n```python\nimport os\nos._exit(7)\n```\n")
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1
    assert "exited with status 7" in found["p"]["message"]
    assert found["p"]["line"] == line_of(text, "import os")


# -- skipping ---------------------------------------------------------------------------
def test_notest_blocks_are_skipped(tmp_path: Path) -> None:
    root = vault(tmp_path, {
        "some": practice("```python\nx = 1\n```\n```python notest\nassert False\n```\n"),
        "all": practice("```python notest\nassert False\n```\n"),
        "prose": practice("Solved on paper; no code.\n```text\nnot code\n```\n")})
    code, found = runs(root)
    assert code == 0
    assert found["some"]["status"] == "passed"
    assert found["all"]["status"] == "skipped" and "notest" in found["all"]["message"]
    assert found["prose"]["status"] == "skipped" and "no code block" in found["prose"]["message"]


def test_exercise_notes_without_code_are_not_listed(tmp_path: Path) -> None:
    root = vault(tmp_path, {"e": "---\ntype: practice\npractice: exercise\nconcept: c\n---\n$1+1=2$\n"})
    result = run_kb("run", "--json", vault=root)
    assert result.exit_code == 0 and result.json() == {"runs": []}


def test_a_missing_required_module_skips_the_note_with_the_reason(tmp_path: Path) -> None:
    text = practice("```python\nimport kb_no_such_module\n```\n", requires="[json, kb_no_such_module]")
    root = vault(tmp_path, {"p": text, "ok": practice("```python\nimport json\n```\n", requires="[json]")})
    code, found = runs(root)
    assert code == 0
    assert found["p"]["status"] == "skipped"
    assert "requires kb_no_such_module, which is not installed" in found["p"]["message"]
    assert found["p"]["line"] == line_of(text, "requires:")
    assert found["ok"]["status"] == "passed"
    text_run = run_kb("run", vault=root)
    assert "skipped" in text_run.stdout and "kb_no_such_module" in text_run.stdout


# -- timeouts, output, processes ---------------------------------------------------------
def test_a_timeout_never_hangs_kb(tmp_path: Path) -> None:
    text = practice("```python\nx = 1\n```\n\n```python\nwhile True:\n    pass\n```\n", timeout="0.5")
    started = time.monotonic()
    code, found = runs(vault(tmp_path, {"p": text}), "--timeout", "60")
    assert time.monotonic() - started < 10
    assert code == 1
    assert found["p"]["status"] == "timeout"
    assert found["p"]["line"] == line_of(text, "while True:")
    assert "timed out after 0.5 s" in found["p"]["message"]


def test_the_timeout_option_replaces_the_default(tmp_path: Path) -> None:
    root = vault(tmp_path, {"p": practice("```python\nimport time\ntime.sleep(30)\n```\n")},
                 toml="[run]\ntimeout = 60\n")
    started = time.monotonic()
    code, found = runs(root, "--timeout", "0.5")
    assert code == 1 and found["p"]["status"] == "timeout"
    assert time.monotonic() - started < 10


def test_a_note_that_closes_its_output_still_times_out(tmp_path: Path) -> None:
    text = practice("```python\nimport os, time\nos.close(1)\nos.close(2)\ntime.sleep(60)\n```\n",
                    timeout="0.5")
    started = time.monotonic()
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1 and found["p"]["status"] == "timeout"
    assert time.monotonic() - started < 10


def test_endless_output_is_cut_and_the_note_times_out(tmp_path: Path) -> None:
    text = practice("```python\nwhile True:\n    print('x' * 999)\n```\n", timeout="1")
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1 and found["p"]["status"] == "timeout"
    assert "bytes of output, cut" in found["p"]["output_note"]
    assert 60_000 < len(found["p"]["output"]) < 70_000
    assert found["p"]["output"].startswith("x" * 999)


def test_binary_output_is_reported_not_a_crash(tmp_path: Path) -> None:
    text = practice("```python\nimport sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00abc\\n')\n```\n")
    root = vault(tmp_path, {"p": text})
    code, found = runs(root)
    assert code == 0 and found["p"]["status"] == "passed"
    assert "not valid UTF-8" in found["p"]["output_note"]
    assert "\ufffd" in found["p"]["output"] and "abc" in found["p"]["output"]
    assert "not valid UTF-8" in run_kb("run", "--force", vault=root).stderr


SPAWN = """```python
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print("grandchild", child.pid, flush=True)
```
"""


def test_a_timeout_kills_what_the_note_started(tmp_path: Path) -> None:
    text = practice(SPAWN + "```python\nimport time\ntime.sleep(120)\n```\n", timeout="1.5")
    code, found = runs(vault(tmp_path, {"p": text}))
    assert code == 1 and found["p"]["status"] == "timeout"
    pid = int(found["p"]["output"].split("grandchild ")[1].split()[0])
    assert wait_gone(pid)


def test_a_passing_note_leaves_no_process_behind(tmp_path: Path) -> None:
    code, found = runs(vault(tmp_path, {"p": practice(SPAWN)}))
    assert code == 0 and found["p"]["status"] == "passed"
    assert wait_gone(int(found["p"]["output"].split("grandchild ")[1].split()[0]))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_stops_every_child(tmp_path: Path, signum: int) -> None:
    pids = tmp_path / "pids"
    body = SPAWN.replace('print("grandchild", child.pid, flush=True)',
                         f'import os\nopen({str(pids)!r}, "a").write(f"{{os.getpid()}} {{child.pid}}\\n")')
    root = vault(tmp_path, {f"p{i}": practice(body + "```python\nimport time\ntime.sleep(120)\n```\n")
                            for i in range(2)})
    kb_run = subprocess.Popen([sys.executable, "-m", "kb", "run", "--jobs", "2", "--vault", str(root)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not pids.exists() or len(pids.read_text().split()) < 4):
        time.sleep(0.05)
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 4
    kb_run.send_signal(signum)
    _out, err = kb_run.communicate(timeout=20)
    assert kb_run.returncode == 130
    assert b"interrupted" in err
    assert all(wait_gone(pid) for pid in started)


# -- isolation ---------------------------------------------------------------------------
def test_a_note_that_moves_and_writes_files_changes_nothing_outside_its_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    body = """```python
import os, tempfile
open("out.txt", "w").write("x")
os.makedirs("sub/deeper")
os.chdir("sub")
open("moved.txt", "w").write("y")
os.chdir("..")
open(os.path.join(tempfile.gettempdir(), "tmp.txt"), "w").write("z")
os.chmod("sub/deeper", 0)
print("cwd", os.getcwd())
```
"""
    root = vault(tmp_path, {"p": practice(body)})

    def snapshot() -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
                if p.is_file() and ".kb" not in p.parts}

    before = snapshot()
    code, found = runs(root)
    assert code == 0, found["p"]["output"]
    assert snapshot() == before
    assert f"cwd {scratch}" in found["p"]["output"]
    assert list(scratch.iterdir()) == []  # the run's folder, with all it wrote, is gone


def test_no_other_command_runs_vault_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = practice(f"```python\nopen({str(marker)!r}, 'w').write('ran')\n```\n")
    root = vault(tmp_path, {"p": text})
    for command in (["check"], ["gaps", "--level", "code"], ["show", "c"], ["list"], ["path", "c"],
                    ["graph"], ["article", "c", "--stdout"], ["build"]):
        run_kb(*command, vault=root)
        assert not marker.exists(), command
    assert run_kb("run", vault=root).exit_code == 0
    assert marker.exists()


# -- remembering -------------------------------------------------------------------------
def test_an_unchanged_passing_note_is_not_run_again(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    counting = f"```python\nopen({str(counter)!r}, 'a').write('.')\n```\n"
    failing = f"```python\nopen({str(counter)!r}, 'a').write('.')\nassert False\n```\n"
    root = vault(tmp_path, {"p": practice(counting), "f": practice(failing)})
    first = runs(root)[1]
    assert first["p"]["status"] == "passed" and first["f"]["status"] == "failed"
    assert counter.read_text() == ".."
    second = runs(root)[1]
    assert second["p"]["cached"] is True and second["p"]["status"] == "passed"
    assert second["f"]["cached"] is False  # a failure is always run again
    assert counter.read_text() == "..."
    runs(root, "--force")
    assert counter.read_text() == "....."
    note = root / "notes/p.md"
    note.write_text(note.read_text() + "\nAn edit.\n")
    assert runs(root, "p")[1]["p"]["cached"] is False
    assert counter.read_text() == "......"
    stored = json.loads((root / ".kb/runs.json").read_text())["notes"]
    assert stored["notes/p.md"]["status"] == "passed" and stored["notes/f.md"]["status"] == "failed"


def test_an_unreadable_results_file_means_running_again(tmp_path: Path) -> None:
    root = vault(tmp_path, {"p": practice("```python\nx = 1\n```\n")})
    runs(root)
    (root / ".kb/runs.json").write_text("{not json")
    result = run_kb("run", "--json", vault=root)
    assert result.exit_code == 0 and result.json()["runs"][0]["cached"] is False
    assert "could not read .kb/runs.json" in result.stderr
    assert runs(root)[1]["p"]["cached"] is True


def test_targets_pick_notes_or_concepts(tmp_path: Path) -> None:
    root = vault(tmp_path, {
        "a": practice("```python\nx = 1\n```\n"),
        "b": practice("```python\nx = 2\n```\n").replace("concept: c", "concept: d"),
        "d": "---\ntype: concept\n---\n"})
    assert set(runs(root, "c")[1]) == {"a"}
    assert set(runs(root, "b")[1]) == {"b"}
    assert set(runs(root, "notes/a.md")[1]) == {"a"}
    assert set(runs(root)[1]) == {"a", "b"}
    missing = run_kb("run", "nothing-like-it", vault=root)
    assert missing.exit_code == 2 and "no concept or note named" in missing.stderr


def test_show_and_gaps_say_how_each_code_practice_last_ran(tmp_path: Path) -> None:
    text = practice("```python\nassert 1 + 1 == 3\n```\n")
    root = vault(tmp_path, {"p": text, "q": practice("```python\nx = 1\n```\n")})

    def shown() -> dict[str, dict]:
        notes = run_kb("show", "c", "--json", vault=root).json()["notes"]
        return {n["id"]: n["run"] for n in notes if n["run"] is not None}

    assert {k: v["status"] for k, v in shown().items()} == {"p": "never-ran", "q": "never-ran"}
    run_kb("run", vault=root)
    states = shown()
    line = line_of(text, "assert 1 + 1 == 3")
    assert states["p"]["status"] == "failed" and states["p"]["line"] == line
    assert states["q"]["status"] == "passed"
    human = run_kb("show", "c", vault=root).stdout
    assert f"notes/p.md:{line}: failed: AssertionError" in human
    gaps = run_kb("gaps", "--level", "code", "--json", vault=root).json()["code_runs"]
    assert {g["note"]: g["status"] for g in gaps} == {"p": "failed", "q": "passed"}
    assert f"failed at notes/p.md:{line}" in run_kb("gaps", "--level", "code", vault=root).stdout
    (root / "notes/q.md").write_text(practice("```python\nx = 2\n```\n"))
    assert shown()["q"]["status"] == "changed" and shown()["q"]["last_status"] == "passed"


def test_passes_and_failures_are_review_events_once_a_day(tmp_path: Path) -> None:
    root = vault(tmp_path, {"p": practice("```python\nx = 1\n```\n"),
                            "f": practice("```python\nassert False\n```\n")})
    runs(root)
    runs(root, "--force")
    reviews = run_reviews(root)
    assert sorted((r.path, r.result) for r in reviews) == [("notes/f.md", "again"), ("notes/p.md", "good")]


def test_with_counts_as_review_a_days_run_is_a_review_of_the_notes_concepts(tmp_path: Path,
                                                                            monkeypatch) -> None:
    """Issue 16: `[run] counts_as_review = true` makes a pass a `good` review and a failure an
    `again`; off (the default), running code leaves the memory model alone. A run counts for
    today as $KB_TODAY fixes it, as every other command's today."""
    today = "2026-11-24"
    monkeypatch.setenv("KB_TODAY", today)
    root = vault(tmp_path, {"p": practice("```python\nx = 1\n```\n", date="2020-01-06")})
    runs(root)

    def memory() -> dict:
        return run_kb("show", "c", "--json", vault=root).json()["memory"]

    before = memory()
    assert before["reviews"] == 1 and before["last_practice"] == "2020-01-06"
    (root / "kb.toml").write_text("[run]\ncounts_as_review = true\n")
    after = memory()
    assert after["reviews"] == 2 and after["last_practice"] == today
    assert after["stability"] > before["stability"]
    # a failing run is an `again`: lower stability than the pass gave
    (root / "notes/p.md").write_text(practice("```python\nassert False\n```\n", date="2020-01-06"))
    (root / ".kb" / "runs.json").unlink()
    runs(root)
    failed = memory()
    assert failed["reviews"] == 2 and failed["stability"] < after["stability"]


# -- other languages ---------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_other_languages_run_through_the_command_in_kb_toml(tmp_path: Path) -> None:
    text = practice("```bash\necho hello\n```\n\n```bash\nset -e\nno_such_command_kb\n```\n")
    root = vault(tmp_path, {"p": text, "q": practice("```bash\ntest 2 -gt 1\n```\n")},
                 toml='[run]\nlanguages = { bash = ["bash"] }\n')
    code, found = runs(root)
    assert code == 1
    assert found["q"]["status"] == "passed"
    assert found["p"]["status"] == "failed"
    assert found["p"]["line"] == line_of(text, "no_such_command_kb")
    assert "hello" in found["p"]["output"]
    without = vault(tmp_path / "plain", {"p": text})
    assert runs(without)[1]["p"]["status"] == "skipped"  # bash is not run unless configured


def test_a_bad_run_table_is_a_config_error(tmp_path: Path) -> None:
    root = vault(tmp_path, {"p": practice("```python\nx = 1\n```\n")},
                 toml="[run]\ntimeout = -1\nlangauges = {}\n")
    result = run_kb("check", vault=root)
    assert "kb.toml:2: error: 'run.timeout'" in result.stderr
    assert "kb.toml:3: error: 'run.langauges': unknown key" in result.stderr


# -- the sample vault ----------------------------------------------------------------------
def test_the_sample_vaults_practice_code_passes(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "sample")
    result = run_kb("run", "--json", vault=root)
    assert result.exit_code == 0, result.stderr
    found = {r["note"]: r for r in result.json()["runs"]}
    for note in ("pca-from-scratch-numpy", "vectors-numpy", "gradient-descent-numpy"):
        assert found[note]["status"] == "passed", found[note]["output"]
    lora = found["lora-low-rank-update-pytorch"]
    if importlib.util.find_spec("torch") is None:
        assert lora["status"] == "skipped" and "requires torch" in lora["message"]
    else:  # pragma: no cover - depends on the machine
        assert lora["status"] == "passed"
    again = run_kb("run", "--json", vault=root).json()["runs"]
    assert all(r["cached"] for r in again if r["status"] == "passed")


def test_the_progress_bar_never_shows_off_a_terminal(tmp_path: Path) -> None:
    root = vault(tmp_path, {f"p{i}": practice("```python\nx = 1\n```\n") for i in range(3)})
    result = run_kb("run", vault=root)
    assert "running notes" not in result.stderr
    assert "3 practice notes: 3 passed" in result.stdout
    assert os.path.exists(root / ".kb/runs.json")


def test_python_can_run_through_a_configured_command(tmp_path: Path) -> None:
    command = json.dumps([sys.executable, "-X", "kb_test_option"])
    text = practice("```python\nimport sys\nassert 'kb_test_option' in sys._xoptions\n```\n")
    root = vault(tmp_path, {"p": text}, toml=f"[run]\nlanguages = {{ python = {command} }}\n")
    assert runs(root)[1]["p"]["status"] == "passed"
    assert runs(vault(tmp_path / "plain", {"p": text}))[1]["p"]["status"] == "failed"
    stored = json.loads((root / ".kb/runs.json").read_text())["notes"]["notes/p.md"]
    assert stored["interpreter"] == f"python={sys.executable} -X kb_test_option"


def test_a_practice_notes_own_rating_wins_over_another_notes_run_that_day(tmp_path: Path,
                                                                         monkeypatch) -> None:
    """Runs count after the notes' own reviews whatever the paths; a run recorded for a day
    after today is a warning in `kb check`, not a review."""
    monkeypatch.setenv("KB_TODAY", "2026-11-20")
    root = vault(tmp_path, {
        "a-code": practice("```python\nprint(1)\n```\n", date="2026-11-01"),
        "b-review": "---\ntype: practice\npractice: exercise\nconcept: c\ndate: 2026-11-20\n"
                    "result: again\n---\nforgot it\n"},
        toml="[run]\ncounts_as_review = true\n")
    runs(root)
    monkeypatch.setenv("KB_TODAY", "2026-11-25")
    shown = run_kb("show", "c", "--json", vault=root).json()["memory"]
    (root / "kb.toml").write_text("")
    without_runs = run_kb("show", "c", "--json", vault=root).json()["memory"]
    # a-code's run on 11-20 would be a `good`: the note's `again` is the one that counts
    assert shown["stability"] == without_runs["stability"]
    (root / "kb.toml").write_text("[run]\ncounts_as_review = true\n")
    monkeypatch.setenv("KB_TODAY", "2027-01-10")
    runs(root, "--force")
    monkeypatch.setenv("KB_TODAY", "2026-11-25")
    checked = run_kb("check", "--json", vault=root).json()["diagnostics"]
    assert [(d["path"], d["code"]) for d in checked if d["code"] == "review-future"] == [
        ("notes/a-code.md", "review-future")]
