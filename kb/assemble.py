"""Article assembly: a concept and its prerequisites, in learning order, as a pure value.

Note bodies are carried over byte for byte except for three rewrites: links, heading levels
and colliding footnote labels. Everything else — code, math, tables, HTML — is untouched."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kb.bibtex import citekey_of
from kb.graph import Concept, KnowledgeGraph
from kb.markdown import make_parser
from kb.mastery import learning_path
from kb.model import Link, Note
from kb.resolve import normalize
from kb.slug import slugify, unique

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


# -- links ------------------------------------------------------------------------------
def _display_text(link: Link) -> str:
    if link.label:
        return link.label
    if link.kind == "markdown":
        return link.target
    if not link.target:
        return link.fragment.lstrip("^") if link.fragment else ""
    return f"{link.target} > {link.fragment}" if link.fragment else link.target


def _replace_occurrence(line: str, literal: str, occurrence: int, replacement: str) -> str:
    """Replace the n-th `literal` on the line (tables show `\\|` where the parser saw `|`)."""
    for variant in (literal, literal.replace("|", "\\|")):
        start = -1
        for _ in range(occurrence + 1):
            start = line.find(variant, start + 1)
            if start < 0:
                break
        if start >= 0:
            return line[:start] + replacement + line[start + len(variant):]
    return line


# -- footnotes and headings ----------------------------------------------------------------
def _protected_lines(tokens: list[Any]) -> set[int]:
    """Body lines inside code, math or HTML blocks: never touched by footnote renaming."""
    protected: set[int] = set()
    for token in tokens:
        if token.type in ("fence", "code_block", "math_block", "html_block") and token.map:
            protected.update(range(token.map[0], token.map[1]))
    return protected


def _rename_footnotes(line: str, renames: dict[str, str]) -> str:
    parts = line.split("`")
    for index in range(0, len(parts), 2):  # even parts are outside code spans
        for old, new in renames.items():
            parts[index] = parts[index].replace(f"[^{old}]", f"[^{new}]")
    return "`".join(parts)


def _footnote_labels(tokens: list[Any]) -> list[str]:
    return [t.meta["label"] for t in tokens
            if t.type == "footnote_reference_open" and t.meta and "label" in t.meta]


def transform_body(note: Note, base_level: int, rewrite: Callable[[Link], str | None],
                   used_footnotes: set[str]) -> str:
    """The note's body with links rewritten, headings moved under `base_level`, its leading
    title heading dropped, and footnote labels already used in the article renamed."""
    body = note.body
    tokens = make_parser().parse(body)
    lines = body.split("\n")
    offset = note.body_line - 1

    by_line: dict[int, list[tuple[Link, str]]] = {}
    for link in note.links:
        if link.kind == "property" or link.line <= offset:
            continue
        replacement = rewrite(link)
        if replacement is not None:
            by_line.setdefault(link.line - 1 - offset, []).append((link, replacement))
    for index, edits in by_line.items():
        if 0 <= index < len(lines):
            for link, replacement in sorted(edits, key=lambda e: -e[0].occurrence):
                lines[index] = _replace_occurrence(lines[index], link.literal, link.occurrence,
                                                   replacement)

    renames: dict[str, str] = {}
    for label in dict.fromkeys(_footnote_labels(tokens)):
        renames[label] = unique(label, used_footnotes) if label in used_footnotes else label
        used_footnotes.add(renames[label])
    renames = {old: new for old, new in renames.items() if old != new}
    if renames:
        protected = _protected_lines(tokens)
        lines = [line if i in protected else _rename_footnotes(line, renames)
                 for i, line in enumerate(lines)]

    drop: set[int] = set()
    headings = [(p, t) for p, t in enumerate(tokens) if t.type == "heading_open" and t.map]
    if (headings and headings[0][0] == 0 and headings[0][1].tag == "h1"
            and tokens[1].content.strip() == note.title):
        start, end = headings.pop(0)[1].map or (0, 0)
        drop.update(range(start, end))  # the section or entry heading already shows the title
        if end < len(lines) and not lines[end].strip():
            drop.add(end)
    # The note's top heading level lands one below the heading it is placed under.
    shift = base_level + 1 - min((int(t.tag[1]) for _, t in headings), default=1)
    for position, token in headings:
        start, end = token.map or (0, 0)
        level = int(token.tag[1])
        text = tokens[position + 1].content.strip()
        new_level = max(1, min(6, level + shift))
        if token.markup in ("=", "-"):  # setext: fold into one ATX line
            lines[start] = "#" * new_level + " " + text
            drop.update(range(start + 1, end))
        else:
            stripped = lines[start].lstrip(" >")
            prefix = lines[start][: len(lines[start]) - len(stripped)]
            lines[start] = prefix + "#" * new_level + stripped[level:]
    kept = "\n".join(line for i, line in enumerate(lines) if i not in drop).strip("\n")
    return kept + "\n" if kept.strip() else ""


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


def citation(key: str) -> str:
    """A Pandoc citation of `key`: `@key`, or `@{key}` when the key holds characters a bare
    citation cannot end or contain."""
    if re.fullmatch(r"\w(?:[\w:.#$%&+?<>~/-]*\w)?", key):
        return f"@{key}"
    return "@{" + key.replace("}", "") + "}"


def assemble(kg: KnowledgeGraph, target: Concept, *,
             covered: dict[str, tuple[str, str]] | None = None,
             slug: str | None = None, citations: str = "plain") -> Article:
    """Build the article for `target`. `covered` maps concept keys an earlier series part
    already covers to (href of that part, anchor), so they are linked, not repeated.
    With `citations="quarto"`, body links to source notes become Pandoc citations."""
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

    def rewrite(origin: Note) -> Callable[[Link], str | None]:
        def for_link(link: Link) -> str | None:
            text = _display_text(link)
            found = kg.resolver.resolve(link.target, origin)
            if found.kind == "attachment":
                return None  # attachments are left as written
            if found.kind == "note" and found.note is not None:
                key = kg.key_of(found.note)
                if citations == "quarto" and found.note.type == "source":
                    cite = f"[{citation(citekey_of(found.note))}]"
                    return f"{link.label} {cite}" if link.label else cite
                concept_key = key if key in kg.concepts and found.note.type == "concept" else None
                section = (concept_key if concept_key in anchors
                           else placed.get(id(found.note)))
                if section is not None:
                    return f"[{text}](#{anchors[section]})"
                elsewhere = covered.get(concept_key or "") or placed_before.get(id(found.note))
                if elsewhere is not None:
                    return f"[{text}]({elsewhere[0]}#{elsewhere[1]})"
            return text
        return for_link

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
                         body=transform_body(note, base, rewrite(note), used_footnotes),
                         source=source.key if source else None,
                         source_title=source.title if source else None,
                         source_note=source.note if source else None,
                         citekey=(citekey_of(source.note) if source and source.note
                                  and source.note.type == "source" else None),
                         locator=note.locator, practice=note.practice, date=note.date)

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
    references = _references(sections)
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
    )


def _entries(section: Section) -> list[Entry]:
    return ([section.intro] if section.intro else []) + section.readings + section.practice


def _references(sections: list[Section]) -> list[Reference]:
    """Every source cited by an included note, once, in order of first citation."""
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
    for ref in found.values():
        ref.locators.sort(key=_natural)
    return list(found.values())
