"""Writing new notes into a vault: `kb new`, `kb sources import`, `kb review done`.

Each is one function that takes a `Session` and what the user asked for, checks it against
the vault, renders the note from its template, parses it back (a note kb could not read is
never written) and claims a name no other note has. It returns what happened; the CLI only
prints it. Nothing here overwrites a file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import ConfigErrorsError, Diagnostic, KbError
from kb.notes.capture import NoteRequest
from kb.notes.model import PracticeKind, ReviewResult, SourceStatus
from kb.session import Session

BIB_MAX_BYTES = 256 << 20  # a BibTeX library, however large, is not a gigabyte


class ReviewTemplateError(KbError):
    """The review template makes a note that does not record the review asked for."""


def refuse_on_config_errors(session: Session) -> None:
    """Commands that write notes stop when kb.toml is wrong: a folder kb.toml names badly
    would otherwise send the note somewhere the user did not choose."""
    problems = session.config_errors()
    if problems:
        raise ConfigErrorsError(problems)


# -- kb new -------------------------------------------------------------------------------
@dataclass
class CreatedNote:
    path: Path
    stem: str  # the name the title gave; path.stem differs when that name was taken
    warnings: list[str]  # names the vault does not know, kept as written
    taken_by: list[str]  # when the name was taken: the notes (paths) that hold it
    problems: list[Diagnostic]  # lesser diagnostics of the note the template made


def create_note(session: Session, asked: NoteRequest, *, today: dt.date) -> CreatedNote:
    """`kb new`: the note `asked` describes, written where notes of its type go."""
    from kb.graph.resolve import normalize
    from kb.notes.capture import (
        check_new_concept,
        check_request,
        check_text_values,
        note_context,
        note_stem,
        template_name,
        verify_readable,
    )
    from kb.render import environment, render
    from kb.vault.write import create_new_file

    check_text_values(asked)
    refuse_on_config_errors(session)
    if asked.type == "concept":
        check_new_concept(session.graph, asked.title)
    request, warnings = check_request(session.graph, asked)
    stem = note_stem(request.title)
    folder = session.folder_for(asked.type)
    template = template_name(asked.type)
    text = render(environment(session.vault.templates_dir), template,
                  note_context(request, today=today, stem=stem))
    problems = verify_readable(text, template)
    path = create_new_file(folder, stem, ".md", text, session.taken_names())
    taken_by = ([n.path for n in session.vault.notes if normalize(n.id) == normalize(stem)]
                if path.stem != stem else [])
    return CreatedNote(path, stem, warnings, taken_by, problems)


# -- kb sources import --------------------------------------------------------------------
@dataclass
class ImportLine:
    """One entry's outcome: `created`, `would-create`, `already-in` or `differs`."""

    outcome: str
    key: str
    path: str  # vault-relative: the note written, or the one that already holds the key
    differences: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    entries: int
    lines: list[ImportLine]
    problems: list[Diagnostic]  # sorted; errors are entries skipped

    def count(self, *outcomes: str) -> int:
        return sum(1 for line in self.lines if line.outcome in outcomes)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.problems if d.severity == "error")


def read_bibtex_file(bib_file: str) -> tuple[str, bool]:
    """The text of a .bib file, and whether it had to be read as Latin-1 (not UTF-8)."""
    from kb.vault.paths import read_regular_file

    data = read_regular_file(bib_file, BIB_MAX_BYTES)
    try:
        return data.decode("utf-8-sig"), False
    except UnicodeDecodeError:
        return data.decode("latin-1"), True


