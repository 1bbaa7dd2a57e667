"""Signal on any vault, typed for kb or not: notes linked but never written, and diagnostics
grouped by code so that thousands of them can be read."""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.errors import Diagnostic
from kb.graph.concepts import KnowledgeGraph
from kb.graph.resolve import Resolution, normalize, strip_md

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass
class Unwritten:
    """A link target no note (nor attachment) answers: a note someone meant to write."""

    name: str  # as first written (by path order), without `.md`
    linked_from: list[tuple[str, int]] = field(default_factory=list)  # (path, line), each once, sorted
    links: int = 0  # every link, two on one line included

    @property
    def notes(self) -> int:
        return len({path for path, _line in self.linked_from})


def unwritten_notes(kg: KnowledgeGraph) -> list[Unwritten]:
    """Every dangling link target, the most-linked first (by linking notes, then links), ties
    by name. Links in a note's body and its `"[[x]]"` properties count, embeds too; links to
    the same name from different folders are one target, as Obsidian would create one note."""
    found: dict[str, Unwritten] = {}
    memo: dict[tuple[str, str], bool] = {}
    # A bare name that is some note's id never dangles: most links, skipped without resolving.
    ids: dict[str, object] = getattr(kg.resolver, "by_id", None) or {}
    written: dict[str, bool] = {}
    for note in sorted(kg.notes.values(), key=lambda n: n.path):
        for link in note.links:
            target = link.target
            if not target.strip():
                continue
            known = written.get(target)
            if known is None:
                known = written[target] = ("/" not in target and "\\" not in target
                                           and normalize(strip_md(target)) in ids)
            if known:
                continue
            place = (target, note.folder)
            dangling = memo.get(place)
            if dangling is None:
                resolution: Resolution = kg.resolver.resolve(link.target, note)
                dangling = memo[place] = resolution.kind == "dangling"
            if dangling:
                name = strip_md(link.target.strip().replace("\\", "/")).lstrip("./")
                entry = found.setdefault(normalize(name), Unwritten(name))
                entry.links += 1
                site = (note.path, link.line)
                if not entry.linked_from or entry.linked_from[-1] != site:
                    entry.linked_from.append(site)
    ranked = list(found.values())
    for entry in ranked:
        entry.linked_from.sort()
    ranked.sort(key=lambda u: (-u.notes, -u.links, normalize(u.name), u.name))
    return ranked


@dataclass
class DiagnosticGroup:
    code: str
    severity: str
    count: int
    examples: list[Diagnostic]


def summarize(diagnostics: list[Diagnostic], examples: int = 3) -> list[DiagnosticGroup]:
    """Diagnostics by (code, severity): errors first, then the largest groups, each with its
    first `examples` in file order."""
    groups: dict[tuple[str, str], DiagnosticGroup] = {}
    for diag in sorted(diagnostics, key=Diagnostic.sort_key):
        group = groups.setdefault((diag.code, diag.severity),
                                  DiagnosticGroup(diag.code, diag.severity, 0, []))
        group.count += 1
        if len(group.examples) < examples:
            group.examples.append(diag)
    return sorted(groups.values(),
                  key=lambda g: (SEVERITY_ORDER.get(g.severity, 3), -g.count, g.code))
