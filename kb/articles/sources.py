"""Sources: how far along each one is, and what a BibTeX import would add. Pure queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from kb.articles.bibtex import BibSource, citekey_of, differences
from kb.graph.concepts import KnowledgeGraph
from kb.graph.resolve import normalize
from kb.notes.model import Note

STATUS_ORDER = ("reading", "to-read", "finished", "dropped")


def source_notes(kg: KnowledgeGraph) -> list[Note]:
    return [n for n in kg.notes.values() if n.type == "source"]


@dataclass
class SourceStatus:
    key: str
    note: Note
    status: str | None
    notes: list[Note]  # notes captured from it (not the source note itself)
    concepts: list[str]  # concept keys those notes are about
    last_note: dt.date | None  # newest of those notes (its `date`, else its file's mtime)
    stalled: bool


def _day(note: Note, modified: Mapping[str, float]) -> dt.date | None:
    """When a note was written: its `date`, else the day its file last changed."""
    if note.date is not None:
        return note.date
    stamp = modified.get(note.path)
    if stamp is None:
        return None
    try:
        return dt.date.fromtimestamp(stamp)
    except (OverflowError, OSError, ValueError):  # an mtime no calendar holds (year 30,000)
        return None


def source_statuses(kg: KnowledgeGraph, *, today: dt.date, stalled_days: int = 30,
                    modified: Mapping[str, float] | None = None) -> list[SourceStatus]:
    """Every source note with its notes, concepts and last activity. A `reading` source is
    stalled when no note from it (nor its own `date`) falls within `stalled_days` of `today`;
    `modified` (path → mtime in seconds) stands in for notes without a `date`."""
    modified = modified or {}
    about: dict[int, list[str]] = {}
    for key, concept in kg.concepts.items():
        for note in concept.notes:
            about.setdefault(id(note), []).append(key)
    found = []
    for key, note in kg.notes.items():
        if note.type != "source":
            continue
        captured = kg.cited_by(key)
        concepts = sorted({c for n in captured for c in about.get(id(n), [])}, key=normalize)
        days = [d for d in (_day(n, modified) for n in captured) if d is not None]
        last_note = max(days) if days else None
        # The source note's own `date` (when it was added) counts; its mtime does not, since
        # editing a source (say, its status) is not taking a note from it. Only with no other
        # clue at all does the file's mtime stand in.
        activity = [d for d in (last_note, note.date) if d is not None] or \
            [d for d in (_day(note, modified),) if d is not None]
        stalled = note.status == "reading" and (
            not activity or (today - max(activity)).days > stalled_days)
        found.append(SourceStatus(key, note, note.status, captured, concepts, last_note, stalled))
    found.sort(key=lambda s: (not s.stalled, STATUS_ORDER.index(s.status) if s.status in STATUS_ORDER
                              else len(STATUS_ORDER), normalize(s.note.title), s.key))
    return found


@dataclass
class ImportItem:
    entry: BibSource
    existing: Note | None  # the source note already holding this citation key
    differences: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if self.existing is None:
            return "new"
        return "differs" if self.differences else "same"


def plan_import(kg: KnowledgeGraph, entries: list[BibSource]) -> list[ImportItem]:
    """Match each entry to a source note by citation key (its `citekey`, else its id)."""
    by_key: dict[str, Note] = {}
    sources = source_notes(kg)
    for note in sources:  # a declared citekey wins over another note's id
        by_key.setdefault(normalize(citekey_of(note)), note)
    for note in sources:
        by_key.setdefault(normalize(note.id), note)
    items = []
    for entry in entries:
        existing = by_key.get(normalize(entry.key))
        items.append(ImportItem(entry, existing, differences(existing, entry) if existing else []))
    return items
