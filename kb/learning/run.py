"""kb run: execute the fenced code of practice notes and remember what passed.

The execution model (docs/run.md says it for users):

- A note's runnable blocks are its fences (from markdown-it's tokens, never a regex) whose
  language has a command: Python always (`python`, `py`, `python3`, Quarto's `{python}`),
  others through `[run.languages]` in kb.toml. `notest` in the fence's info, or a Quarto
  `#| eval: false` line, skips a block.
- One fresh process per note and language, its blocks in order in one interpreter (later
  blocks see earlier names, as in a notebook). The working folder is a new temporary folder,
  removed afterwards, and so is $TMPDIR. stdin is empty.
- Every child starts a session (process group) of its own, so that a timeout, Ctrl-C or a
  finished note kills everything it started, grandchildren included.
- Python blocks are compiled under the note's path with their own line numbers, so a
  traceback points into the note; other languages get a program file in which each block
  stands at its note line, so their own messages do too.
- Results are kept in `.kb/runs.json` by note path, content hash and interpreter: an
  unchanged note that passed is not run again.

Nothing here executes anything unless `kb run` calls run_practice; `kb show` and `kb gaps`
only read the results (run_states).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import platform
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from kb.errors import Diagnostic
from kb.notes.model import Note
from kb.vault.config import RunConfig

if TYPE_CHECKING:
    from kb.session import Session

RunStatus = Literal["passed", "failed", "timeout", "skipped"]
RUN_STATUSES: tuple[str, ...] = ("passed", "failed", "timeout", "skipped")
# What `kb show` and `kb gaps` say about a code practice: a run status, or that its last run
# was of different content, or that it never ran.
RunState = Literal["passed", "failed", "timeout", "skipped", "changed", "never-ran"]

PYTHON_NAMES = frozenset({"python", "py", "python3"})
SKIP_WORD = "notest"  # as pytest-markdown-docs reads it: ```python notest
RESULTS_FILE = Path(".kb") / "runs.json"
RESULTS_FORMAT = 1
RESULTS_MAX_BYTES = 64 << 20
OUTPUT_KEEP = 32 * 1024  # bytes kept from the start, and again from the end, of a note's output
READ_CHUNK = 65536
POLL_SECONDS = 0.1  # how often a child that has exited but left its pipe open is looked at


# -- blocks ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Block:
    """A fenced code block: its language (`python` for every Python alias), the 1-based line
    of its first code line, its code, and whether it is marked to skip."""

    language: str
    line: int
    code: str
    skip: bool = False


def fence_language(info: str) -> tuple[str, list[str]]:
    """A fence's info string → (language, the other words), for ```python notest,
    ```{python} (Quarto), ```{.python} (Pandoc) and ```py title="x"."""
    text = info.strip()
    if text.startswith("{"):
        text = text[1:].partition("}")[0]
    words = text.replace(",", " ").split()
    if not words:
        return "", []
    language = words[0].lstrip(".").lower()
    return ("python" if language in PYTHON_NAMES else language), [w.lower() for w in words[1:]]


def _eval_false(code: str) -> bool:
    """A Quarto cell option `#| eval: false` among the block's first lines."""
    for line in code.split("\n"):
        if not line.startswith("#|"):
            return False
        key, _, value = line[2:].partition(":")
        if key.strip() == "eval" and value.strip().lower() in ("false", "no"):
            return True
    return False


def note_text(data: bytes) -> str:
    """A note's text as the parser reads it (so block lines are file lines)."""
    text = data.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def code_blocks(text: str) -> list[Block]:
    """Every fenced block with a language, from markdown-it's tokens: fences inside lists,
    callouts or footnotes count; fences inside `%%comments%%` or HTML do not."""
    from kb.notes.markdown import make_parser

    blocks = []
    for token in make_parser().parse(text):
        if token.type != "fence" or token.map is None:
            continue
        language, words = fence_language(token.info)
        if language:
            skip = SKIP_WORD in words or _eval_false(token.content)
            blocks.append(Block(language, token.map[0] + 2, token.content, skip))
    return blocks


