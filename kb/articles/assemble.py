"""Article assembly: a concept and its prerequisites, in learning order, as a pure value.

Note bodies are carried over byte for byte except where Obsidian syntax must become
publishable Markdown (see kb.articles.bodies): links, embeds, images, comments, callouts, heading
levels and colliding footnote labels. Code, math, tables and HTML are untouched."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.articles.bibtex import citekey_of
from kb.articles.bodies import BodyWriter, citation
from kb.articles.publish import is_rtl
from kb.errors import Diagnostic
from kb.graph.concepts import Concept, KnowledgeGraph
from kb.graph.mastery import learning_path
from kb.graph.resolve import normalize
from kb.notes.model import Note
from kb.notes.slug import slugify, unique

if TYPE_CHECKING:
    from kb.vault.load import Vault

__all__ = ["Article", "Entry", "Reference", "Section", "assemble", "citation"]

SECTION_LEVEL = 2  # `## Concept`; a note's own headings go below where it is placed


@dataclass
class Entry:
    """One note as it appears in an article."""

    note: Note
    key: str
    title: str
    body: str
    source: str | None  # source key
    source_title: str | None
    source_note: Note | None  # the note `source:` resolves to, if any
    citekey: str | None  # the source's citation key, when `source:` is a source note
    locator: str | None
    practice: str | None
    date: dt.date | None
    rtl: bool = False  # mostly right-to-left text: templates wrap it in `::: {dir="rtl"}`


@dataclass
class Section:
    concept: Concept
    anchor: str
    title: str
    level: str
    intro: Entry | None  # the concept note
    readings: list[Entry] = field(default_factory=list)
    practice: list[Entry] = field(default_factory=list)


@dataclass
class Reference:
    key: str
    title: str
    authors: list[str]
    year: int | None
    kind: str | None
    url: str | None
    locators: list[str]
    note: Note | None
    citekey: str | None = None  # None when the source has no source note


@dataclass
class Article:
    target: Concept
    slug: str
    title: str
    sections: list[Section]
    missing: list[dict[str, Any]]  # [{"id", "title", "needed_by"}]
    exercises: list[Concept]  # concepts in the article that were only read
    references: list[Reference]
    covered_elsewhere: list[dict[str, str]]  # [{"id", "title", "href"}] for series parts
    categories: list[str]
    date: dt.date | None
    assets: dict[str, Path] = field(default_factory=dict)  # "assets/x-1a2b.png" → file to copy
    diagnostics: list[Diagnostic] = field(default_factory=list)  # missing images, embeds
    path: list[Concept] = field(default_factory=list)  # the whole learning path, in order
    edges: list[tuple[str, str]] = field(default_factory=list)  # (prerequisite, dependent) keys


# -- assembly ------------------------------------------------------------------------------
def _natural(text: str) -> tuple[Any, ...]:
    """`§6.10` after `§6.2`: compare digit runs as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text.casefold()))


@dataclass(frozen=True)
class _Source:
    key: str
    title: str
    note: Note | None  # the source note, when `source:` resolves to one


def _source_of(kg: KnowledgeGraph, note: Note) -> _Source | None:
    """The note's `source:` resolved once: its key, its title, its source note if any."""
    if note.source is None:
        return None
    found = kg.resolver.resolve(note.source.target, note)
    if found.kind == "note" and found.note is not None:
        return _Source(kg.key_of(found.note), found.note.title, found.note)
    return _Source(note.source.target, note.source.target, None)


def _reading_key(note: Note, source: _Source | None) -> tuple[Any, ...]:
    return (normalize(source.title) if source else "", _natural(note.locator or ""),
            note.order if note.order is not None else float("inf"),
            note.date or dt.date.max, note.path)


