"""The command line: parse options, call the core, print. The only module that imports click."""

from __future__ import annotations

import json
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

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
from kb.model import LEVELS, NOTE_TYPES, PRACTICE_KINDS, REVIEW_RESULTS, SOURCE_STATUSES

if TYPE_CHECKING:
    from kb.model import Level, NoteType, PracticeKind, ReviewResult, SourceStatus
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
def _vault_path(ctx: click.Context, *, writes: bool = False) -> Path:
    """The vault: named (--vault, $KB_VAULT), found by its kb.toml, or — for commands that
    only read — the current folder, said once on stderr. A command that writes refuses to
    guess: it would create folders wherever it happened to be run."""
    from kb.config import locate_vault

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


def _load(ctx: click.Context, *, quiet: bool = False, writes: bool = False) -> Session:
    """Open the vault; a progress bar only on a terminal, for a long cold parse, not in --json.
    `writes`: the command writes into the vault, so the vault must be named or have kb.toml."""
    from kb import open_vault

    vault = _vault_path(ctx, writes=writes)
    options = {**(ctx.find_root().obj or {}), **(ctx.obj or {})}
    show_progress = not quiet and sys.stdout.isatty() and sys.stderr.isatty()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= PROGRESS_MIN_FILES:
            bar = click.progressbar(length=total, label="parsing notes", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    import gc

    # The vault lives until exit. Freeze it before the collector is back on: the first
    # collection after loading would otherwise walk every object loading made, only to find
    # them all alive (docs/performance.md).
    gc.disable()
    try:
        session = open_vault(vault, use_cache=not options.get("no_cache"),
                             progress=progress if show_progress else None)
    finally:
        gc.freeze()
        gc.enable()
        if bar is not None:
            bar.__exit__(None, None, None)
    for notice in session.vault.notices:
        click.echo(f"kb: warning: {notice}", err=True)
    return session


def _report(diagnostics: Sequence[Diagnostic], *, everything: bool) -> None:
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


def _exit_status(diagnostics: Sequence[Diagnostic], strict: bool = False, *,
                 cycles_fail: bool = False) -> int:
    """1 when something is an error. A prerequisite cycle fails `check` only: the other
    commands answer anyway (a cycle's members are one step) and say so."""
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(d.severity in failing and (cycles_fail or d.code != "cycle")
                    for d in diagnostics) else 0


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    text = click.unstyle(text)
    if text.isascii():  # nearly every cell: skip the per-character lookup
        return len(text)
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


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table; the last column is never padded."""
    rows = [[_cell(str(cell)) for cell in row] for row in rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    head = click.style(line(headers), bold=True)
    return "\n".join([head, *(line(r) for r in rows)])


@contextmanager
def _user_errors() -> Iterator[None]:
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
        _report(exc.diagnostics, everything=True)
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


@main.command()
@click.argument("directory", metavar="[DIR]", required=False, default=".",
                type=click.Path(file_okay=False))
def init(directory: str) -> None:
    """Start a vault in DIR (default: here): kb.toml, notes/, articles/, templates/.

    kb.toml lists every setting with its default, commented. templates/ gets
    copies of the built-in templates to edit. A .gitignore keeps kb's cache
    (.kb/) out of git. Nothing that exists is overwritten: kb says what it
    created and what it left alone.

    In a folder that already holds notes (an Obsidian vault) and no notes/,
    the notes stay where they are (notes = "."), and kb.toml's [conventions]
    are chosen from the keys, tags and folders the notes already use; kb
    prints what it found and chose.

    Example:

        kb init ~/vault && cd ~/vault && kb new concept "Eigenvalues"
    """
    from kb.scaffold import init_vault

    root = Path(directory).expanduser()
    try:
        report = init_vault(root)
    except OSError as exc:
        raise click.ClickException(f"cannot create the vault in {root}: {exc}") from None
    for line in report.found:
        click.echo(f"found        {line}")
    for name in report.created:
        click.echo(f"created      {name}")
    for name, why in report.kept:
        click.echo(f"left alone   {name} ({why})")
    if not report.created:
        click.echo(f"{root} was already a vault: nothing to do.")


def _shown_path(path: Path) -> str:
    """A path the user can paste: relative to the current folder when inside it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _open_editor(path: Path) -> None:
    import shlex
    import subprocess

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        click.echo("kb: warning: --edit: set $VISUAL or $EDITOR to choose an editor", err=True)
        return
    try:
        subprocess.run([*shlex.split(editor), str(path)], check=False)
    except ValueError as exc:  # an unbalanced quote in $EDITOR
        click.echo(f"kb: warning: --edit: cannot read the editor command {printable(editor)!r} "
                   f"({exc}); the note was written: {path}", err=True)
    except OSError as exc:
        click.echo(f"kb: warning: --edit: could not run {printable(editor)!r}: {exc}", err=True)


@main.command()
@vault_options
@click.argument("note_type", metavar="TYPE", type=click.Choice(NOTE_TYPES))
@click.argument("title")
@click.option("--concept", "concepts", metavar="C", multiple=True,
              help="What the note is about (repeat for several).")
@click.option("--source", metavar="S", help="The source note it comes from.")
@click.option("--locator", metavar="L", help="Where in the source: 'ch. 3', 'pp. 45-52', '§2.1'.")
@click.option("--practice", type=click.Choice(PRACTICE_KINDS),
              help="Practice notes: solved by hand, implemented, or applied (default exercise).")
@click.option("--prerequisite", "prerequisites", metavar="C", multiple=True,
              help="A concept that must come first (repeat for several).")
@click.option("--tag", "tags", metavar="T", multiple=True, help="A tag (repeat for several).")
@click.option("--edit", is_flag=True, help="Open the new note in $VISUAL or $EDITOR.")
@click.pass_context
def new(ctx: click.Context, note_type: str, title: str, concepts: tuple[str, ...], source: str | None,
        locator: str | None, practice: str | None, prerequisites: tuple[str, ...],
        tags: tuple[str, ...], edit: bool) -> None:
    """Write a new TYPE note titled TITLE and print its path.

    TYPE is concept, reading, practice or source. The note comes from the
    template note-TYPE.md.j2 (the vault's templates/ first, then the built-in
    one), dated today. Its file name is a slug of TITLE in any script; an
    existing note is never overwritten (-2, -3 … are added instead). Names the
    vault does not know are kept, with a warning suggesting the closest ones.
    Folders per type come from [folders] in kb.toml.

    Example:

        kb new reading "Eigenvalues in PRML" --concept eigenvalues --source bishop-prml --locator "app. C"
    """
    import datetime as dt

    from kb.authoring import create_note
    from kb.capture import NoteRequest, check_text_values, template_name

    if not title.strip():
        raise click.UsageError("TITLE is empty")
    if practice and note_type != "practice":
        raise click.UsageError("--practice is only for practice notes")
    asked = NoteRequest(type=cast("NoteType", note_type), title=title.strip(), concepts=concepts,
                        source=source, locator=locator, practice=practice,
                        prerequisites=prerequisites, tags=tags)
    with _user_errors():
        check_text_values(asked)  # before the vault is read: refused whatever the vault holds
        session = _load(ctx, quiet=True, writes=True)
        created = create_note(session, asked, today=dt.date.today())
    for warning in created.warnings:
        click.echo(f"kb: warning: {warning}", err=True)
    if created.path.stem != created.stem:
        where = f" ({', '.join(created.taken_by)})" if created.taken_by else ""
        click.echo(f"kb: note: a note named '{created.stem}' exists{where}; this one is "
                   f"'{created.path.stem}'", err=True)
    for diag in created.problems:
        click.echo(f"kb: warning: the template {template_name(note_type)} made a note with a "
                   f"problem: {diag.format()}", err=True)
    click.echo(_shown_path(created.path))
    if edit:
        _open_editor(created.path)


@main.group(invoke_without_command=True)
@vault_options
@json_option
@click.option("--status", type=click.Choice(SOURCE_STATUSES),
              help="Only sources with this status.")
@click.pass_context
def sources(ctx: click.Context, as_json: bool, status: str | None) -> None:
    """Every source: status, notes taken from it, concepts it covers, last note.

    A source marked `reading` with no new note for `stalled_days` (kb.toml,
    default 30) is flagged as stalled. Stalled sources come first, then by
    status (reading, to-read, finished, dropped) and title. A note's day is its
    `date`, else the day its file last changed.

    Example:

        kb sources --status reading
        kb sources import library.bib
    """
    import datetime as dt

    from kb.bibtex import citekey_of
    from kb.sources import source_statuses

    if ctx.invoked_subcommand is not None:
        return
    session = _load(ctx, quiet=as_json)
    kg, config = session.graph, session.config
    found = source_statuses(kg, today=dt.date.today(), stalled_days=config.stalled_days,
                            modified=session.vault.modified)
    if status:
        found = [s for s in found if s.status == status]
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"sources": [{
            "id": s.key, "title": s.note.title, "path": s.note.path, "kind": s.note.kind,
            "status": s.status, "citekey": citekey_of(s.note), "authors": s.note.authors,
            "year": s.note.year, "notes": len(s.notes), "concepts": s.concepts,
            "last_note": s.last_note.isoformat() if s.last_note else None, "stalled": s.stalled,
        } for s in found]})
    elif found:
        rows = []
        for s in found:
            label = s.status or "-"
            if s.stalled:
                label = click.style(f"{label}, stalled", fg="yellow")
            rows.append([label, s.note.title, str(len(s.notes)),
                         s.last_note.isoformat() if s.last_note else "-",
                         ", ".join(s.concepts) or "-"])
        click.echo(_table(["STATUS", "SOURCE", "NOTES", "LAST NOTE", "CONCEPTS"], rows))
        stalled = [s for s in found if s.stalled]
        if stalled:
            click.echo()
            click.echo(f"{len(stalled)} source{'s' * (len(stalled) != 1)} marked reading with no new "
                       f"note for over {config.stalled_days} days: finish, drop or pick "
                       "them up again.")
    else:
        click.echo("No source notes" + (f" with status {status}." if status else
                                        " yet: kb new source TITLE, or kb sources import FILE.bib."))
    ctx.exit(_exit_status(kg.diagnostics))