def import_bibtex(session: Session, text: str, bib_file: str, *, status: SourceStatus,
                  dry_run: bool, today: dt.date,
                  on_line: Callable[[ImportLine], None] | None = None) -> ImportReport:
    """`kb sources import`: one source note per entry of `text` (the file `bib_file`) whose
    citation key no source note has. An entry already in the vault is reported (with what
    differs) and its note left alone; a malformed entry is an error at its line and the others
    still import. `on_line` hears each outcome as it happens, so a write that fails halfway
    leaves the notes already written said."""
    from kb.articles.bibtex import parse_bibtex
    from kb.articles.sources import plan_import
    from kb.graph.resolve import normalize
    from kb.notes.capture import note_context, one_line, template_name, verify_readable
    from kb.notes.slug import file_stem
    from kb.render import environment, render
    from kb.vault.write import create_new_file

    if not dry_run:
        refuse_on_config_errors(session)
    entries, problems = parse_bibtex(text, bib_file)
    env = environment(session.vault.templates_dir)
    taken = session.taken_names()
    folder = session.folder_for("source")
    template = template_name("source")
    seen: set[str] = set()
    lines: list[ImportLine] = []

    def outcome(line: ImportLine) -> None:
        lines.append(line)
        if on_line is not None:
            on_line(line)

    for item in plan_import(session.graph, entries):
        key = item.entry.key
        if normalize(key) in seen:
            problems.append(Diagnostic(bib_file, item.entry.line, "error", "bibtex-duplicate",
                                       f"citation key '{key}' differs from an earlier one only "
                                       "in case; this entry was skipped"))
            continue
        seen.add(normalize(key))
        if item.existing is not None:
            outcome(ImportLine("differs" if item.differences else "already-in", key,
                               item.existing.path, item.differences))
            continue
        stem = file_stem(key, "source")
        request = NoteRequest(type="source", title=one_line(item.entry.title),
                              source_fields={**item.entry.note_fields(), "status": status})
        note_text = render(env, template, note_context(request, today=today, stem=stem))
        try:
            verify_readable(note_text, template)
        except KbError as exc:
            problems.append(Diagnostic(bib_file, item.entry.line, "error", "bibtex-unwritable",
                                       f"entry '{key}': {exc}"))
            continue
        if dry_run:
            outcome(ImportLine("would-create", key, session.vault.relpath(folder / f"{stem}.md")))
            continue
        path = create_new_file(folder, stem, ".md", note_text, taken)
        taken.add(normalize(path.stem))
        outcome(ImportLine("created", key, session.vault.relpath(path)))
    problems.sort(key=Diagnostic.sort_key)
    return ImportReport(len(entries), lines, problems)


# -- kb review done -----------------------------------------------------------------------
@dataclass
class RecordedReview:
    path: Path
    concept: str  # the concept's key
    title: str
    earlier: str | None  # a note that already records a review of it that day


def record_review(session: Session, concept_name: str, *, result: ReviewResult, day: dt.date,
                  practice: PracticeKind, minutes: float | None, today: dt.date) -> RecordedReview:
    """`kb review done`: a small practice note recording one review, from note-review.md.j2.
    Refused (nothing written) when the template's note would not record this very review."""
    from kb.graph.mastery import find_concept
    from kb.learning.memory import REVIEW_TEMPLATE, review_events, review_note_context, review_note_problems
    from kb.notes.parse import parse_note
    from kb.render import environment, render
    from kb.vault.write import create_new_file

    refuse_on_config_errors(session)
    concept = find_concept(session.graph, concept_name)
    stem, context = review_note_context(concept, result=result, day=day, practice=practice,
                                        minutes=minutes)
    folder = session.folder_for("practice")
    text = render(environment(session.vault.templates_dir), REVIEW_TEMPLATE, context)
    notes_dir = session.vault.notes_dir.resolve()
    rel = (folder / stem).resolve().relative_to(notes_dir).as_posix()
    problems = review_note_problems(parse_note(f"{stem}.md", rel, text.encode("utf-8")), concept,
                                    result=result, day=day)
    if problems:
        raise ReviewTemplateError(
            f"the template {REVIEW_TEMPLATE} does not record this review ({'; '.join(problems)}); "
            "nothing was written. Fix the template in your templates folder, or delete it to use "
            "the built-in one.")
    path = create_new_file(folder, stem, ".md", text, session.taken_names())
    earlier = [r.path for r in review_events(session.graph, today)[0]
               if r.concept == concept.key and r.day == day]
    return RecordedReview(path, concept.key, concept.title, earlier[0] if earlier else None)