def assemble(kg: KnowledgeGraph, target: Concept, *, vault: Vault | None = None,
             covered: dict[str, tuple[str, str]] | None = None,
             slug: str | None = None, citations: str = "plain", quarto: bool | None = None) -> Article:
    """Build the article for `target`. `vault` is where the images its notes show are found
    (without it, images are reported missing). `covered` maps concept keys an earlier series part
    already covers to (href of that part, anchor), so they are linked, not repeated.
    With `citations="quarto"`, body links to source notes become Pandoc citations; `quarto`
    (default: the same as citations) turns callouts into Quarto callouts."""
    quarto = citations == "quarto" if quarto is None else quarto
    covered = covered or {}
    path = learning_path(kg, target)
    in_article = [c for c in path if c.notes and c.key not in covered]
    anchors: dict[str, str] = {}
    taken: set[str] = set()
    for concept in in_article:
        anchors[concept.key] = unique(slugify(concept.key, "section"), taken)
    placed: dict[int, str] = {}  # id(note) → concept key of the section it appears in
    for concept in in_article:
        for note in concept.notes:
            placed.setdefault(id(note), concept.key)
    placed_before: dict[int, tuple[str, str]] = {}  # id(note) → (href, anchor) in an earlier part
    for key, where in covered.items():
        for note in kg.concepts[key].notes if key in kg.concepts else []:
            placed_before.setdefault(id(note), where)
    sources = {id(n): _source_of(kg, n) for c in in_article for n in c.notes}
    writer = BodyWriter(kg, vault, anchors=anchors, placed=placed, placed_before=placed_before,
                        covered=covered, citations=citations, quarto=quarto)

    used_footnotes: set[str] = set()
    sections = []
    for concept in in_article:
        notes = [n for n in concept.notes if placed.get(id(n)) == concept.key]
        intro_note = next((n for n in notes if n is concept.definition), None)
        readings = sorted((n for n in notes if n.type in ("reading", "concept") and n is not intro_note),
                          key=lambda n: _reading_key(n, sources[id(n)]))
        practice = sorted((n for n in notes if n.type == "practice"),
                          key=lambda n: (n.order if n.order is not None else float("inf"),
                                         n.date or dt.date.max, n.path))

        def entry(note: Note, base: int) -> Entry:
            source = sources[id(note)]
            return Entry(note=note, key=kg.key_of(note), title=note.title,
                         body=writer.body(note, base, used_footnotes),
                         source=source.key if source else None,
                         source_title=source.title if source else None,
                         source_note=source.note if source else None,
                         citekey=(citekey_of(source.note) if source and source.note
                                  and source.note.type == "source" else None),
                         locator=note.locator, practice=note.practice, date=note.date,
                         rtl=is_rtl(note.body))

        sections.append(Section(
            concept=concept, anchor=anchors[concept.key], title=concept.title, level=concept.level,
            intro=entry(intro_note, SECTION_LEVEL) if intro_note else None,
            readings=[entry(n, SECTION_LEVEL + 1) for n in readings],
            practice=[entry(n, SECTION_LEVEL + 2) for n in practice],
        ))

    prereqs = kg.prerequisite_graph()
    keys_in_path = {c.key for c in path}
    missing = [{"id": c.key, "title": c.title,
                "needed_by": sorted((s for s in prereqs.successors(c.key) if s in keys_in_path),
                                    key=normalize)}
               for c in path if not c.notes]
    references = _references(sections, writer.linked_sources, kg)
    tags = sorted({t for s in sections for e in _entries(s) for t in e.note.tags}, key=normalize)
    dates = [e.date for s in sections for e in _entries(s) if e.date]
    return Article(
        target=target, slug=slug or slugify(target.key, "article"), title=target.title,
        sections=sections, missing=missing,
        exercises=[s.concept for s in sections if s.level == "read"],
        references=references,
        covered_elsewhere=[{"id": c.key, "title": c.title, "href": f"{covered[c.key][0]}#{covered[c.key][1]}"}
                           for c in path if c.key in covered],
        categories=tags, date=max(dates) if dates else None,
        assets=writer.assets, diagnostics=writer.diagnostics, path=list(path),
        edges=sorted((u, v) for u, v in prereqs.subgraph(keys_in_path).edges),
    )


def _entries(section: Section) -> list[Entry]:
    return ([section.intro] if section.intro else []) + section.readings + section.practice


def _references(sections: list[Section], linked: list[Note] | None = None,
                kg: KnowledgeGraph | None = None) -> list[Reference]:
    """Every source cited by an included note (its `source:`, or a link in its body to a
    source note), once, in order of first citation."""
    found: dict[str, Reference] = {}
    for section in sections:
        for entry in _entries(section):
            if entry.source is None:
                continue
            if entry.source not in found:
                note = entry.source_note
                source_note = note if note is not None and note.type == "source" else None
                found[entry.source] = Reference(
                    key=entry.source, title=entry.source_title or entry.source,
                    authors=source_note.authors if source_note else [],
                    year=source_note.year if source_note else None,
                    kind=source_note.kind if source_note else None,
                    url=source_note.url if source_note else None,
                    locators=[], note=source_note, citekey=entry.citekey)
            ref = found[entry.source]
            if entry.locator and entry.locator not in ref.locators:
                ref.locators.append(entry.locator)
    for note in linked or []:
        key = kg.key_of(note) if kg is not None else note.id
        if key not in found:
            found[key] = Reference(key=key, title=note.title, authors=note.authors, year=note.year,
                                   kind=note.kind, url=note.url, locators=[], note=note,
                                   citekey=citekey_of(note))
    for ref in found.values():
        ref.locators.sort(key=_natural)
    return list(found.values())