@sources.command(name="import")
@vault_options
@click.argument("bib_file", metavar="FILE.bib", type=click.Path(exists=True, dir_okay=False))
@click.option("--status", type=click.Choice(SOURCE_STATUSES),
              default="to-read", show_default=True, help="Status of the new source notes.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@click.pass_context
def import_sources(ctx: click.Context, bib_file: str, status: str, dry_run: bool) -> None:
    """One source note per BibTeX entry (Zotero, Google Scholar, arXiv exports).

    The note's id and `citekey` are the entry's key; title, authors, year,
    venue, url, doi and kind (from the entry type) are mapped, other fields kept
    under `bibtex:`, the abstract goes in the body. Importing again creates
    nothing new: an entry whose key a source note already has is reported,
    with what differs, and the note is left as it is. A malformed entry is
    reported with its line and the others still import.

    Example:

        kb sources import ~/Zotero/library.bib --status reading
    """
    import datetime as dt

    from kb.authoring import ImportLine, import_bibtex, read_bibtex_file
    from kb.paths import NotReadableError

    def say(line: ImportLine) -> None:
        if line.outcome == "differs":
            click.echo(f"differs      {line.key} ({line.path}); the note was left as it is:")
            for difference in line.differences:
                click.echo(f"               {difference}")
        elif line.outcome == "already-in":
            click.echo(f"already in   {line.key} ({line.path})")
        elif line.outcome == "would-create":
            click.echo(f"would create {line.path}")
        else:
            click.echo(f"created      {line.path}")

    session = _load(ctx, quiet=True, writes=not dry_run)
    try:
        text, not_utf8 = read_bibtex_file(bib_file)
    except (OSError, NotReadableError) as exc:
        raise click.ClickException(f"cannot read {printable(bib_file)}: {exc}") from None
    if not_utf8:
        click.echo(f"kb: warning: {bib_file} is not UTF-8; read it as Latin-1", err=True)
    with _user_errors():
        report = import_bibtex(session, text, bib_file, status=cast("SourceStatus", status), dry_run=dry_run,
                               today=dt.date.today(), on_line=say)
    _report(report.problems, everything=True)
    verb = "would be created" if dry_run else "created"
    errors = report.errors
    click.echo(f"{report.entries} entries: {report.count('created', 'would-create')} {verb}, "
               f"{report.count('already-in')} already in the vault, {report.count('differs')} "
               "differ from their note" + (f"; {errors} skipped (see above)" if errors else ""))
    ctx.exit(1 if errors else 0)


@main.command()
@vault_options
@json_option
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option("--summary", is_flag=True,
              help="Group diagnostics by code: a count and a few examples each.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Every diagnostic, even when there are more than {CHECK_SUMMARY_ABOVE}.")
@click.pass_context
def check(ctx: click.Context, as_json: bool, strict: bool, summary: bool, show_all: bool) -> None:
    """Report every problem in the vault: bad front matter, dangling links, cycles.

    Diagnostics go to stderr as `path:line: severity: message [code]`.
    Exit status is 1 when there is an error (or, with --strict, a warning).
    More than a few hundred are grouped by code (as --summary does);
    --all lists every one.

    Example:

        kb check --strict
    """
    from kb.memory import review_events
    from kb.signals import summarize

    if summary and show_all:
        raise click.UsageError("--summary and --all contradict each other; give one")
    session = _load(ctx, quiet=as_json)
    kg = session.graph
    diagnostics = sorted([*kg.diagnostics, *review_events(kg, _today())[1]], key=Diagnostic.sort_key)
    if as_json:
        data: dict[str, Any] = {"diagnostics": [d.as_dict() for d in diagnostics]}
        if summary:
            data["summary"] = [{"code": g.code, "severity": g.severity, "count": g.count,
                                "examples": [d.as_dict() for d in g.examples]}
                               for g in summarize(diagnostics)]
        _emit_json(data)
    else:
        if summary or (len(diagnostics) > CHECK_SUMMARY_ABOVE and not show_all):
            _report_summary(diagnostics, told=summary)
        else:
            _report(diagnostics, everything=True)
        counts = {s: sum(1 for d in diagnostics if d.severity == s)
                  for s in ("error", "warning", "info")}
        totals = ", ".join(f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items())
        click.echo(f"{len(kg.notes)} notes, {len(kg.concepts)} concepts: {totals}")
    ctx.exit(_exit_status(diagnostics, strict, cycles_fail=True))


def _report_summary(diagnostics: Sequence[Diagnostic], *, told: bool) -> None:
    """Diagnostics grouped by code on stderr: count, severity, the first few of each."""
    from kb.signals import summarize

    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for group in summarize(list(diagnostics)):
        click.echo(click.style(f"{group.severity} [{group.code}]: {group.count}",
                               fg=colours.get(group.severity), bold=True), err=True)
        for diag in group.examples:
            click.echo(f"  {diag.format()}", err=True)
        if group.count > len(group.examples):
            click.echo(f"  … and {group.count - len(group.examples)} more", err=True)
    if not told:
        click.echo(f"kb: {len(diagnostics)} diagnostics, grouped by code; `kb check --all` lists "
                   "every one (`kb check --json` too)", err=True)


def _run_state_dict(state: Any) -> dict[str, Any]:
    return {"status": state.state, "line": state.line, "message": state.message, "ran": state.ran,
            "last_status": state.last_status}


def _run_state_text(state: Any, path: str) -> str:
    where = f"{path}:{state.line}" if state.line else path
    return {"passed": "passed",
            "failed": f"failed at {where}: {state.message}",
            "timeout": f"timed out at {where}",
            "skipped": f"skipped: {state.message}",
            "changed": f"changed since its last run ({state.last_status}); run `kb run` again",
            "never-ran": "never ran (kb run)"}[state.state]


@main.command()
@vault_options
@json_option
@click.option("--level", "level", type=click.Choice(LEVEL_CHOICES), default="exercise",
              show_default=True, help="List concepts below this level.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Every row: not only the first {GAPS_SHOWN} notes linked but never written "
                   "(nor of the gaps, in a vault without practice notes).")
@click.pass_context
def gaps(ctx: click.Context, as_json: bool, level: str, show_all: bool) -> None:
    """Concepts you have notes on but have not practiced to LEVEL, and concepts with no notes.

    Most depended-on first: fixing the top one unblocks the most. The default
    level, exercise, lists what was read but never practiced. Then the notes
    your links point to that were never written, the most linked first.

    Example:

        kb gaps --level code     # read or solved by hand, never implemented
    """
    session = _load(ctx, quiet=as_json)
    kg = session.graph
    _print_gaps(session, level, as_json, show_all=show_all)
    ctx.exit(_exit_status(kg.diagnostics))


def _print_gaps(session: Session, level: str, as_json: bool, *, report: bool = True,
                show_all: bool = False) -> None:
    """What `kb gaps` prints, for a vault already loaded (kb build shows it too)."""
    from kb.reports import gaps_report

    kg = session.graph
    # Where practice notes exist, `kb check` lists the links to notes never written, so the
    # text output skips that search.
    has_practice = any(n.type == "practice" for n in kg.notes.values())
    result = gaps_report(session, cast("Level", level), today=_today(),
                         unwritten=as_json or show_all or not has_practice)
    found, missing, unwritten, faded, runs = (result.gaps, result.missing, result.unwritten,
                                              result.fading, result.runs)
    memory, practice_notes = result.memory, result.practice_notes
    if report:
        _report(kg.diagnostics, everything=False)
    if as_json:
        data: dict[str, Any] = {
            "gaps": [{"id": g.concept.key, "title": g.concept.title, "level": g.concept.level,
                      "unblocks": g.concept.unblocks, "readings": g.concept.readings,
                      "sources": g.sources} for g in found],
            "missing": [{"id": key, "needed_by": needed} for key, needed in missing],
            "fading": [{"id": f.concept.key, "title": f.concept.title, "level": f.concept.level,
                        "unblocks": f.concept.unblocks, "recall": round(f.recall, 4),
                        "last_practice": f.memory.last_practice.isoformat(),
                        "due": f.memory.due.isoformat()} for f in faded],
            "practice_notes": practice_notes,
            "unwritten": [{"id": u.name, "links": u.links, "notes": u.notes,
                           "linked_from": [{"path": p, "line": line} for p, line in u.linked_from]}
                          for u in unwritten],
        }
        if level in ("code", "project"):
            data["code_runs"] = [{"concept": concept, "note": kg.key_of(note), "path": note.path,
                                  **_run_state_dict(state)} for concept, note, state in runs]
        _emit_json(data)
    else:
        label = "read but never practiced" if level == "exercise" else f"below '{level}'"
        shown_gaps = found
        if not practice_notes and kg.notes:
            click.echo("No practice notes in this vault (type: practice, or a [conventions] type "
                       "rule in kb.toml): every concept with a note counts as read, never practiced.")
            if not show_all:
                shown_gaps = found[:GAPS_SHOWN]
        if found:
            click.echo(click.style(f"Concepts {label} ({len(found)}), most depended-on first:",
                                   bold=True))
            rows = [[g.concept.title, g.concept.level, str(g.concept.unblocks),
                     str(g.concept.readings), ", ".join(g.sources) or "-"] for g in shown_gaps]
            click.echo(_table(["CONCEPT", "LEVEL", "UNBLOCKS", "READINGS", "SOURCES"], rows))
            if len(shown_gaps) < len(found):
                click.echo(f"… and {len(found) - len(shown_gaps)} more (kb gaps --all lists every one)")
        else:
            click.echo(f"No concepts {label}.")
        if missing:
            click.echo()
            click.echo(click.style(f"Needed but never studied ({len(missing)}):", bold=True))
            rows = [[key, ", ".join(needed) or "-"] for key, needed in missing]
            click.echo(_table(["CONCEPT", "NEEDED BY"], rows))
        if unwritten:
            click.echo()
            click.echo(click.style(f"Linked but never written ({len(unwritten)}), most linked first:",
                                   bold=True))
            shown = unwritten if show_all else unwritten[:GAPS_SHOWN]
            click.echo(_table(["NOTE", "LINKS", "LINKED FROM"], [
                [u.name, str(u.links), _linked_from(u.linked_from)] for u in shown]))
            if len(shown) < len(unwritten):
                click.echo(f"… and {len(unwritten) - len(shown)} more (kb gaps --all lists every one)")
        if faded:
            click.echo()
            click.echo(click.style(f"Practiced but fading: recall below {memory.retention:.0%} "
                                   f"today ({len(faded)}; kb review says when each is due):", bold=True))
            rows = [[f.concept.title, _percent(f.recall), f.memory.last_practice.isoformat(),
                     str(f.concept.unblocks)] for f in faded]
            click.echo(_table(["CONCEPT", "RECALL", "LAST PRACTICE", "UNBLOCKS"], rows))
        if runs:
            passing = sum(1 for _c, _n, state in runs if state.state == "passed")
            click.echo()
            click.echo(click.style(f"Code practice ({len(runs)}): {passing} passed when last run", bold=True)
                       + ("." if passing == len(runs) else "; the others:"))
            rows = [[concept or "-", note.path, _run_state_text(state, note.path)]
                    for concept, note, state in runs if state.state != "passed"]
            if rows:
                click.echo(_table(["CONCEPT", "NOTE", "RUN"], rows))


def _linked_from(sites: Sequence[tuple[str, int]]) -> str:
    """`a.md:3, b.md:7, c.md:1 (+4 more)`: the first linking places, by path."""
    shown = ", ".join(f"{path}:{line}" for path, line in sites[:LINKERS_SHOWN])
    return shown + (f" (+{len(sites) - LINKERS_SHOWN} more)" if len(sites) > LINKERS_SHOWN else "")


@main.command()
@vault_options
@json_option
@click.argument("target")
@click.pass_context
def path(ctx: click.Context, as_json: bool, target: str) -> None:
    """The learning path to TARGET: its prerequisites, transitively, in learning order.

    A topological order of the prerequisite graph; ties go by the `order`
    field, then by title. TARGET resolves like a link (id, alias, any case).

    Example:

        kb path lora
    """
    from kb.mastery import find_concept, learning_steps

    session = _load(ctx, quiet=as_json)
    kg = session.graph
    with _user_errors():
        concept = find_concept(kg, target)
        steps = learning_steps(kg, concept)
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"target": concept.key, "steps": [
            {"id": c.key, "title": c.title, "level": c.level,
             **({"cycle": [m.key for m in step]} if len(step) > 1 else {})}
            for step in steps for c in step]})
    else:
        rows = [[f"{number}." if index == 0 else "", c.title, c.level, c.key]
                for number, step in enumerate(steps, 1) for index, c in enumerate(step)]
        click.echo(_table(["STEP", "CONCEPT", "LEVEL", "ID"], rows))
    ctx.exit(_exit_status(kg.diagnostics))


