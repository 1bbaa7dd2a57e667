"""`kb new`: what a new note says, checked against the vault. Pure: rendering and writing
happen in kb.render and kb.write."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from kb.errors import UnknownConceptError
from kb.graph import KnowledgeGraph
from kb.mastery import closest, find_concept
from kb.model import Note
from kb.resolve import normalize
from kb.slug import slugify
from kb.sources import source_notes


@dataclass(frozen=True)
class NoteRequest:
    """Everything `kb new TYPE TITLE [options]` was told."""

    type: str
    title: str
    concepts: tuple[str, ...] = ()
    source: str | None = None
    locator: str | None = None
    practice: str | None = None
    prerequisites: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    source_fields: dict[str, Any] = field(default_factory=dict)  # kind, authors, year … for sources


def note_stem(title: str) -> str:
    """The file name (without .md) for a note titled `title`: a slug that keeps every script."""
    return slugify(title, "note")


def template_name(note_type: str) -> str:
    return f"note-{note_type}.md.j2"


def _hint(suggestions: list[str]) -> str:
    return f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""


def _concept_name(kg: KnowledgeGraph, name: str, warnings: list[str]) -> str:
    try:
        return find_concept(kg, name).key
    except UnknownConceptError as exc:
        warnings.append(f"concept '{name}' is not in the vault yet{_hint(exc.suggestions)}; "
                        "the note names it anyway")
        return name.strip()


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
    """Every variable a note template sees; the README documents each one."""
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
