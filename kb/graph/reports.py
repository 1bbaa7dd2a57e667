"""What the query commands show, gathered from a session; printing is the CLI's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.notes.model import Level, Note
from kb.session import Session

if TYPE_CHECKING:
    from kb.graph.mastery import Gap
    from kb.graph.signals import Unwritten
    from kb.learning.memory import Fading, Memory
    from kb.learning.run import StoredRun


def code_runs(session: Session, notes: Sequence[Note]) -> dict[str, StoredRun]:
    """What the last `kb run` left for each `code` practice note, by path (runs nothing)."""
    code = [n for n in notes if n.type == "practice" and n.practice == "code"]
    if not code:
        return {}
    from kb.learning.run import run_states

    return run_states(session.root, code)


@dataclass
class GapsReport:
    level: Level
    gaps: list[Gap]  # below `level`, most depended-on first
    missing: list[tuple[str, list[str]]]  # needed but never studied: (key, needed by)
    practice_notes: int
    unwritten: list[Unwritten]  # linked but never written, most linked first
    memory: Memory
    fading: list[Fading]  # practiced, recall below retention today
    # from level `code` up: (concept key or "", note, its last run), by note path
    runs: list[tuple[str, Note, StoredRun]] = field(default_factory=list)


def gaps_report(session: Session, level: Level, *, today: dt.date,
                all_unwritten: bool = True) -> GapsReport:
    """`kb gaps`: what is below `level`, what is missing, what is fading, and — from `code`
    up — whether each code practice still runs. Notes linked but never written are the signal
    of a vault kb's types do not describe yet: they are searched for in a vault without
    practice notes, and with `all_unwritten` in any (where practice notes exist, `kb check`
    lists those links)."""
    from kb.graph.mastery import gaps as find_gaps
    from kb.graph.signals import unwritten_notes
    from kb.learning.memory import fading

    kg = session.graph
    found, missing = find_gaps(kg, level)
    practice_notes = sum(1 for n in kg.notes.values() if n.type == "practice")
    memory = session.memory(today)
    faded = [f for f in fading(kg, memory, today) if f.recall < memory.retention]
    runs: list[tuple[str, Note, StoredRun]] = []
    if level in ("code", "project"):
        about = {id(n): key for key, c in kg.concepts.items() for n in c.notes}
        states = code_runs(session, list(kg.notes.values()))
        runs = sorted(((about.get(id(n), ""), n, states[n.path]) for n in kg.notes.values()
                       if n.path in states), key=lambda r: r[1].path)
    return GapsReport(level, found, missing, practice_notes,
                      unwritten_notes(kg) if all_unwritten or not practice_notes else [],
                      memory, faded, runs)