@main.command()
@vault_options
@json_option
@click.argument("concept_name", metavar="CONCEPT")
@click.pass_context
def show(ctx: click.Context, as_json: bool, concept_name: str) -> None:
    """Everything about one CONCEPT: level, notes, sources, prerequisites, dependents.

    Example:

        kb show eigenvalues
    """
    from kb.mastery import dependents, find_concept, prerequisites
    from kb.reports import code_runs

    session = _load(ctx, quiet=as_json)
    kg = session.graph
    with _user_errors():
        concept = find_concept(kg, concept_name)
    today = _today()
    memory = session.memory(today)
    remembered = _memory_fields(memory, concept.key, today, today)
    needs, needed_by = prerequisites(kg, concept), dependents(kg, concept)
    sources = kg.sources_of(concept)
    states = code_runs(session, concept.notes)
    notes = [{"id": kg.key_of(n), "path": n.path, "type": n.type, "title": n.title,
              "practice": n.practice, "source": n.source.target if n.source else None,
              "locator": n.locator,
              "run": _run_state_dict(states[n.path]) if n.path in states else None}
             for n in concept.notes]
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"id": concept.key, "title": concept.title, "level": concept.level,
                    "unblocks": concept.unblocks, "readings": concept.readings,
                    "notes": notes, "sources": sources, "prerequisites": needs,
                    "dependents": needed_by, "memory": remembered})
    else:
        click.echo(click.style(printable(concept.title), bold=True) + f"  ({printable(concept.key)})")
        click.echo(f"level:          {concept.level}")
        click.echo(f"unblocks:       {concept.unblocks}")
        click.echo(f"prerequisites:  {', '.join(needs) or '-'}")
        click.echo(f"dependents:     {', '.join(needed_by) or '-'}")
        click.echo(f"sources:        {', '.join(sources) or '-'}")
        if remembered["last_practice"] is None:
            click.echo("memory:         never practiced (no dated practice note)")
        else:
            fading_now = remembered["recall"] < memory.retention
            click.echo(f"recall today:   {_percent(remembered['recall'])}"
                       + (f" (fading: below {memory.retention:.0%})" if fading_now else ""))
            credits = f", +{remembered['credits']} implicit" if remembered["credits"] else ""
            click.echo(f"stability:      {remembered['stability']:.1f} days "
                       f"({remembered['reviews']} review{'s' * (remembered['reviews'] != 1)}{credits}, "
                       f"last {remembered['last_practice']})")
            click.echo(f"due:            {remembered['due']}")
        click.echo()
        if notes:
            rows = [[str(n["type"]) + (f" ({n['practice']})" if n["practice"] else ""),
                     str(n["title"]), str(n["path"])] for n in notes]
            click.echo(_table(["TYPE", "NOTE", "PATH"], rows))
            if states:
                click.echo()
                click.echo("code practice, as `kb run` last left it:")
                for path, state in sorted(states.items()):
                    if state.state in ("failed", "timeout") and state.line:
                        click.echo(f"  {path}:{state.line}: {state.state}: {state.message}")
                    else:
                        click.echo(f"  {path}: {_run_state_text(state, path)}")
        else:
            click.echo("No notes yet: this concept is missing.")
    ctx.exit(_exit_status(kg.diagnostics))


