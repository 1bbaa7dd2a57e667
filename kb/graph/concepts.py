"""The concept graph: one networkx DiGraph of concepts, notes and sources, built from parsed notes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from kb.errors import Diagnostic
from kb.graph.resolve import Resolution, Resolver, normalize
from kb.notes.model import (  # LEVELS: kb.graph.mastery and others import it from here
    LEVELS,
    NOTE_TYPES,
    Link,
    Note,
    Ref,
)

LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}


@dataclass
class Concept:
    key: str
    title: str
    notes: list[Note] = field(default_factory=list)  # notes about it, sorted by path
    definition: Note | None = None  # the concept note that defines it, if any
    level: str = "missing"
    unblocks: int = 0

    @property
    def node(self) -> str:
        return f"concept:{self.key}"

    @property
    def order(self) -> float | None:
        if self.definition is not None and self.definition.order is not None:
            return self.definition.order
        orders = [n.order for n in self.notes if n.order is not None]
        return min(orders) if orders else None

    @property
    def readings(self) -> int:
        return sum(1 for n in self.notes if n.type == "reading")


@dataclass
class KnowledgeGraph:
    """Everything the commands query: the graph, its concepts and notes, and all diagnostics."""

    concepts: dict[str, Concept]
    notes: dict[str, Note]  # by note key
    note_keys: dict[int, str]  # id(Note) → key
    resolver: Resolver
    diagnostics: list[Diagnostic]
    # (prerequisite, dependent) → where it was written: [(path, line)]
    prerequisite_sites: dict[tuple[str, str], list[tuple[str, int]]]
    # note key → the keys of the sources it is taken from (a source note: itself, first)
    cites: dict[str, list[str]] = field(default_factory=dict)
    # What `graph` is made of besides notes and concepts: source nodes without a source note
    # (node → attributes), and every note's edges: (from, to) → (edge kind, line or None)
    extra_sources: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    note_edges: dict[tuple[str, str], tuple[str, int | None]] = field(default_factory=dict, repr=False)
    _graph: nx.DiGraph | None = field(default=None, repr=False, compare=False)
    _prerequisites: nx.DiGraph | None = field(default=None, repr=False, compare=False)
    _cited_by: dict[str, list[Note]] | None = field(default=None, repr=False, compare=False)

    def key_of(self, note: Note) -> str:
        return self.note_keys[id(note)]

    @property
    def graph(self) -> nx.DiGraph:
        """Concepts, notes and sources with every edge between them. Built on first use: most
        queries need only the concepts, and inserting every edge of a large vault is not free.
        The knowledge graph does not change after build_graph returns; treat it as read-only."""
        if self._graph is None:
            graph: nx.DiGraph[str] = nx.DiGraph()
            for key, note in self.notes.items():
                graph.add_node(f"note:{key}", kind="note", title=note.title, type=note.type,
                               path=note.path)
                if note.type == "source":
                    graph.add_node(f"source:{key}", kind="source", title=note.title)
            graph.add_nodes_from(self.extra_sources.items())
            graph.add_nodes_from((c.node, {"kind": "concept", "title": c.title, "level": c.level})
                                 for c in self.concepts.values())
            graph.add_edges_from(
                (u, v, {"kind": kind} if line is None else {"kind": kind, "line": line})
                for (u, v), (kind, line) in self.note_edges.items())
            graph.add_edges_from(
                (f"concept:{before}", f"concept:{after}",
                 {"kind": "prerequisite", "path": sites[0][0], "line": sites[0][1]})
                for (before, after), sites in self.prerequisite_sites.items())
            self._graph = graph
        return self._graph

    def prerequisite_graph(self) -> nx.DiGraph:
        """Concept keys only, an edge p → c when p must be learned before c. Built once;
        treat it as read-only."""
        if self._prerequisites is None:
            prereqs: nx.DiGraph[str] = nx.DiGraph()
            prereqs.add_nodes_from(self.concepts)
            prereqs.add_edges_from(self.prerequisite_sites)
            self._prerequisites = prereqs
        return self._prerequisites

    def sources_of(self, concept: Concept) -> list[str]:
        found = {source for note in concept.notes for source in self.cites.get(self.key_of(note), ())}
        return sorted(found, key=normalize)

    def cited_by(self, source_key: str) -> list[Note]:
        """The notes taken from a source (not the source note itself), sorted by path."""
        if self._cited_by is None:
            index: dict[str, list[Note]] = {}
            for key, sources in self.cites.items():
                for source in sources:
                    if source != key:
                        index.setdefault(source, []).append(self.notes[key])
            for notes in index.values():
                notes.sort(key=lambda n: n.path)
            self._cited_by = index
        return list(self._cited_by.get(source_key, ()))


def _assign_keys(notes: list[Note], diagnostics: list[Diagnostic]) -> dict[str, Note]:
    """Key = id where unique, else the `folder/id` path; same path twice is a duplicate-id error."""
    by_id: dict[str, list[Note]] = {}
    for note in notes:
        by_id.setdefault(normalize(note.id), []).append(note)
    keyed: dict[str, Note] = {}
    seen: dict[str, Note] = {}
    for note in notes:
        key = note.id if len(by_id[normalize(note.id)]) == 1 else note.rel
        first = seen.get(normalize(key))
        if first is not None:
            diagnostics.append(Diagnostic(
                note.path, 0, "error", "duplicate-id",
                f"duplicate id '{key}': {first.path} and {note.path} differ only in case or "
                f"Unicode form; only {first.path} is used",
            ))
            continue
        seen[normalize(key)] = note
        keyed[key] = note
    return keyed


class _Builder:
    def __init__(self, notes: list[Note], attachments: set[str]) -> None:
        self.diagnostics: list[Diagnostic] = []
        for note in notes:
            self.diagnostics.extend(note.diagnostics)
        loaded = [n for n in notes if n.loaded]
        self.notes = _assign_keys(loaded, self.diagnostics)
        self.note_keys = {id(n): k for k, n in self.notes.items()}
        self.resolver = Resolver(list(self.notes.values()), attachments)
        self.extra_sources: dict[str, dict[str, Any]] = {}  # see KnowledgeGraph.extra_sources
        self.missing_sources: dict[str, str] = {}  # normalized name → key
        # Edges are collected here (first one wins) and added in one batch: much cheaper than
        # one add_edge call per link on a large vault.
        self.edges: dict[tuple[str, str], tuple[str, int | None]] = {}  # → (kind, line)
        self.concepts: dict[str, Concept] = {}
        self.concept_by_name: dict[str, str] = {}  # normalized name → concept key
        self.concept_notes: dict[int, str] = {}  # id(note) → key, for notes that are concepts
        self.sites: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self.cites: dict[str, list[str]] = {}
        # Resolution depends on the target and the linking note's folder only (bar `[[#x]]`,
        # which is the note itself), and on the target alone when it names one note by id or
        # alias: remembered under `target` then, else under (target, folder).
        self.resolved: dict[str | tuple[str, str], Resolution] = {}
        # The same for links whose resolution says nothing worth a diagnostic: the note and
        # node they point to. Most links take this path, so it is kept to a lookup or two.
        self.link_targets: dict[str | tuple[str, str], tuple[Note | None, str | None]] = {}

    @staticmethod
    def memo_key(target: str, note: Note, found: Resolution) -> str | tuple[str, str]:
        if found.kind == "note" and not found.candidates and "/" not in target and "\\" not in target:
            return target
        return (target, note.folder)

    # -- resolution with diagnostics -------------------------------------------------
    def resolve(self, note: Note, target: str, line: int, what: str) -> Resolution:
        found = self.resolved.get(target) or self.resolved.get((target, note.folder))
        if found is None:
            found = self.resolver.resolve(target, note)
            if found.kind != "self":
                self.resolved[self.memo_key(target, note, found)] = found
        if found.kind == "ambiguous":  # only aliases of several notes match: not linked
            names = ", ".join(c.path for c in found.candidates)
            self.diagnostics.append(Diagnostic(
                note.path, line, "warning", "ambiguous-link",
                f"{what} '{target}' is an alias of several notes ({names}) and names no file; "
                "left unresolved: link one of them by its file name"))
        elif found.kind == "note" and found.candidates:
            names = ", ".join(c.path for c in found.candidates)
            assert found.note is not None
            self.diagnostics.append(Diagnostic(
                note.path, line, "warning", "ambiguous-link",
                f"{what} '{target}' matches several notes ({names}); using {found.note.path}"))
        elif found.kind == "note" and found.via_alias:
            assert found.note is not None
            self.diagnostics.append(Diagnostic(
                note.path, line, "info", "alias-link",
                f"{what} '{target}' resolves only through an alias of {found.note.path} "
                "(Obsidian does not follow aliases in links)"))
        return found

    # -- concepts ----------------------------------------------------------------------
    def concept_key(self, note: Note, ref: Ref, what: str) -> str:
        found = self.resolve(note, ref.target, ref.line, what)
        if found.kind in ("note", "self") and found.note is not None:
            return self.key_concept_note(found.note)
        name = normalize(ref.target)
        if name not in self.concept_by_name:
            self.concept_by_name[name] = ref.target.strip()
            self.add_concept(ref.target.strip())
        return self.concept_by_name[name]

    def key_concept_note(self, target: Note) -> str:
        key = self.concept_notes.get(id(target))
        if key is None:
            key = self.concept_notes[id(target)] = self.note_keys[id(target)]
            self.add_concept(key)
            self.concept_by_name.setdefault(normalize(key), key)
        return key

    def add_concept(self, key: str) -> Concept:
        if key not in self.concepts:
            self.concepts[key] = Concept(key=key, title=key)
        return self.concepts[key]

    # -- build -------------------------------------------------------------------------
    def build(self) -> KnowledgeGraph:
        for key, note in self.notes.items():
            self.add_note_edges(key, note)
        for concept in self.concepts.values():
            concept.notes.sort(key=lambda n: n.path)
            defining = self.notes.get(concept.key)
            if defining is not None and defining.type == "concept":
                concept.definition = defining
            concept.title = (concept.definition.title if concept.definition
                             else defining.title if defining is not None else concept.key)
            concept.level = _level(concept.notes)
        self.diagnostics.extend(self.phantom_concepts())
        self.diagnostics.extend(unknown_types(list(self.notes.values())))
        kg = KnowledgeGraph(self.concepts, self.notes, self.note_keys, self.resolver,
                            self.diagnostics, self.sites, self.cites, extra_sources=self.extra_sources,
                            note_edges=self.edges)
        components = list(nx.strongly_connected_components(kg.prerequisite_graph()))
        self.diagnostics.extend(cycle_diagnostics(kg, components))
        _count_unblocks(kg, components)
        return kg

    def phantom_concepts(self) -> list[Diagnostic]:
        """A prerequisite with no note whose name is another concept's title or slug
        (`matrix rank` for `matrix-rank`, titled "Matrix rank"): almost surely meant to be that
        concept. Links resolve by file name, as in Obsidian, so kb says so rather than guess."""
        missing = {before for before, _after in self.sites if not self.concepts[before].notes}
        if not missing:
            return []
        from kb.notes.slug import slugify

        by_title = {normalize(c.title): c for c in self.concepts.values() if c.notes}
        by_key = {normalize(c.key): c for c in self.concepts.values() if c.notes}
        meant: dict[str, Concept] = {}
        for name in missing:
            slug = normalize(slugify(name, ""))
            found = by_title.get(normalize(name)) or by_key.get(slug) or by_title.get(slug)
            if found is not None and found.key != name:
                meant[name] = found
        found_diagnostics = []
        for (before, _after), sites in self.sites.items():
            concept = meant.get(before)
            if concept is None:
                continue
            for path, line in sites:
                found_diagnostics.append(Diagnostic(
                    path, line, "warning", "phantom-concept",
                    f"prerequisite '{before}' has no note, but the concept '{concept.key}' is "
                    f"titled '{concept.title}': write [[{concept.key}]] to mean it"))
        return found_diagnostics

    def add_note_edges(self, key: str, note: Note) -> None:
        node = f"note:{key}"
        if note.type != "source":
            refs = note.concepts or [Ref(note.id, 1)]
            about = []
            for ref in refs:
                concept = (self.key_concept_note(note) if ref.target == note.id and not note.concepts
                           else self.concept_key(note, ref, "concept"))
                if concept not in about:
                    about.append(concept)
            for concept in about:
                self.concepts[concept].notes.append(note)
                self.edges.setdefault((node, f"concept:{concept}"), ("about", None))
            for ref in note.prerequisites:
                before = self.concept_key(note, ref, "prerequisite")
                for concept in about:
                    if before == concept:
                        self.diagnostics.append(Diagnostic(
                            note.path, ref.line, "warning", "self-prerequisite",
                            f"'{ref.target}' is listed as a prerequisite of itself; ignored"))
                        continue
                    self.sites.setdefault((before, concept), []).append((note.path, ref.line))
        else:
            self.add_from_edge(node, key, key)
        if note.source is not None:
            self.add_source_edge(node, note, note.source)
        folder = note.folder
        link_targets = self.link_targets
        for link in note.links:
            hit = link_targets.get(link.target) or link_targets.get((link.target, folder))
            if hit is None:
                hit = self.link_target(note, link)
            target_node = hit[1]
            if target_node is not None:  # a link to itself ([[#heading]]) is a self-loop
                self.edges.setdefault((node, target_node), ("link", link.line))

    def add_from_edge(self, node: str, key: str, source_key: str) -> None:
        if (node, f"source:{source_key}") not in self.edges:
            self.edges[node, f"source:{source_key}"] = ("from", None)
            self.cites.setdefault(key, []).append(source_key)

    def add_source_edge(self, node: str, note: Note, ref: Ref) -> None:
        if _URL.match(ref.target.strip()):  # an external source: a node of its own, no note needed
            url = ref.target.strip()
            self.extra_sources.setdefault(f"source:{url}", {"kind": "source", "title": url,
                                                            "url": url})
            self.add_from_edge(node, self.note_keys[id(note)], url)
            return
        found = self.resolve(note, ref.target, ref.line, "source")
        if found.kind == "note" and found.note is not None:
            key = self.note_keys[id(found.note)]
            if found.note.type != "source":
                self.diagnostics.append(Diagnostic(
                    note.path, ref.line, "warning", "not-a-source",
                    f"source '{ref.target}' is a {found.note.type} note, not a source note"))
                self.extra_sources[f"source:{key}"] = {"kind": "source", "title": found.note.title}
        elif found.kind == "ambiguous":
            return
        else:
            # Missing sources are one node per name however it is capitalised: first spelling wins.
            key = self.missing_sources.setdefault(normalize(ref.target), ref.target.strip())
            self.diagnostics.append(Diagnostic(
                note.path, ref.line, "warning", "dangling-source",
                f"source '{ref.target}' has no source note"))
            if key not in self.notes or self.notes[key].type != "source":
                self.extra_sources.setdefault(f"source:{key}", {"kind": "source", "title": key})
        self.add_from_edge(node, self.note_keys[id(note)], key)

    def link_target(self, note: Note, link: Link) -> tuple[Note | None, str | None]:
        """Resolve a body link, with its diagnostics: the note and graph node it points to,
        or (None, None) for no edge. Remembered per (target, folder) when it is silent."""
        what = "embed" if link.kind == "embed" else "link"
        found = self.resolve(note, link.target, link.line, what)
        hit: tuple[Note | None, str | None] = (None, None)
        if found.kind == "self" and found.note is not None:  # [[#heading]]: the note itself
            return (found.note, f"concept:{self.key_concept_note(found.note)}"
                    if found.note.type == "concept" else f"note:{self.note_keys[id(found.note)]}")
        if found.kind == "dangling":
            self.diagnostics.append(Diagnostic(
                note.path, link.line, "warning", "dangling-link",
                f"{what} '{link.target}' points to no note or file"))
            return hit
        if found.kind == "note" and found.note is not None:
            target_key = self.note_keys[id(found.note)]
            hit = (found.note, f"concept:{self.key_concept_note(found.note)}"
                   if found.note.type == "concept" else f"note:{target_key}")
        if found.kind in ("note", "attachment") and not found.candidates and not found.via_alias:
            self.link_targets[self.memo_key(link.target, note, found)] = hit
        return hit


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+$")


def unknown_types(notes: list[Note]) -> list[Diagnostic]:
    """One warning per `type` value kb does not know, with how many notes use it, at the
    first of them: a vault whose notes say `type: book` gets one line, not one per note."""
    by_value: dict[str, list[Note]] = {}
    for note in notes:
        value = note.extra.get("type")
        if value is not None and note.type == "reading":
            by_value.setdefault(str(value), []).append(note)
    found = []
    for value, users in sorted(by_value.items()):
        first = min(users, key=lambda n: n.path)
        others = f" and {len(users) - 1} other note{'s' * (len(users) != 2)}" if len(users) > 1 else ""
        found.append(Diagnostic(
            first.path, first.line_of("type"), "warning", "unknown-type",
            f"type '{value}' is not one of kb's ({', '.join(NOTE_TYPES)}); {first.path}{others} "
            "use it, read as reading notes (map it to a kb type in kb.toml [conventions])"))
    return found


def _level(notes: list[Note]) -> str:
    best = "missing"
    for note in notes:
        if note.type == "practice":
            level = note.practice or "exercise"
        elif note.type in ("concept", "reading"):
            level = "read"
        else:
            continue
        if LEVEL_RANK[level] > LEVEL_RANK[best]:
            best = level
    return best


def cycle_diagnostics(kg: KnowledgeGraph, components: list[set[str]] | None = None) -> list[Diagnostic]:
    """One error per prerequisite cycle, naming every edge and where it was written."""
    prereqs = kg.prerequisite_graph()
    if components is None:
        components = list(nx.strongly_connected_components(prereqs))
    found = []
    for component in sorted((c for c in components if len(c) > 1), key=lambda c: sorted(c)):
        start = min(component, key=normalize)
        cycle = nx.find_cycle(prereqs.subgraph(component), source=start)
        steps = []
        for before, after in cycle:
            path, line = kg.prerequisite_sites[(before, after)][0]
            steps.append(f"{before} → {after} ({path}:{line})")
        first_path, first_line = kg.prerequisite_sites[cycle[0][:2]][0]
        chain = " → ".join([c[0] for c in cycle] + [cycle[0][0]])
        found.append(Diagnostic(first_path, first_line, "error", "cycle",
                                f"prerequisite cycle {chain}: " + "; ".join(steps)))
    return found


def _count_unblocks(kg: KnowledgeGraph, components: list[set[str]]) -> None:
    """unblocks = how many concepts transitively depend on each one (bitsets over a DAG of SCCs)."""
    prereqs = kg.prerequisite_graph()
    dag = nx.condensation(prereqs, scc=components)
    members = {scc: dag.nodes[scc]["members"] for scc in dag}
    index = {key: i for i, key in enumerate(prereqs)}
    member_bits = {scc: sum(1 << index[k] for k in keys) for scc, keys in members.items()}
    reach: dict[int, int] = {}
    for scc in reversed(list(nx.topological_sort(dag))):
        bits = 0
        for succ in dag.successors(scc):
            bits |= reach[succ] | member_bits[succ]
        if len(members[scc]) > 1:
            bits |= member_bits[scc]
        reach[scc] = bits
    mapping = dag.graph["mapping"]
    for key, concept in kg.concepts.items():
        bits = reach[mapping[key]] & ~(1 << index[key])
        concept.unblocks = bits.bit_count()


def build_graph(notes: list[Note], attachments: set[str] | None = None) -> KnowledgeGraph:
    """Pure: parsed notes in, the whole knowledge graph with its diagnostics out."""
    return _Builder(notes, attachments or set()).build()