# -- settings and plans ---------------------------------------------------------------
@dataclass(frozen=True)
class RunSettings:
    """How to run: the default timeout, a command per language, and how many notes at once."""

    timeout: float = 30.0
    languages: Mapping[str, Sequence[str]] = field(default_factory=lambda: {"python": [sys.executable]})
    jobs: int = 1
    force: bool = False
    output_keep: int = OUTPUT_KEEP
    today: dt.date | None = None  # the day a run counts for (as a review); None: the clock's

    @classmethod
    def from_config(cls, config: RunConfig, *, timeout: float | None = None, jobs: int | None = None,
                    force: bool = False, today: dt.date | None = None) -> RunSettings:
        languages: dict[str, list[str]] = {"python": [sys.executable]}
        for name, command in config.languages.items():
            language, _ = fence_language(name)
            if language and command:
                languages[language] = list(command)
        return cls(timeout=timeout or config.timeout, languages=languages,
                   jobs=max(1, jobs or os.cpu_count() or 1), force=force, today=today)

    def interpreter(self, languages: Iterable[str]) -> str:
        """What a result depends on besides the note: each language's command, and for the
        Python kb runs on, its version."""
        parts = []
        for language in sorted(set(languages)):
            command = list(self.languages[language])
            if command == [sys.executable]:
                parts.append(f"{language}={platform.python_implementation()} "
                             f"{platform.python_version()} {sys.executable}")
            else:
                parts.append(f"{language}={' '.join(command)}")
        return ";".join(parts)


@dataclass
class RunResult:
    note: str  # the note's key
    path: str  # vault-relative
    status: RunStatus
    line: int | None = None  # where it failed, timed out or was skipped
    message: str = ""
    seconds: float = 0.0
    cached: bool = False  # not run: unchanged since it passed
    output: str = ""  # stdout and stderr, interleaved, cut to a size limit
    output_note: str | None = None  # the output was cut, or was not valid UTF-8

    def as_dict(self) -> dict[str, Any]:
        return {"note": self.note, "path": self.path, "status": self.status, "line": self.line,
                "message": self.message, "seconds": round(self.seconds, 3), "cached": self.cached,
                "output": self.output, "output_note": self.output_note}

    def diagnostic(self) -> Diagnostic | None:
        """A failure or timeout as a diagnostic at the note's line."""
        if self.status not in ("failed", "timeout"):
            return None
        code = "run-failed" if self.status == "failed" else "run-timeout"
        return Diagnostic(self.path, self.line or 0, "error", code, self.message)


@dataclass
class PlannedRun:
    """One note, read and split into what will run."""

    note: str
    path: str
    digest: str
    blocks: list[Block]  # the runnable ones, skipped ones left out
    requires: list[str]
    requires_line: int
    timeout: float
    interpreter: str
    lines: int  # the note's line count
    outcome: RunResult | None = None  # decided without running (unreadable, nothing to run)