@main.command(name="list")
@vault_options
@json_option
@click.option("--type", "note_type", type=click.Choice(NOTE_TYPES),
              help="Only notes of this type.")
@click.option("--tag", help="Only notes with this tag.")
@click.option("--concept", "concept_name", metavar="C", help="Only notes about concept C.")
@click.pass_context
def list_notes(ctx: click.Context, as_json: bool, note_type: str | None, tag: str | None,
               concept_name: str | None) -> None:
    """List notes, optionally filtered by type, tag or concept.

    Example:

        kb list --type practice --concept pca
    """
    from kb.mastery import find_concept
    from kb.resolve import normalize

    session = _load(ctx, quiet=as_json)
    kg = session.graph
    about: dict[int, list[str]] = {}
    for key, concept in kg.concepts.items():
        for note in concept.notes:
            about.setdefault(id(note), []).append(key)
    selected = list(kg.notes.items())
    if note_type:
        selected = [(k, n) for k, n in selected if n.type == note_type]
    if tag:
        wanted = normalize(tag.lstrip("#"))
        selected = [(k, n) for k, n in selected
                    if any(normalize(t) == wanted or normalize(t).startswith(wanted + "/")
                           for t in n.tags)]
    if concept_name:
        with _user_errors():
            concept = find_concept(kg, concept_name)
        selected = [(k, n) for k, n in selected if concept.key in about.get(id(n), [])]
    selected.sort(key=lambda kn: kn[1].path)
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"notes": [{"id": k, "path": n.path, "type": n.type, "title": n.title,
                               "concepts": sorted(about.get(id(n), []), key=normalize)}
                              for k, n in selected]})
    else:
        rows = [[k, n.type, n.title, ", ".join(sorted(about.get(id(n), []), key=normalize)) or "-"]
                for k, n in selected]
        click.echo(_table(["ID", "TYPE", "TITLE", "CONCEPTS"], rows) if rows else "No notes match.")
    ctx.exit(_exit_status(kg.diagnostics))


