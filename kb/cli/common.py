"""What every command shares: the `kb` group, its options, loading a vault, reporting
diagnostics, tables and exit statuses."""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from kb import __version__
from kb.errors import (
    BadArgumentError,
    ConfigErrorsError,
    CycleError,
    Diagnostic,
    KbError,
    UnknownConceptError,
    printable,
)
from kb.notes.model import LEVELS

if TYPE_CHECKING:
    from kb.session import Session



F = TypeVar("F", bound=Callable[..., Any])
LEVEL_CHOICES = LEVELS[1:]  # "missing" is no level a note can reach
PROGRESS_MIN_FILES = 2000  # below this, a cold parse ends before a bar would help


# -- shared options -------------------------------------------------------------------
def _remember_vault(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["vault"] = value


def vault_option(func: F) -> F:
    return click.option(
        "--vault", metavar="PATH", expose_value=False, callback=_remember_vault,
        type=click.Path(file_okay=False), help="The vault folder (default: $KB_VAULT, "
        "else the nearest folder up from here with kb.toml, else here).",
    )(func)


def _remember_no_cache(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["no_cache"] = True


def no_cache_option(func: F) -> F:
    return click.option("--no-cache", is_flag=True, expose_value=False, callback=_remember_no_cache,
                        help="Parse every note again; neither read nor update .kb/cache.sqlite.")(func)


def vault_options(func: F) -> F:
    return vault_option(no_cache_option(func))


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout and nothing else there.")(func)


# -- loading and reporting ------------------------------------------------------------
def vault_path(ctx: click.Context, *, writes: bool = False) -> Path:
    """The vault: named (--vault, $KB_VAULT), found by its kb.toml, or — for commands that
    only read — the current folder, said once on stderr. A command that writes refuses to
    guess: it would create folders wherever it happened to be run."""
    from kb.vault.config import locate_vault

    root = ctx.find_root()
    explicit = (root.obj or {}).get("vault") or (ctx.obj or {}).get("vault")
    path, found = locate_vault(explicit)
    if not path.is_dir():
        raise click.UsageError(f"vault folder {printable(str(path))} does not exist")
    if not found:
        where = printable(str(path))
        if writes:
            raise click.UsageError(f"no kb.toml in {where} or any folder above it, so kb will not "
                                   "write here. Run `kb init` to make this folder a vault, or pass "
                                   "--vault PATH (or set $KB_VAULT)")
        click.echo(f"kb: note: no kb.toml in {where} or above; reading it as a plain folder of "
                   "notes, and writing nothing there, not even a cache (`kb init` makes it a vault)",
                   err=True)
        ctx.ensure_object(dict)["no_cache"] = True
    return path


class ProgressBar:
    """A progress callback `(done, total)` drawing a bar on stderr once `total` reaches
    `at_least` (short work ends before a bar would help); `close()` ends the bar, if any."""

    def __init__(self, label: str, at_least: int) -> None:
        self.label, self.at_least = label, at_least
        self.bar: Any = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None and total >= self.at_least:
            self.bar = click.progressbar(length=total, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        if self.bar is not None:
            self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def on_terminal() -> bool:
    """Whether both output streams are a terminal: only then is a progress bar drawn."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def load_session(ctx: click.Context, *, quiet: bool = False, writes: bool = False) -> Session:
    """Open the vault; a progress bar only on a terminal, for a long cold parse, not in --json.
    `writes`: the command writes into the vault, so the vault must be named or have kb.toml."""
    from kb import open_vault

    vault = vault_path(ctx, writes=writes)
    options = {**(ctx.find_root().obj or {}), **(ctx.obj or {})}
    progress = ProgressBar("parsing notes", PROGRESS_MIN_FILES)

    import gc

    # The vault lives until exit. Freeze it before the collector is back on: the first
    # collection after loading would otherwise walk every object loading made, only to find
    # them all alive (docs/performance.md).
    gc.disable()
    try:
        session = open_vault(vault, use_cache=not options.get("no_cache"),
                             progress=progress if not quiet and on_terminal() else None)
    finally:
        gc.freeze()
        gc.enable()
        progress.close()
    for notice in session.vault.notices:
        click.echo(f"kb: warning: {notice}", err=True)
    return session


def report_diagnostics(diagnostics: Sequence[Diagnostic], *, everything: bool) -> None:
    """Diagnostics on stderr: all of them for `check`, errors plus a count otherwise."""
    shown = diagnostics if everything else [d for d in diagnostics
                                             if d.severity == "error" and d.code != "cycle"]
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for diag in shown:
        click.echo(click.style(diag.format(), fg=colours[diag.severity]), err=True)
    if not everything:
        for diag in diagnostics:
            if diag.code == "cycle":
                chain = printable(diag.message.partition(":")[0])
                click.echo(f"kb: note: {chain}: these concepts are prerequisites of each other, so "
                           "kb takes them as one step (`kb check` shows where each edge is written)",
                           err=True)
        warnings = sum(1 for d in diagnostics if d.severity == "warning")
        if warnings:
            click.echo(f"kb: {warnings} warning{'s' * (warnings != 1)} (run 'kb check' to see them)",
                       err=True)


def exit_status(diagnostics: Sequence[Diagnostic], strict: bool = False, *,
                 cycles_fail: bool = False) -> int:
    """1 when something is an error. A prerequisite cycle fails `check` only: the other
    commands answer anyway (a cycle's members are one step) and say so."""
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(d.severity in failing and (cycles_fail or d.code != "cycle")
                    for d in diagnostics) else 0


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    if text.isascii():  # nearly every cell: skip the per-character lookup
        return len(click.unstyle(text)) if "\x1b" in text else len(text)
    text = click.unstyle(text)
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


_STYLED = re.compile(r"(\x1b\[[0-9;]*m)(.*)(\x1b\[0m)", re.DOTALL)


def _cell(text: str) -> str:
    """A table cell safe to print: a title holding terminal escapes (clearing the screen,
    writing the clipboard) is shown escaped; kb's own colour around a cell is kept."""
    if text.isascii() and text.isprintable():  # nearly every cell
        return text
    styled = _STYLED.fullmatch(text)
    if styled:
        return styled.group(1) + printable(styled.group(2)) + styled.group(3)
    return printable(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table; the last column is never padded."""
    rows = [[_cell(str(cell)) for cell in row] for row in rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    head = click.style(line(headers), bold=True)
    return "\n".join([head, *(line(r) for r in rows)])


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn kb's own exceptions into a clean message and the SPEC's exit status."""
    try:
        yield
    except (UnknownConceptError, BadArgumentError) as exc:
        raise click.UsageError(str(exc)) from None
    except CycleError as exc:
        for diag in exc.diagnostics:
            click.echo(click.style(diag.format(), fg="red"), err=True)
        raise SystemExit(1) from None
    except ConfigErrorsError as exc:
        report_diagnostics(exc.diagnostics, everything=True)
        raise click.ClickException(str(exc)) from None
    except KbError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # a read-only vault, a full disk: said, not a traceback
        where = f" {printable(str(exc.filename))}" if exc.filename else ""
        raise click.ClickException(f"cannot write{where}: {exc.strerror or exc}") from None


CHECK_SUMMARY_ABOVE = 200  # more diagnostics than this: `kb check` groups them by code
GAPS_SHOWN = 20  # rows of a long list shown without --all
LINKERS_SHOWN = 3  # linking notes named per unwritten note


# -- commands -------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kb")
@vault_options
def main() -> None:
    """kb — see the concept graph of your notes, its gaps, and write articles from it.

    Notes are Markdown files with typed front matter (concept, reading, practice,
    source). Every command takes --vault PATH; query commands take --json.

    Example:

        kb gaps            # what you have read but never practiced
    """

def shown_path(path: Path) -> str:
    """A path the user can paste: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def current_day() -> Any:
    """Today, or $KB_TODAY (YYYY-MM-DD) for reproducible examples and tests."""
    import datetime as dt

    fixed = os.environ.get("KB_TODAY")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            raise click.UsageError(f"KB_TODAY={fixed!r} is not a date (YYYY-MM-DD)") from None
    return dt.date.today()


def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def memory_fields(memory: Any, key: str, on: Any, today: Any) -> dict[str, Any]:
    """A concept's memory as --json shows it (None values when it was never practiced)."""
    state = memory.concepts.get(key)
    if state is None:
        return {"recall": None, "recall_today": None, "stability": None, "difficulty": None,
                "last_practice": None, "last_credit": None, "reviews": 0, "credits": 0, "due": None}
    return {"recall": round(memory.recall(key, on), 4),
            "recall_today": round(memory.recall(key, today), 4),
            "stability": round(state.stability, 2), "difficulty": round(state.difficulty, 2),
            "last_practice": state.last_practice.isoformat(),
            "last_credit": state.last_credit.isoformat() if state.last_credit else None,
            "reviews": len(state.reviews), "credits": len(state.credits),
            "due": state.due.isoformat()}