def select_notes(kg: Any, targets: Sequence[str]) -> list[Note]:
    """Practice notes: all of them, or those the targets name — a note (id, path) or a
    concept (every practice note about it). Raises UnknownConceptError for a name that is
    neither."""
    from kb.graph.mastery import find_concept

    practice = [n for n in kg.notes.values() if n.type == "practice"]
    if not targets:
        return sorted(practice, key=lambda n: n.path)
    chosen: dict[int, Note] = {}
    by_path = {n.path: n for n in practice}
    for target in targets:
        direct = by_path.get(target.strip().replace("\\", "/").removeprefix("./"))
        if direct is None:
            found = kg.resolver.resolve(target)
            if found.kind == "note" and found.note is not None and found.note.type == "practice":
                direct = found.note
        if direct is not None:
            chosen[id(direct)] = direct
            continue
        concept = find_concept(kg, target)
        for note in concept.notes:
            if note.type == "practice":
                chosen[id(note)] = note
    return sorted(chosen.values(), key=lambda n: n.path)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def plan_note(root: Path, key: str, note: Note, settings: RunSettings) -> PlannedRun | None:
    """Read one practice note and decide what runs; None when it holds no code at all
    (and is not a `code` practice, which then says it has nothing to run)."""
    try:
        data = (root / note.path).read_bytes()
    except OSError as exc:
        plan = PlannedRun(key, note.path, "", [], [], 0, 0.0, "", 0)
        plan.outcome = RunResult(key, note.path, "failed", 0, f"cannot read the note: {exc.strerror}")
        return plan
    text = note_text(data)
    blocks = code_blocks(text)
    runnable = [b for b in blocks if b.language in settings.languages]
    active = [b for b in runnable if not b.skip]
    languages = {b.language for b in active} | ({"python"} if note.requires and active else set())
    plan = PlannedRun(key, note.path, _digest(data), active, list(note.requires),
                      note.line_of("requires"), note.timeout or settings.timeout,
                      settings.interpreter(languages), text.count("\n") + 1)
    if not runnable:
        if note.practice != "code":
            return None
        known = ", ".join(sorted(settings.languages))
        plan.outcome = RunResult(key, note.path, "skipped", note.line_of("practice"),
                                 f"no code block in a language kb runs ({known}; others: "
                                 "[run.languages] in kb.toml)")
    elif not active:
        plan.outcome = RunResult(key, note.path, "skipped", runnable[0].line - 1,
                                 f"every code block is marked {SKIP_WORD}")
    return plan


# -- output ---------------------------------------------------------------------------
class Capture:
    """A child's output, keeping the first and the last `keep` bytes of any amount."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.keep - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.keep:
                del self.tail[: len(self.tail) - self.keep]

    def text(self) -> tuple[str, str | None]:
        """The output as text, and what the reader should know about it (cut, not UTF-8)."""
        notes = []
        tail = bytes(self.tail[-self.keep:])
        cut = self.total - len(self.head) - len(tail)
        data = bytes(self.head) + (b"\n" if cut else b"") + tail
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", errors="replace")
            notes.append("the output is not valid UTF-8 (binary?): shown with U+FFFD in place of "
                         "bad bytes")
        if cut:
            marker = f"[… {cut:,} bytes of output cut …]"
            head = bytes(self.head).decode("utf-8", errors="replace")
            text = head + "\n" + marker + "\n" + tail.decode("utf-8", errors="replace")
            notes.insert(0, f"{self.total:,} bytes of output, cut to the first and last "
                            f"{self.keep // 1024} KiB")
        return text, "; ".join(notes) or None


# -- processes ------------------------------------------------------------------------
def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its session's process group)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - no process groups here
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the child has exited, without reaping it: until it is reaped its pid — the id
    of its process group — cannot go to another process, so killing the group stays safe."""
    if hasattr(os, "waitid"):
        try:
            return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
        except ChildProcessError:
            return True
    return proc.poll() is not None  # pragma: no cover - no waitid here