def _write_output(path: Path, text: str) -> None:
    """A file named on the command line: written atomically, with a new file's permissions."""
    from kb.write import atomic_write

    atomic_write(path, text)
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)  # the temporary file was private; the output need not be


GRAPH_FORMATS = ("json", "graphml", "dot", "mermaid", "html")  # kb.export.FORMATS + the page


@main.command()
@vault_options
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS),
              default="json", show_default=True, help="Output format.")
@click.option("--concepts-only", is_flag=True,
              help="Only concepts and prerequisite edges (html: no note titles or paths).")
@click.option("--focus", metavar="CONCEPT",
              help="Only CONCEPT, its prerequisites and its dependents (with their notes).")
@click.option("--depth", type=click.IntRange(min=0), metavar="N",
              help="With --focus: at most N prerequisite steps each way.")
@click.option("--output", "-o", "output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE instead of stdout.")
@click.pass_context
def graph(ctx: click.Context, fmt: str, concepts_only: bool, focus: str | None, depth: int | None,
          output: str | None) -> None:
    """Print the graph: concepts, notes, sources and their edges.

    json is networkx node-link data (nodes, edges); graphml opens in Gephi or
    yEd; dot renders with Graphviz; mermaid pastes into Markdown; html is one
    self-contained page (no network) to explore in a browser: concepts in
    layers by prerequisite depth, coloured by level, with search, a panel of
    notes, the learning path of a selection and filters kept in the URL.

    Example:

    \b
        kb graph --format mermaid --concepts-only
        kb graph --format html --output map.html --focus lora --depth 3
    """
    from kb.export import concepts_only as only_concepts
    from kb.export import export, focus_subgraph

    if depth is not None and focus is None:
        raise click.UsageError("--depth needs --focus CONCEPT")
    session = _load(ctx)
    kg = session.graph
    _report(kg.diagnostics, everything=False)
    with _user_errors():
        centre = None
        if focus is not None:
            from kb.mastery import find_concept

            centre = find_concept(kg, focus)
        today = _today()
        memory = session.memory(today)
        if fmt == "html":
            from kb.graphpage import TEMPLATE, page_context, relative_link_base
            from kb.render import environment, render

            recall = {key: memory.recall(key, today) or 0.0 for key in memory.concepts}
            context = page_context(kg, focus=centre, depth=depth, concepts_only=concepts_only,
                                   vault_root=session.root,
                                   link_base=relative_link_base(Path(output) if output else None),
                                   recall=recall, retention=memory.retention)
            text = render(environment(session.vault.templates_dir), TEMPLATE, context)
        else:
            # a copy: the memory added below belongs to this printout, not to the loaded graph
            selected = kg.graph.copy()
            if centre is not None:
                from kb.graphpage import neighbourhood

                selected = focus_subgraph(selected, neighbourhood(kg, centre, depth))
            for key, state in memory.concepts.items():  # practiced concepts carry their memory
                node = f"concept:{key}"
                if node in selected:
                    selected.nodes[node].update(recall=round(memory.recall(key, today) or 0.0, 4),
                                                stability=round(state.stability, 2),
                                                due=state.due.isoformat())
            text = export(only_concepts(selected) if concepts_only else selected, fmt)
        if output:
            try:
                _write_output(Path(output), text)
            except OSError as exc:
                raise click.ClickException(f"cannot write {output}: {exc}") from None
            click.echo(f"kb: wrote {output}", err=True)
        else:
            click.echo(text, nl=False)
    ctx.exit(_exit_status(kg.diagnostics))


