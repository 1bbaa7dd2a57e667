"""`kb new`: what a new note says, checked against the vault. Pure: rendering and writing
happen in kb.render and kb.vault.write."""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

from kb.articles.sources import source_notes
from kb.errors import BadArgumentError, Diagnostic, KbError, UnknownConceptError, printable
from kb.graph.concepts import KnowledgeGraph
from kb.graph.mastery import closest, find_concept
from kb.graph.resolve import normalize
from kb.notes.model import Note, NoteType
from kb.notes.slug import slugify


@dataclass(frozen=True)
class NoteRequest:
    """Everything `kb new TYPE TITLE [options]` was told."""

    type: NoteType
    title: str
    concepts: tuple[str, ...] = ()
    source: str | None = None
    locator: str | None = None
    practice: str | None = None
    prerequisites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source_fields: dict[str, Any] = field(default_factory=dict)  # kind, authors, year … for sources


class NoteExistsError(KbError):
    """`kb new concept X` where the vault already has a concept note for X."""


class UnwritableNoteError(KbError):
    """The rendered note would not read back as written: nothing was written."""

    def __init__(self, template: str, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        details = "; ".join(f"line {d.line}: {d.message}" for d in diagnostics)
        super().__init__(f"the template {template} made a note kb could not read back ({details}); "
                         "nothing was written")


def text_problem(value: str) -> str | None:
    """Why a value given on the command line cannot go into a note, or None: bytes that were
    not UTF-8, or a control character (which would end the YAML line or forge one)."""
    for char in value:
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF:
            return "is not valid UTF-8"
        if unicodedata.category(char) == "Cc" and char != "\t" or code in (0x2028, 0x2029):
            return f"holds the control character U+{code:04X}"
    return None


def one_line(text: str) -> str:
    """`text` as one line: runs of white space (newlines from a wrapped .bib field) become one
    space, other control characters are dropped."""
    joined = " ".join(text.split())
    return "".join(ch for ch in joined if unicodedata.category(ch) != "Cc")


def check_text_values(request: NoteRequest) -> None:
    """Refuse what `kb new` cannot write into a note (see text_problem)."""
    named = [("TITLE", request.title), ("--source", request.source or ""),
             ("--locator", request.locator or ""),
             *(("--concept", c) for c in request.concepts),
             *(("--prerequisite", c) for c in request.prerequisites), *(("--tag", t) for t in request.tags)]
    for option, value in named:
        problem = text_problem(value)
        if problem:
            raise BadArgumentError(f"{option} '{printable(value)}' {problem}; kb will not write it "
                                   "into a note")


def verify_readable(text: str, template: str) -> list[Diagnostic]:
    """Parse a rendered note as kb will read it: refuse it if that gives an error; return the
    lesser diagnostics, to be shown."""
    from kb.notes.parse import parse_note

    found = parse_note("new.md", "new", text.encode("utf-8")).diagnostics
    errors = [d for d in found if d.severity == "error"]
    if errors:
        raise UnwritableNoteError(template, errors)
    return found


def note_stem(title: str) -> str:
    """The file name (without .md) for a note titled `title`: a slug that keeps every script."""
    return slugify(title, "note")


def template_name(note_type: str) -> str:
    return f"note-{note_type}.md.j2"


def _hint(suggestions: list[str]) -> str:
    return f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""


def _concept_name(kg: KnowledgeGraph, name: str, warnings: list[str]) -> str:
    """A concept as the vault knows it; a new one by the id `kb new concept NAME` would give
    it, so that writing its note later makes it one concept, not two."""
    try:
        return find_concept(kg, name).key
    except UnknownConceptError as exc:
        stem = note_stem(name)
        warnings.append(f"concept '{name}' is not in the vault yet{_hint(exc.suggestions)}; "
                        f"the note names it '{stem}', the id `kb new concept` will give it")
        return stem


def check_new_concept(kg: KnowledgeGraph, title: str) -> None:
    """`kb new concept TITLE` when a concept note for TITLE (by id, title or alias) exists:
    a second one would split the concept in two."""
    wanted = {normalize(title), normalize(note_stem(title))}
    for concept in kg.concepts.values():
        note = concept.definition
        if note is None:
            continue
        names = {normalize(concept.key), normalize(note.title), *(normalize(a) for a in note.aliases)}
        if wanted & names:
            raise NoteExistsError(
                f"the concept '{concept.title}' already has a note: {note.path}. To add to it, "
                f"write a reading or practice note about it (kb new reading TITLE --concept "
                f"{concept.key}); to make a different concept, give it another title")


def find_source(kg: KnowledgeGraph, name: str) -> Note | None:
    """A source note named by id, path, alias, title or citekey (any case); None if none."""
    found = kg.resolver.resolve(name)
    if found.kind == "note" and found.note is not None and found.note.type == "source":
        return found.note
    wanted = normalize(name.removesuffix(".md"))
    for note in source_notes(kg):
        if normalize(note.title) == wanted or (note.citekey and normalize(note.citekey) == wanted):
            return note
    return None


def _source_name(kg: KnowledgeGraph, name: str, warnings: list[str]) -> str:
    note = find_source(kg, name)
    if note is not None:
        return kg.key_of(note)
    found = kg.resolver.resolve(name)
    if found.kind == "note" and found.note is not None:
        warnings.append(f"'{name}' is a {found.note.type} note ({found.note.path}), not a source; "
                        "the note names it anyway")
        return kg.key_of(found.note)
    sources = source_notes(kg)
    names = {normalize(kg.key_of(n)): kg.key_of(n) for n in sources}
    names.update({normalize(n.title): kg.key_of(n) for n in sources})
    warnings.append(f"source '{name}' is not in the vault yet{_hint(closest(name, names))}; "
                    "the note names it anyway (create it with `kb new source` or "
                    "`kb sources import`)")
    return name.strip()


def check_request(kg: KnowledgeGraph, request: NoteRequest) -> tuple[NoteRequest, list[str]]:
    """Names as the vault knows them (a title or alias becomes the concept's id); a name the
    vault does not know is kept as written, with a warning that suggests the closest ones."""
    warnings: list[str] = []
    concepts = tuple(_concept_name(kg, c, warnings) for c in request.concepts)
    prerequisites = tuple(_concept_name(kg, c, warnings) for c in request.prerequisites)
    source = _source_name(kg, request.source, warnings) if request.source else None
    return replace(request, concepts=concepts, prerequisites=prerequisites, source=source), warnings


def note_context(request: NoteRequest, *, today: dt.date, stem: str) -> dict[str, Any]:
    """Every variable a note template sees; docs/publishing.md ("Templates") documents each one."""
    practice = request.practice or ("exercise" if request.type == "practice" else None)
    context: dict[str, Any] = {
        "type": request.type,
        "title": request.title,
        "id": stem,
        "date": today,
        "concepts": list(request.concepts),
        "source": request.source,
        "locator": request.locator,
        "practice": practice,
        "prerequisites": list(request.prerequisites),
        "tags": [t.lstrip("#") for t in request.tags],
        # source notes
        "citekey": None, "kind": None, "authors": [], "year": None, "venue": None, "url": None,
        "doi": None, "status": "to-read", "bibtex": {}, "abstract": None,
    }
    context.update(request.source_fields)
    return context