class Children:
    """The running children, so that one interrupt can kill them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()
        self.cancelled = False

    def add(self, proc: subprocess.Popen[bytes]) -> bool:
        with self._lock:
            if self.cancelled:
                _kill_group(proc)
                return False
            self._running.add(proc)
            return True

    def discard(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._running.discard(proc)

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            for proc in self._running:
                _kill_group(proc)


@dataclass
class _Exit:
    returncode: int | None
    timed_out: bool = False
    cannot_start: str | None = None


def _execute(argv: list[str], cwd: Path, env: dict[str, str], deadline: float, capture: Capture,
             children: Children) -> _Exit:
    """Run argv in a session of its own until it ends or the deadline passes; then kill
    whatever of its group is left, so that nothing it started outlives it."""
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
    except OSError as exc:
        return _Exit(None, cannot_start=f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    assert proc.stdout is not None
    timed_out = False
    try:
        if not children.add(proc):
            return _Exit(None)
        fd = proc.stdout.fileno()
        exited = False
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                if children.cancelled:
                    break
                if selector.select(min(remaining, POLL_SECONDS)):
                    chunk = os.read(fd, READ_CHUNK)
                    if not chunk:
                        break
                    capture.add(chunk)
                elif not exited and _has_exited(proc):
                    # It ended, but something it started still holds the pipe open.
                    exited = True
                    _kill_group(proc)
        while not timed_out and not children.cancelled and not _has_exited(proc):
            if time.monotonic() >= deadline:  # it closed its output but runs on
                timed_out = True
            time.sleep(0.01)
    finally:
        # Kill the group while the child is not yet reaped (see _has_exited), then reap it.
        children.discard(proc)
        _kill_group(proc)
        proc.wait()
        proc.stdout.close()
    return _Exit(proc.returncode, timed_out)


def _remove_tree(path: Path) -> None:
    """Remove a run's folder even where the note took away permissions."""
    def retry(function: Callable[..., Any], name: str, *_: Any) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(name), stat.S_IRWXU)
            os.chmod(name, stat.S_IRWXU)
            function(name)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:  # pragma: no cover - depends on the Python version
        shutil.rmtree(path, onerror=retry)


# What a Python child runs (its text, with -c): kb/learning/run_driver.py.
DRIVER_FILE = Path(__file__).with_name("run_driver.py")