RUN_OUTPUT_LINES = 20  # lines of a failing note's output shown under its diagnostic


@main.command()
@vault_options
@json_option
@click.argument("targets", metavar="[TARGET]...", nargs=-1)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Seconds each note may run (default: [run] timeout in kb.toml, 30); a note's "
                   "own `timeout:` still wins.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Notes run at once (default: one per core).")
@click.option("--force", is_flag=True, help="Run notes again even if unchanged since they passed.")
@click.pass_context
def run(ctx: click.Context, as_json: bool, targets: tuple[str, ...], timeout: float | None,
        jobs: int | None, force: bool) -> None:
    """Run the code in practice notes and report what fails, at the note's line.

    Runs every practice note, or those the TARGETs name (a note, or a concept:
    all practice notes about it). Each note runs in a fresh process, its
    Python blocks in order in one interpreter (as in a notebook), in a fresh
    temporary folder, with a timeout; notes run in parallel. A block whose
    fence says `python notest` is skipped; a note listing `requires: [numpy]`
    is skipped, with the reason, where a module is missing. Results are kept
    in .kb/runs.json: an unchanged note that passed is not run again.

    This runs the vault's code with your rights: only run it on notes you trust.
    Exit status 1 when a note fails or times out.

    Example:

        kb run pca --timeout 60
    """
    import time

    from kb.run import RunSettings, run_practice

    session = _load(ctx, quiet=as_json)
    kg = session.graph
    settings = RunSettings.from_config(session.config.run, timeout=timeout, jobs=jobs, force=force)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 2:
            bar = click.progressbar(length=total, label="running notes", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    show_progress = not as_json and sys.stdout.isatty() and sys.stderr.isatty()
    started = time.monotonic()
    try:
        with _user_errors():
            results, notices = run_practice(session, targets, settings,
                                            progress if show_progress else None)
    except KeyboardInterrupt:
        if bar is not None:
            bar.__exit__(None, None, None)
        click.echo("kb: interrupted; every note's process was stopped", err=True)
        raise SystemExit(130) from None
    if bar is not None:
        bar.__exit__(None, None, None)
    elapsed = time.monotonic() - started
    for notice in notices:
        click.echo(f"kb: warning: {notice}", err=True)
    _report(kg.diagnostics, everything=False)
    failing = [r for r in results if r.status in ("failed", "timeout")]
    if as_json:
        _emit_json({"runs": [r.as_dict() for r in results]})
    else:
        for result in failing:
            diag = result.diagnostic()
            assert diag is not None
            click.echo(click.style(diag.format(), fg="red"), err=True)
            shown = result.output.rstrip("\n").split("\n")[-RUN_OUTPUT_LINES:] if result.output else []
            for line in shown:
                click.echo(f"    {line}", err=True)
        for result in results:
            if result.output_note:
                click.echo(f"{result.path}: note: {result.output_note}", err=True)
        if results:
            rows = []
            for r in results:
                status = {"passed": "green", "skipped": "yellow"}.get(r.status, "red")
                detail = ("unchanged since it passed" if r.cached
                          else f"line {r.line}: {r.message}" if r.status in ("failed", "timeout")
                          else r.message)
                rows.append([click.style(r.status, fg=status), r.path,
                             "-" if r.cached or r.status == "skipped" else f"{r.seconds:.2f} s",
                             detail or "-"])
            click.echo(_table(["STATUS", "NOTE", "TIME", "DETAIL"], rows))
            counts = {s: sum(1 for r in results if r.status == s)
                      for s in ("passed", "failed", "timeout", "skipped")}
            cached = sum(1 for r in results if r.cached)
            parts = [f"{counts['passed']} passed" + (f" ({cached} unchanged, not rerun)" if cached else ""),
                     f"{counts['failed']} failed", f"{counts['timeout']} timed out",
                     f"{counts['skipped']} skipped"]
            click.echo(f"{len(results)} practice note{'s' * (len(results) != 1)}: "
                       f"{', '.join(parts)} in {elapsed:.2f} s")
        else:
            click.echo("No practice note with code to run.")
    ctx.exit(1 if failing else _exit_status(kg.diagnostics))


# -- memory: kb review ------------------------------------------------------------------
def _today() -> Any:
    """Today, or $KB_TODAY (YYYY-MM-DD) for reproducible examples and tests."""
    import datetime as dt

    fixed = os.environ.get("KB_TODAY")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            raise click.UsageError(f"KB_TODAY={fixed!r} is not a date (YYYY-MM-DD)") from None
    return dt.date.today()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _memory_fields(memory: Any, key: str, on: Any, today: Any) -> dict[str, Any]:
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


@main.group(invoke_without_command=True)
@vault_options
@json_option
@click.option("--on", "on_date", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="The day to ask about (default today); a past day replays only the reviews "
                   "up to it.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N concepts.")
@click.pass_context
def review(ctx: click.Context, as_json: bool, on_date: Any, limit: int | None) -> None:
    """What you are forgetting: practiced concepts due or fading on a day.

    Each practice note is a review of its concepts on its `date`, rated by its
    `result` (again, hard, good, easy; default good); reading is not review.
    Memory is replayed with FSRS from the notes on every run; practicing a
    concept also gives its prerequisites implicit credit. A concept is fading
    when its predicted recall is below `retention` (kb.toml, default 0.9).
    Most valuable first: lowest recall times most depended on. See
    docs/memory.md for the model.

    Example:

        kb review --on 2026-11-24
        kb review done backpropagation --result hard --minutes 20
    """
    if ctx.invoked_subcommand is not None:
        return
    from kb.memory import fading

    today = _today()
    on = on_date.date() if on_date else today
    session = _load(ctx, quiet=as_json)
    kg = session.graph
    retention = session.config.retention
    memory = session.memory(today, as_of=on)
    now = memory if on >= today else session.memory(today)
    found = fading(kg, memory, on)
    shown = found[:limit] if limit else found
    diagnostics = [*kg.diagnostics, *memory.diagnostics]
    _report(kg.diagnostics, everything=False)
    for diag in memory.diagnostics:
        click.echo(click.style(diag.format(), fg="yellow"), err=True)
    if as_json:
        rows = []
        for item in shown:
            key = item.concept.key
            fields = _memory_fields(memory, key, on, today)
            fields["recall_today"] = _memory_fields(now, key, today, today)["recall_today"]
            rows.append({"id": key, "title": item.concept.title, "level": item.concept.level,
                         "unblocks": item.concept.unblocks, **fields,
                         "value": round(item.value, 4)})
        _emit_json({"on": on.isoformat(), "today": today.isoformat(), "retention": retention,
                    "review": rows, "more": len(found) - len(shown)})
    else:
        day = "today" if on == today else on.isoformat()
        if shown:
            click.echo(click.style(f"Due or fading {day} (recall below {retention:.0%}), "
                                   f"{len(found)} concept{'s' * (len(found) != 1)}, "
                                   "most valuable first:", bold=True))
            headers = ["CONCEPT", "RECALL", *(["TODAY"] if on != today else []), "STABILITY",
                       "LAST PRACTICE", "REVIEWS", "DUE", "UNBLOCKS"]
            rows_text = []
            for item in shown:
                state, key = item.memory, item.concept.key
                credits = f" +{len(state.credits)} implicit" if state.credits else ""
                rows_text.append([
                    item.concept.title, _percent(item.recall),
                    *([_percent(now.recall(key, today))] if on != today else []),
                    f"{state.stability:.1f} d", state.last_practice.isoformat(),
                    f"{len(state.reviews)}{credits}", state.due.isoformat(),
                    str(item.concept.unblocks)])
            click.echo(_table(headers, rows_text))
            if len(found) > len(shown):
                click.echo(f"… and {len(found) - len(shown)} more (--limit)")
        else:
            practiced = len(memory.concepts)
            click.echo(f"Nothing due or fading {day}: {practiced} practiced concept"
                       f"{'s' * (practiced != 1)}, each recalled at {retention:.0%} or better.")
    ctx.exit(_exit_status(diagnostics))


@review.command(name="done")
@vault_options
@click.argument("concept_name", metavar="CONCEPT")
@click.option("--result", type=click.Choice(REVIEW_RESULTS), default="good",
              show_default=True, help="How it went: again (could not recall), hard, good, easy.")
@click.option("--date", "day", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="When you practiced (default today); never after today.")
@click.option("--minutes", type=click.FloatRange(min=0), metavar="M", help="How long it took.")
@click.option("--practice", type=click.Choice(PRACTICE_KINDS), default="exercise",
              show_default=True, help="Solved by hand, implemented, or applied.")
@click.pass_context
def review_done(ctx: click.Context, concept_name: str, result: str, day: Any, minutes: float | None,
                practice: str) -> None:
    """Record a review of CONCEPT: writes a small practice note and prints its path.

    The note (type practice, the concept, result, minutes, date, tag review)
    comes from the template note-review.md.j2 and goes where practice notes go
    ([folders] in kb.toml); an existing note is never overwritten. It is a
    plain file in your vault and in git: open it to write down what you did,
    delete it to take the review back.

    Example:

        kb review done eigenvalues --result hard --minutes 25
    """
    from kb.authoring import record_review

    today = _today()
    when = day.date() if day else today
    if when > today:
        raise click.UsageError(f"--date {when.isoformat()} is after today ({today.isoformat()}); "
                               "a review is recorded once it happened")
    with _user_errors():
        session = _load(ctx, quiet=True, writes=True)
        recorded = record_review(session, concept_name, result=cast("ReviewResult", result),
                                 day=when, practice=cast("PracticeKind", practice),
                                 minutes=minutes, today=today)
    click.echo(_shown_path(recorded.path))
    if recorded.earlier:
        click.echo(f"kb: note: {recorded.earlier} already records a review of {recorded.concept} "
                   f"on {when.isoformat()}; only a day's first review counts", err=True)
    memory = _load(ctx, quiet=True).memory(today)
    state = memory.concepts.get(recorded.concept)
    if state is not None:
        recall = memory.recall(recorded.concept, today)
        click.echo(f"{recorded.title}: recall {_percent(recall)} today, stability "
                   f"{state.stability:.1f} days, next due {state.due.isoformat()}", err=True)


# -- plans: kb plan -------------------------------------------------------------------------
@main.command()
@vault_options
@json_option
@click.argument("targets", metavar="TARGET...", nargs=-1, required=True)
@click.option("--by", "by_date", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="The exam day: plan every day from today to the day before. Without it: "
                   "today's session.")
@click.option("--minutes-per-day", type=click.IntRange(min=1), metavar="M",
              help="Time a day (default 120 minutes).")
@click.option("--hours-per-day", type=click.FloatRange(min=0, min_open=True), metavar="H",
              help="Time a day in hours (instead of --minutes-per-day).")
@click.option("--days-off", "days_off", metavar="DATE", multiple=True,
              type=click.DateTime(["%Y-%m-%d"]), help="A day with no study (repeat for several).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "ics"]), default="table",
              show_default=True, help="md pastes into a note; ics imports into a calendar.")
@click.pass_context
def plan(ctx: click.Context, as_json: bool, targets: tuple[str, ...], by_date: Any,
         minutes_per_day: int | None, hours_per_day: float | None, days_off: tuple[Any, ...],
         fmt: str) -> None:
    """A day-by-day plan from today to an exam: what to learn, practice and review.

    TARGET is a concept, a series slug from kb.toml or a tag (#tag); the plan
    covers the targets and all their prerequisites, each classed at the exam
    day: solid (recall at least `retention`), fading (one review, placed as
    late as still useful), read only (practice), missing (study and
    practice). Prerequisites come first, subjects are interleaved, the last
    day is kept for mixed review. Minutes come from your own practice notes'
    `minutes` (defaults otherwise), shown as ranges. What does not fit is
    dropped by least value per minute and listed. See docs/plan.md.

    Example:

        kb plan lora bayes-theorem --by 2026-12-01 --hours-per-day 2
        kb plan lora --by 2026-12-01 --format ics > plan.ics
    """
    import datetime as dt

    from kb.plan import PlanError, make_plan, make_session, resolve_targets

    if minutes_per_day is not None and hours_per_day is not None:
        raise click.UsageError("give --minutes-per-day or --hours-per-day, not both")
    budget = minutes_per_day if minutes_per_day is not None else (
        round(hours_per_day * 60) if hours_per_day is not None else 120)
    if budget < 1:
        raise click.UsageError("--hours-per-day is less than a minute")
    today = _today()
    by = by_date.date() if by_date else None
    if by is not None and by <= today:
        raise click.UsageError(f"--by {by.isoformat()} is not after today ({today.isoformat()})")
    session = _load(ctx, quiet=as_json or fmt != "table")
    kg = session.graph
    memory = session.memory(today)
    with _user_errors():
        keys = resolve_targets(kg, targets, session.config.series)
        try:
            result = (make_plan(kg, memory, keys, today=today, by=by, minutes_per_day=budget,
                                days_off=[d.date() for d in days_off]) if by is not None else
                      make_session(kg, memory, keys, today=today, minutes_per_day=budget))
        except PlanError as exc:
            raise click.UsageError(str(exc)) from None
    _report(kg.diagnostics, everything=False)
    _print_plan(result, as_json, fmt, dt.datetime.now(dt.UTC))
    ctx.exit(_exit_status(kg.diagnostics))


def _print_plan(result: Any, as_json: bool, fmt: str, stamp: Any) -> None:
    from kb.plan import CLASSES, item_text, minutes_range, to_ics, to_json, to_markdown

    if as_json:
        _emit_json(to_json(result))
        return
    if fmt == "md":
        click.echo(to_markdown(result), nl=False)
        return
    if fmt == "ics":
        click.echo(to_ics(result, stamp=stamp), nl=False)
        return
    when = f"by {result.by.isoformat()}" if result.by else f"today, {result.today.isoformat()}"
    counts = ", ".join(f"{sum(1 for v in result.classes.values() if v == c)} {c}" for c in CLASSES)
    click.echo(click.style(f"Plan for {', '.join(result.targets)} {when}: {len(result.classes)} "
                           f"concepts ({counts}), {result.minutes_per_day} min a day", bold=True))
    for day in result.days:
        click.echo()
        head = f"{day.day.strftime('%a')} {day.day.isoformat()}"
        if day.items:
            click.echo(click.style(f"{head}  about {day.minutes} min", bold=True))
            click.echo(_table(["TODO", "MINUTES", "ID"],
                              [[item_text(i), minutes_range(i), i.concept] for i in day.items]))
        elif day.mixed_review:
            click.echo(click.style(f"{head}  mixed review", bold=True))
            click.echo("  " + ", ".join(day.mixed_review))
        else:
            click.echo(click.style(f"{head}  nothing planned", bold=True))
    if result.dropped:
        click.echo()
        click.echo(click.style(f"Does not fit ({len(result.dropped)}):", bold=True))
        click.echo(_table(["TODO", "MINUTES", "WHY"],
                          [[item_text(i), minutes_range(i), why] for i, why in result.dropped]))
    for note in result.notes:
        click.echo(f"kb: note: {note}", err=True)


def _write_rendered(session: Session, rendered: list[Any], force: bool) -> int:
    """Write each article and the images it shows, saying what happened to each; a refused
    hand edit is an error (exit 1). Returns how many were refused."""
    from kb.articles import ArticleWriter

    writer = ArticleWriter(session, force=force)
    refused = 0
    for item in rendered:
        if item.article is not None:
            _report(item.article.diagnostics, everything=True)
        written = writer.write(item)
        for path in written.copied:
            click.echo(f"{path}: copied")
        if written.refused is not None:
            click.echo(click.style(f"kb: error: {written.refused}", fg="red"), err=True)
            refused += 1
            continue
        note = {"written": "written", "unchanged": "unchanged",
                "replaced-edit": "written (your edit was replaced: --force)"}[str(written.outcome)]
        click.echo(f"{written.path}: {note}")
    if writer.problem:
        click.echo(f"kb: warning: {writer.problem}", err=True)
    return refused


@main.command()
@vault_options
@click.argument("target")
@click.option("--template", "template", metavar="T",
              help="Template name, looked up in the vault's templates/ then the built-ins "
                   "(article.md.j2, article.qmd.j2). Default: `template` in kb.toml.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the article instead of writing it.")
@click.option("--force", is_flag=True, help="Overwrite an article even if it was edited by hand.")
@click.pass_context
def article(ctx: click.Context, target: str, template: str | None, to_stdout: bool, force: bool) -> None:
    """Write a draft article on TARGET: it and its prerequisites, in learning order.

    Each concept with notes becomes a section: its concept note, its reading notes
    (by source and locator), then its practice notes. Sources become References;
    prerequisites with no notes are listed as not yet covered. The draft goes to
    articles/<target>.md (or .qmd); an article you edited by hand is never
    overwritten unless you pass --force.

    Example:

        kb article pca --template article.qmd.j2
    """
    from kb.articles import render_article

    session = _load(ctx, writes=not to_stdout)
    kg = session.graph
    _report(kg.diagnostics, everything=False)
    with _user_errors():
        rendered = render_article(session, target, template=template)
        if to_stdout:
            if rendered[0].article is not None:
                _report(rendered[0].article.diagnostics, everything=True)
            click.echo(rendered[0].text, nl=False)
            refused = 0
        else:
            refused = _write_rendered(session, rendered, force)
    ctx.exit(1 if refused else _exit_status(kg.diagnostics))


@main.command()
@vault_options
@click.option("--template", "template", metavar="T", help="Template for every part.")
@click.option("--force", is_flag=True, help="Overwrite articles even if edited by hand.")
@click.pass_context
def build(ctx: click.Context, template: str | None, force: bool) -> None:
    """Render every [[series]] in kb.toml, then show the gaps.

    Part N covers only the concepts no earlier part covered and links back to the
    part that did. Parts go to articles/<series slug>/NN-<part>.md.

    Example:

        kb build
    """
    from kb.articles import check_series_folders, render_series

    session = _load(ctx, writes=True)
    kg = session.graph
    _report(kg.diagnostics, everything=False)
    series_list = session.config.series
    refused = 0
    with _user_errors():
        check_series_folders(series_list)
        # Everything is rendered before anything is written: a bad template or note in the
        # last series leaves the articles folder as it was.
        rendered = [render_series(session, series, template=template) for series in series_list]
        for items in rendered:
            refused += _write_rendered(session, items, force)
    if not series_list:
        click.echo("No [[series]] in kb.toml: nothing to build (see README, Series).")
    click.echo()
    _print_gaps(session, "exercise", as_json=False, report=False)
    ctx.exit(1 if refused else _exit_status(kg.diagnostics))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
