"""The docs stay true: every command and option is documented, and the console examples in the
README and docs/ are what kb prints today on the sample vault (as of KB_TODAY=2026-11-24)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from kb.cli import main

from .conftest import REPO, copy_sample, run_kb

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TODAY = "2026-11-24"  # the day the examples were written on: what "today" means in them
# Commands that only read the vault: their examples are run and compared. Others (init, new,
# build, run, review done, graph --output) change files or need a browser or Python code run.
READ_ONLY = {"check", "gaps", "path", "show", "list", "graph", "review", "plan", "sources"}


def _commands(group: click.Group,
              prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found = []
    for name, command in sorted(group.commands.items()):
        found.append(((*prefix, name), command))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


COMMANDS = _commands(main)
DOC_TEXT = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def test_the_walk_finds_every_command() -> None:
    names = {" ".join(path) for path, _command in COMMANDS}
    assert {"check", "gaps", "path", "graph", "sources", "sources import", "review", "review done",
            "plan", "run", "build", "article", "new", "init"} <= names


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _c in COMMANDS])
def test_every_command_and_option_is_documented(path: tuple[str, ...], command: click.Command) -> None:
    assert command.help, f"kb {' '.join(path)} has no --help text"
    assert re.search(rf"\bkb {re.escape(' '.join(path))}\b", DOC_TEXT), f"kb {' '.join(path)}"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            names = [n for n in param.opts + param.secondary_opts if n.startswith("--")]
            assert any(re.search(rf"{re.escape(n)}\b", DOC_TEXT) for n in names), \
                f"kb {' '.join(path)} {names} is in no doc"


def _examples() -> list[tuple[str, int, str, str]]:
    """(doc, line, command, output) for each `$ ` line of a ```console block."""
    found = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").split("\n")
        index = 0
        while index < len(lines):
            if lines[index].strip() != "```console":
                index += 1
                continue
            index += 1
            while index < len(lines) and lines[index].strip() != "```":
                if lines[index].startswith("$ "):
                    start, command, output = index + 1, lines[index][2:], []
                    index += 1
                    while index < len(lines) and lines[index].strip() != "```" \
                            and not lines[index].startswith("$ "):
                        output.append(lines[index])
                        index += 1
                    found.append((str(doc.relative_to(REPO)), start, command, "\n".join(output)))
                else:
                    index += 1
            index += 1
    return found


def _runnable(command: str) -> bool:
    words = shlex.split(command.partition("#")[0])
    while words and "=" in words[0]:
        words.pop(0)
    return (len(words) > 1 and words[0] == "kb" and words[1] in READ_ONLY
            and not {"--output", "-o", "done", "import"} & set(words)
            and "html" not in words)


EXAMPLES = [e for e in _examples() if _runnable(e[2]) and e[3].strip()]  # shown with an output


def test_the_examples_cover_the_main_commands() -> None:
    shown = {shlex.split(command)[1] for _doc, _line, command, _out in EXAMPLES if command.startswith("kb ")}
    assert {"check", "gaps", "path", "show", "list", "graph"} <= shown


@pytest.mark.parametrize(("doc", "line", "command", "shown"), EXAMPLES,
                         ids=[f"{e[0]}:{e[1]}" for e in EXAMPLES])
def test_a_documented_example_is_what_kb_prints(doc: str, line: int, command: str, shown: str,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = copy_sample(tmp_path / "vault")
    pipeline = command.partition("#")[0].split("|")
    words = shlex.split(pipeline[0])
    env = {}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    monkeypatch.setenv("KB_TODAY", env.get("KB_TODAY", TODAY))
    result = run_kb(*words[1:], vault=vault)
    assert result.exit_code == 0, result.stderr
    out = result.stdout.rstrip("\n").split("\n")
    for stage in pipeline[1:]:
        head = re.fullmatch(r"\s*head -(\d+)\s*", stage)
        sed = re.fullmatch(r"\s*sed -n (\d+),(\d+)p\s*", stage)
        if head:
            out = out[: int(head.group(1))]
        elif sed:
            out = out[int(sed.group(1)) - 1 : int(sed.group(2))]
        else:
            pytest.fail(f"{doc}:{line}: the test cannot run '{stage.strip()}'")
    expected = shown.rstrip("\n").split("\n")
    if any(shown_line.strip() == "..." for shown_line in expected):  # lines left out on purpose
        kept = [shown_line for shown_line in expected if shown_line.strip() != "..."]
        assert _in_order(kept, out), f"{doc}:{line}: {command}"
    else:
        assert out == expected, f"{doc}:{line}: {command}"


def _in_order(shown: list[str], printed: list[str]) -> bool:
    """Each shown line is printed, in this order; a line ending in `...` is cut short."""
    position = 0
    for line in shown:
        cut = line.endswith("...")
        while position < len(printed) and not (
                printed[position].startswith(line[:-3]) if cut else printed[position] == line):
            position += 1
        if position == len(printed):
            return False
        position += 1
    return True