def _child_env(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TMPDIR"] = str(folder / "tmp")
    env["PYTHONUNBUFFERED"] = "1"  # prints and a traceback interleave in the order they happen
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PYTHONIOENCODING", "utf-8")
    env.setdefault("MPLBACKEND", "Agg")  # a plot is drawn, never a window opened
    return env


def _steps(plan: PlannedRun) -> list[tuple[str, list[Block]]]:
    """(language, its blocks) in the order each language first appears; with `requires`, a
    Python step comes first (to check them) even when the note has no Python."""
    steps: dict[str, list[Block]] = {}
    for block in plan.blocks:
        steps.setdefault(block.language, []).append(block)
    ordered = list(steps.items())
    if plan.requires and (not ordered or ordered[0][0] != "python"):
        ordered.insert(0, ("python", []))  # checks `requires` only
    return ordered


def _program_line(output: str, program: str, blocks: list[Block]) -> int | None:
    """The last `program:LINE` / `program", line LINE` / `program: line LINE` in an
    interpreter's messages that falls inside one of the blocks."""
    found = None
    pattern = re.compile(re.escape(program) + r"""(?::|"?,? line |: line )(\d+)""")
    for match in pattern.finditer(output):
        line = int(match.group(1))
        if any(b.line <= line < b.line + b.code.count("\n") + 1 for b in blocks):
            found = line
    return found


def run_note(plan: PlannedRun, settings: RunSettings, children: Children) -> RunResult:
    """Run one planned note in a fresh temporary folder; never raises for what the note does."""
    if plan.outcome is not None:
        return plan.outcome
    started = time.monotonic()
    deadline = started + plan.timeout
    capture = Capture(settings.output_keep)
    folder = Path(tempfile.mkdtemp(prefix="kb-run-"))
    result = RunResult(plan.note, plan.path, "passed")
    try:
        work = folder / "work"
        work.mkdir()
        (folder / "tmp").mkdir()
        env = _child_env(folder)
        for language, blocks in _steps(plan):
            if children.cancelled:
                result.status, result.message = "failed", "interrupted"
                break
            command = list(settings.languages[language])
            if language == "python":
                step = _run_python(plan, blocks, command, folder, work, env, deadline, capture, children)
            else:
                step = _run_program(plan, language, blocks, command, folder, work, env, deadline,
                                    capture, children)
            result.status, result.line, result.message = step
            if result.status != "passed":
                break
    finally:
        _remove_tree(folder)
    result.seconds = time.monotonic() - started
    result.message = _one_line(result.message)
    result.output, result.output_note = capture.text()
    return result


Step = tuple[RunStatus, int | None, str]
MESSAGE_LIMIT = 500  # characters of a failure's message in its diagnostic; the output has all


def _one_line(message: str) -> str:
    """A message for a one-line diagnostic: whitespace runs (numpy's multi-line assertion
    messages) become one space."""
    text = " ".join(message.split())
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def _ended(outcome: _Exit, timeout: float, where: int | None, children: Children) -> Step | None:
    """The step's result when the process did not end on its own terms."""
    if outcome.cannot_start:
        return "failed", where, outcome.cannot_start
    if outcome.timed_out:
        return "timeout", where, f"timed out after {timeout:g} s (the note's `timeout:` or [run] timeout)"
    if children.cancelled:
        return "failed", where, "interrupted"
    return None


def _exit_reason(returncode: int | None) -> str:
    if returncode is not None and returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def _run_python(plan: PlannedRun, blocks: list[Block], command: list[str], folder: Path, work: Path,
                env: dict[str, str], deadline: float, capture: Capture, children: Children) -> Step:
    spec_file, result_file = folder / "spec.json", folder / "result.json"
    spec = {"path": plan.path, "requires": plan.requires, "requires_line": plan.requires_line,
            "lines": plan.lines, "blocks": [{"line": b.line, "code": b.code} for b in blocks]}
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    driver = DRIVER_FILE.read_text(encoding="utf-8")
    outcome = _execute([*command, "-c", driver, str(spec_file), str(result_file)], work, env,
                       deadline, capture, children)
    try:
        reported = json.loads(result_file.read_text(encoding="utf-8"))
        status, line, message = reported["status"], reported["line"], reported["message"]
    except (OSError, ValueError, KeyError, TypeError):
        status, line, message = "running", blocks[0].line if blocks else None, ""
    ended = _ended(outcome, plan.timeout, line, children)
    if ended is not None:
        return ended
    if status in ("passed", "skipped", "failed"):
        if status == "passed" and outcome.returncode != 0:
            return "failed", None, f"the code passed, then Python {_exit_reason(outcome.returncode)}"
        return status, line, message
    return "failed", line, f"Python {_exit_reason(outcome.returncode)} while running the block at line {line}"


def _run_program(plan: PlannedRun, language: str, blocks: list[Block], command: list[str],
                 folder: Path, work: Path, env: dict[str, str], deadline: float, capture: Capture,
                 children: Children) -> Step:
    name = "program." + (re.sub(r"[^A-Za-z0-9]+", "", language) or "txt")
    program = folder / name
    lines = [""] * plan.lines
    for block in blocks:
        for offset, text in enumerate(block.code.split("\n")):
            if block.line - 1 + offset < len(lines):
                lines[block.line - 1 + offset] = text
    program.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = [part.replace("{file}", str(program)) for part in command]
    if not any("{file}" in part for part in command):
        argv.append(str(program))
    outcome = _execute(argv, work, env, deadline, capture, children)
    ended = _ended(outcome, plan.timeout, blocks[0].line, children)
    if ended is not None:
        return ended
    if outcome.returncode == 0:
        return "passed", None, ""
    text, _ = capture.text()
    line = _program_line(text, name, blocks) or blocks[0].line
    last = next((ln.strip() for ln in reversed(text.splitlines()) if ln.strip()), "")
    message = f"{language} {_exit_reason(outcome.returncode)}" + (f": {last[:300]}" if last else "")
    return "failed", line, message


# -- the stored results ---------------------------------------------------------------
@dataclass(frozen=True)
class StoredRun:
    """What `kb show` and `kb gaps` say about one practice note's code."""

    state: RunState
    line: int | None = None
    message: str = ""
    ran: str | None = None  # when it last ran (ISO date and time)
    last_status: str | None = None  # for `changed`: how the previous content's run ended


@dataclass(frozen=True)
class RunReview:
    """A day's first run of a note, as a review for the memory model: a pass is `good`,
    a failure or timeout `again`."""

    path: str
    day: dt.date
    result: Literal["good", "again"]


class RunStore:
    """`.kb/runs.json`: the last result of each note by path, with the content hash and the
    interpreter it ran with, and each day's first outcome (for the memory model). Plain
    JSON; anything unreadable is treated as no results."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / RESULTS_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.changed: set[str] = set()
        self.problem: str | None = None

    @classmethod
    def load(cls, root: Path) -> RunStore:
        store = cls(root)
        store.entries, store.problem = store._read()
        return store

    def _read(self) -> tuple[dict[str, dict[str, Any]], str | None]:
        from kb.errors import KbError
        from kb.vault.paths import read_regular_file, state_file

        try:  # a vault's .kb/ is data too: inside the vault, a regular file, bounded
            path = state_file(self.root, RESULTS_FILE)
            data = json.loads(read_regular_file(str(path), RESULTS_MAX_BYTES))
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError, KbError) as exc:
            return {}, f"could not read {RESULTS_FILE.as_posix()} ({exc}); every note runs again"
        if not isinstance(data, dict) or data.get("format") != RESULTS_FORMAT:
            return {}, None
        notes = data.get("notes")
        if not isinstance(notes, dict):
            return {}, None
        return {k: v for k, v in notes.items() if isinstance(v, dict)}, None

    def cached(self, plan: PlannedRun) -> RunResult | None:
        """The stored pass of exactly this content with this interpreter, if there is one."""
        entry = self.entries.get(plan.path)
        if (entry is None or entry.get("status") != "passed" or entry.get("digest") != plan.digest
                or entry.get("interpreter") != plan.interpreter):
            return None
        seconds = entry.get("seconds")
        return RunResult(plan.note, plan.path, "passed", None, "",
                         float(seconds) if isinstance(seconds, int | float) else 0.0, cached=True)

    def record(self, plan: PlannedRun, result: RunResult, now: dt.datetime,
               day: dt.date | None = None) -> None:
        previous = self.entries.get(plan.path, {})
        days = previous.get("days") if isinstance(previous.get("days"), dict) else {}
        assert isinstance(days, dict)
        if result.status in ("passed", "failed", "timeout") and result.message != "interrupted":
            days.setdefault((day or now.date()).isoformat(), result.status)  # a day's first run counts
        self.entries[plan.path] = {
            "digest": plan.digest, "interpreter": plan.interpreter, "status": result.status,
            "line": result.line, "message": result.message, "seconds": round(result.seconds, 3),
            "ran": now.isoformat(timespec="seconds"), "days": days}
        self.changed.add(plan.path)

    def save(self, keep: set[str] | None = None) -> None:
        """Write what this run changed over what is on disk now (another kb run may have
        written meanwhile); `keep`, after a run of every note, drops notes no longer there."""
        from kb.vault.write import atomic_write

        if not self.changed and keep is None:
            return
        current, _ = self._read()
        current.update({path: self.entries[path] for path in self.changed})
        if keep is not None:
            current = {path: entry for path, entry in current.items() if path in keep}
        from kb.vault.paths import state_file

        text = json.dumps({"format": RESULTS_FORMAT, "notes": current}, ensure_ascii=False, indent=1,
                          sort_keys=True) + "\n"
        atomic_write(state_file(self.root, RESULTS_FILE), text)
        self.changed.clear()

    def state(self, root: Path, note: Note) -> StoredRun:
        entry = self.entries.get(note.path)
        if entry is None or entry.get("status") not in RUN_STATUSES:
            return StoredRun("never-ran")
        line = entry.get("line") if isinstance(entry.get("line"), int) else None
        message = str(entry.get("message") or "")
        ran = str(entry.get("ran")) if entry.get("ran") else None
        try:
            digest = _digest((root / note.path).read_bytes())
        except OSError:
            digest = None
        if digest != entry.get("digest"):
            return StoredRun("changed", line, message, ran, str(entry["status"]))
        return StoredRun(entry["status"], line, message, ran)


def run_states(root: Path, notes: Iterable[Note]) -> dict[str, StoredRun]:
    """For `kb show` and `kb gaps`: each note's code as the last `kb run` left it, by path.
    Reads only the results file and the notes that have a result; runs nothing."""
    store = RunStore.load(root)
    return {note.path: store.state(root, note) for note in notes}


def run_reviews(root: Path) -> list[RunReview]:
    """Each note's daily first run outcome as a review event, oldest first. For the memory
    model when `[run] counts_as_review = true` (the caller checks that setting)."""
    reviews = []
    for path, entry in RunStore.load(root).entries.items():
        days = entry.get("days")
        if not isinstance(days, dict):
            continue
        for day, status in days.items():
            try:
                date = dt.date.fromisoformat(day)
            except (TypeError, ValueError):
                continue
            if status in ("passed", "failed", "timeout"):
                reviews.append(RunReview(path, date, "good" if status == "passed" else "again"))
    reviews.sort(key=lambda r: (r.day, r.path))
    return reviews


# -- running many ---------------------------------------------------------------------
@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end kb run the way Ctrl-C does, killing the children first: they
    run in sessions of their own, so nothing else would stop them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, interrupt)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


Progress = Callable[[int, int], None]  # (notes run so far, notes to run)


def run_plans(plans: list[PlannedRun], settings: RunSettings, store: RunStore,
              progress: Progress | None = None, *, prune: set[str] | None = None) -> list[RunResult]:
    """Run every plan (in parallel, `settings.jobs` at once) unless the store holds its pass;
    record and save each result, also when interrupted (KeyboardInterrupt propagates after
    every child is dead). Results come back in the order of `plans`."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    results: dict[int, RunResult] = {}
    todo: list[int] = []
    for index, plan in enumerate(plans):
        cached = None if settings.force or plan.outcome is not None else store.cached(plan)
        if cached is not None:
            results[index] = cached
        else:
            todo.append(index)
    children = Children()
    done_count = 0
    if progress is not None and todo:
        progress(0, len(todo))
    try:
        with _terminate_as_interrupt(), ThreadPoolExecutor(max_workers=settings.jobs) as pool:
            futures = {pool.submit(run_note, plans[i], settings, children): i for i in todo}
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        index = futures[future]
                        result = future.result()
                        results[index] = result
                        if plans[index].outcome is None:
                            store.record(plans[index], result, dt.datetime.now().astimezone(),
                                         settings.today)
                        done_count += 1
                        if progress is not None:
                            progress(done_count, len(todo))
            except BaseException:
                children.cancel()
                for future in pending:
                    future.cancel()
                raise
    finally:
        with contextlib.suppress(OSError):
            store.save(prune if len(results) == len(plans) else None)
    return [results[i] for i in range(len(plans))]


def run_practice(session: Session, targets: Sequence[str], settings: RunSettings,
                 progress: Progress | None = None) -> tuple[list[RunResult], list[str]]:
    """`kb run`: plan and run the selected practice notes. Returns the results (by note path)
    and notices about kb's own state (an unreadable results file)."""
    kg, root = session.graph, session.root
    notes = select_notes(kg, targets)
    plans = [plan for plan in (plan_note(root, kg.key_of(n), n, settings) for n in notes)
             if plan is not None]
    store = RunStore.load(root)
    notices = [store.problem] if store.problem else []
    prune = {n.path for n in kg.notes.values() if n.type == "practice"} if not targets else None
    results = run_plans(plans, settings, store, progress, prune=prune)
    return results, notices
