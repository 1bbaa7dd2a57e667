"""The docs stay true: every command and option is documented, the console examples in the
README and docs/ are what kb prints today on the sample vault (as of KB_TODAY=2026-11-24),
every page of docs/ is in the site's nav and every relative link reaches a file and heading."""

from __future__ import annotations

import re
import shlex
import unicodedata
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from kb.cli import main

from .conftest import REPO, copy_sample

DOCS = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
TODAY = "2026-11-24"  # the day the examples were written on: what "today" means in them
# Every `$ kb …` line of a ```console block is run, each on its own copy of the sample vault and
# from its root (so commands that write, such as `kb new` or `kb build`, write there), and what
# it prints on the terminal is compared. These cannot be: `kb init` makes a folder elsewhere,
# `kb run` prints timings, `kb sources import` needs a BibTeX file; their examples are ```text.
NOT_RUN = {"init", "run", "import"}


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


def _words(command: str) -> list[str]:
    """The command line's words, environment assignments (`KB_TODAY=…`) left out."""
    words = shlex.split(command.partition("#")[0].partition("|")[0])
    while words and "=" in words[0]:
        words.pop(0)
    return words


EXAMPLES = _examples()


def test_the_examples_cover_the_main_commands() -> None:
    shown = {_words(command)[1] for _doc, _line, command, _out in EXAMPLES}
    assert {"check", "gaps", "path", "show", "list", "graph", "review", "plan", "sources", "new",
            "build"} <= shown


@pytest.mark.parametrize(("doc", "line", "command", "shown"), EXAMPLES,
                         ids=[f"{e[0]}:{e[1]}" for e in EXAMPLES])
def test_a_documented_example_is_what_kb_prints(doc: str, line: int, command: str, shown: str,
                                               tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    words = _words(command)
    assert len(words) > 1 and words[0] == "kb", f"{doc}:{line}: not kb: fence it ```text"
    assert not NOT_RUN & set(words), f"{doc}:{line}: kb {words[1]} cannot be run here: fence it ```text"
    vault = copy_sample(tmp_path / "vault")
    monkeypatch.chdir(vault)  # as the docs show it: kb run from the vault's root
    pipeline = command.partition("#")[0].split("|")
    env, assignments = {}, shlex.split(pipeline[0])
    while "=" in assignments[0]:
        key, _, value = assignments.pop(0).partition("=")
        env[key] = value
    monkeypatch.setenv("KB_TODAY", env.get("KB_TODAY", TODAY))
    result = CliRunner().invoke(main, words[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output.rstrip("\n").split("\n")  # stdout and stderr, as the terminal shows them
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


# The site: mkdocs.yml's nav, the links between pages. `mkdocs build --strict` (in .ci/run)
# checks the site too; these need no MkDocs, and also cover the README, which is no page of it.

README_COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/kb gaps",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
]


def _prose(text: str, spans: bool = False) -> str:
    """The text outside fenced code blocks (and code spans unless `spans`), line count kept."""
    kept, fence = [], ""
    for line in text.split("\n"):
        opening = re.match(r"(`{3,}|~{3,})", line)
        if fence:
            if line.strip() == fence:
                fence = ""
            kept.append("")
        elif opening:
            fence = opening.group(1)
            kept.append("")
        else:
            kept.append(line if spans else re.sub(r"(`+).+?\1", "", line))
    return "\n".join(kept)


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```$", text, re.M | re.S)


def _anchor(heading: str) -> str:
    """The id MkDocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"\[([^]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6} (.+?) *$", _prose(page.read_text(encoding="utf-8"), spans=True),
                              re.M):
        anchor = base = _anchor(heading)
        count = 0
        while anchor in found:  # a repeated heading gets _1, _2...
            count += 1
            anchor = f"{base}_{count}"
        found.add(anchor)
    return found


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_the_readme_opens_with_its_two_commands() -> None:
    """A fresh clone's first two code blocks: install and show the gaps; install and test."""
    blocks = _code_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert [block.strip() for block in blocks[:2]] == README_COMMANDS


def test_every_docs_page_is_in_the_nav_once() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    assert config["docs_dir"] == "docs"
    pages = _nav_pages(config["nav"])
    assert len(pages) == len(set(pages)), "a page is in the nav twice"
    on_disk = {str(page.relative_to(REPO / "docs")) for page in (REPO / "docs").rglob("*.md")}
    assert set(pages) == on_disk


def _links() -> list[tuple[str, int, str]]:
    """(doc, line, target) for each Markdown link of the README and docs/ outside code."""
    found = []
    for doc in DOCS:
        for number, line in enumerate(_prose(doc.read_text(encoding="utf-8")).split("\n"), 1):
            for target in re.findall(r"\]\(<?([^)>\s]+)>?(?:\s+\"[^\"]*\")?\)", line):
                if not re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, mailto:, obsidian:
                    found.append((str(doc.relative_to(REPO)), number, target))
    return found


LINKS = _links()


def test_the_readme_links_into_the_docs() -> None:
    readme = {target.partition("#")[0] for doc, _line, target in LINKS if doc == "README.md"}
    assert {"docs/index.md", "docs/commands.md", "docs/note-format.md",
            "docs/configuration.md", "docs/performance.md"} <= readme


@pytest.mark.parametrize(("doc", "line", "target"), LINKS, ids=[f"{d}:{n}:{t}" for d, n, t in LINKS])
def test_a_relative_link_reaches_its_file_and_heading(doc: str, line: int, target: str) -> None:
    path, _, anchor = target.partition("#")
    source = REPO / doc
    page = (source.parent / path).resolve() if path else source
    assert page.exists(), f"{doc}:{line}: {target} is no file"
    if doc.startswith("docs/"):  # the site holds docs/ only: a link out of it breaks there
        assert page.is_relative_to(REPO / "docs"), f"{doc}:{line}: {target} leaves docs/"
    if anchor and page.suffix == ".md":
        assert anchor in _anchors(page), f"{doc}:{line}: {target}: no such heading"


def test_no_timings_in_code_comments() -> None:
    """Measured times go stale in comments: they belong in docs/performance.md and bench/."""
    import io
    import re
    import tokenize

    timing = re.compile(r"\b\d+(\.\d+)? ?(ms|µs|seconds?)\b|\b\d+\.\d+ s\b|(tenth|fifth|hundredth) of a "
                        r"(second|warm|cold)|\b\d+(\.\d+)?x faster|times faster")
    found = []
    for path in sorted((REPO / "kb").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            text = token.string
            is_comment = token.type == tokenize.COMMENT or (
                token.type == tokenize.STRING and text.startswith('"""'))
            match = timing.search(text) if is_comment else None
            if match:
                found.append(f"{path.relative_to(REPO)}:{token.start[0]}: {match.group()}")
    assert found == []
