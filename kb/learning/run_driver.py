"""The program a Python child of `kb run` executes (its text is passed with `python -c`).

It runs in the note's interpreter, which need not have kb installed: the standard library
only. Arguments: the spec file (the note's path, `requires`, line count and blocks, as JSON)
and the result file to write. It checks `requires`, then compiles each block under the note's
path, padded so that its line numbers are the note's, and runs the blocks in order in one
`__main__` namespace. Before each block it writes where it is, so a crash or a timeout can be
placed at that block; at the end it writes the outcome: passed, failed (line, message) or
skipped (a missing module). Written to run on older Pythons too (3.8 and up), for a
`[run.languages] python` command that names one.
"""

from __future__ import annotations

import importlib.util
import json
import linecache
import sys
import traceback
import types


def report(status: str, line: int | None, message: str) -> None:
    with open(RESULT_FILE, "w", encoding="utf-8") as handle:
        json.dump({"status": status, "line": line, "message": message}, handle)


def missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None  # finds, imports nothing but parents
    except (ImportError, ValueError):
        return True


def failure(exc: BaseException, fallback: int, path: str, lines: list[str]) -> tuple[int, str]:
    """The innermost line in the note where exc passed, and a one-line message."""
    line = fallback
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == path and frame.lineno is not None:
            line = frame.lineno
    try:
        text = str(exc)
    except Exception:
        text = "(its message could not be printed)"
    if isinstance(exc, AssertionError) and not text:
        text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return line, type(exc).__name__ + (": " + text if text else "")


def main(spec: dict) -> int:
    path = spec["path"]
    sys.argv[:] = [path]
    absent = [name for name in spec["requires"] if missing(name)]
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        report("skipped", spec["requires_line"],
               f"requires {', '.join(absent)}, which {verb} not installed for {sys.executable}")
        return 0
    # The note's code as a file linecache knows, so tracebacks show its lines.
    lines = [""] * spec["lines"]
    for block in spec["blocks"]:
        for offset, text in enumerate(block["code"].split("\n")):
            if block["line"] - 1 + offset < len(lines):
                lines[block["line"] - 1 + offset] = text
    source = [text + "\n" for text in lines]
    linecache.cache[path] = (sum(map(len, source)), None, source, path)

    # A real `__main__` module, so that what the note defines can be found by name (pickle,
    # dataclasses, typing.get_type_hints) as in a script.
    module = types.ModuleType("__main__")
    module.__builtins__ = __builtins__  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    namespace = module.__dict__
    for block in spec["blocks"]:
        report("running", block["line"], "")
        try:
            code = compile("\n" * (block["line"] - 1) + block["code"], path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            traceback.print_exception(type(exc), exc, None)
            report("failed", exc.lineno or block["line"], "SyntaxError: " + str(exc.msg))
            return 1
        try:
            exec(code, namespace)
        except SystemExit as exc:
            if exc.code is None or exc.code == 0:
                break
            line, _ = failure(exc, block["line"], path, lines)
            report("failed", line, f"SystemExit: {exc.code} (sys.exit with a failure status)")
            return 1
        except BaseException as exc:
            sys.stdout.flush()
            tb = exc.__traceback__.tb_next if exc.__traceback__ else None  # not this frame
            traceback.print_exception(type(exc), exc, tb)
            line, message = failure(exc, block["line"], path, lines)
            report("failed", line, message)
            return 1
    sys.stdout.flush()
    report("passed", None, "")
    return 0


if __name__ == "__main__":
    RESULT_FILE = sys.argv[2]
    with open(sys.argv[1], encoding="utf-8") as spec_handle:
        sys.exit(main(json.load(spec_handle)))
