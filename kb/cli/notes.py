"""Commands that start a vault and write notes into it: `kb init`, `kb new`, `kb sources`
(and `kb sources import`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from kb.errors import (
    printable,
)
from kb.notes.model import NOTE_TYPES, PRACTICE_KINDS, SOURCE_STATUSES

if TYPE_CHECKING:
    from kb.notes.model import NoteType, SourceStatus

from kb.cli.common import (
    current_day,
    emit_json,
    exit_status,
    json_option,
    load_session,
    main,
    report_diagnostics,
    shown_path,
    table,
    user_errors,
    vault_options,
)


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
    from kb.vault.scaffold import init_vault

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

    from kb.notes.authoring import create_note
    from kb.notes.capture import NoteRequest, check_text_values, template_name

    if not title.strip():
        raise click.UsageError("TITLE is empty")
    if practice and note_type != "practice":
        raise click.UsageError("--practice is only for practice notes")
    asked = NoteRequest(type=cast("NoteType", note_type), title=title.strip(), concepts=concepts,
                        source=source, locator=locator, practice=practice,
                        prerequisites=prerequisites, tags=tags)
    with user_errors():
        check_text_values(asked)  # before the vault is read: refused whatever the vault holds
        session = load_session(ctx, quiet=True, writes=True)
        created = create_note(session, asked, today=current_day())
    for warning in created.warnings:
        click.echo(f"kb: warning: {warning}", err=True)
    if created.path.stem != created.stem:
        where = f" ({', '.join(created.taken_by)})" if created.taken_by else ""
        click.echo(f"kb: note: a note named '{created.stem}' exists{where}; this one is "
                   f"'{created.path.stem}'", err=True)
    for diag in created.problems:
        click.echo(f"kb: warning: the template {template_name(note_type)} made a note with a "
                   f"problem: {diag.format()}", err=True)
    click.echo(shown_path(created.path))
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

    from kb.articles.bibtex import citekey_of
    from kb.articles.sources import source_statuses

    if ctx.invoked_subcommand is not None:
        return
    session = load_session(ctx, quiet=as_json)
    kg, config = session.graph, session.config
    found = source_statuses(kg, today=current_day(), stalled_days=config.stalled_days,
                            modified=session.vault.modified)
    if status:
        found = [s for s in found if s.status == status]
    report_diagnostics(kg.diagnostics, everything=False)
    if as_json:
        emit_json({"sources": [{
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
        click.echo(table(["STATUS", "SOURCE", "NOTES", "LAST NOTE", "CONCEPTS"], rows))
        stalled = [s for s in found if s.stalled]
        if stalled:
            click.echo()
            click.echo(f"{len(stalled)} source{'s' * (len(stalled) != 1)} marked reading with no new "
                       f"note for over {config.stalled_days} days: finish, drop or pick "
                       "them up again.")
    else:
        click.echo("No source notes" + (f" with status {status}." if status else
                                        " yet: kb new source TITLE, or kb sources import FILE.bib."))
    ctx.exit(exit_status(kg.diagnostics))


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

    from kb.notes.authoring import ImportLine, import_bibtex, read_bibtex_file, refuse_on_config_errors
    from kb.vault.paths import NotReadableError

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

    session = load_session(ctx, quiet=True, writes=not dry_run)
    if not dry_run:
        with user_errors():  # before the file is even read, as kb new does
            refuse_on_config_errors(session)
    try:
        text, not_utf8 = read_bibtex_file(bib_file)
    except (OSError, NotReadableError) as exc:
        raise click.ClickException(f"cannot read {printable(bib_file)}: {exc}") from None
    if not_utf8:
        click.echo(f"kb: warning: {bib_file} is not UTF-8; read it as Latin-1", err=True)
    with user_errors():
        report = import_bibtex(session, text, bib_file, status=cast("SourceStatus", status),
                               dry_run=dry_run, today=current_day(), on_line=say)
    report_diagnostics(report.problems, everything=True)
    verb = "would be created" if dry_run else "created"
    errors = report.errors
    click.echo(f"{report.entries} entries: {report.count('created', 'would-create')} {verb}, "
               f"{report.count('already-in')} already in the vault, {report.count('differs')} "
               "differ from their note" + (f"; {errors} skipped (see above)" if errors else ""))
    ctx.exit(1 if errors else 0)
