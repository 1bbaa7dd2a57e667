"""Queries over the knowledge graph: gaps, learning paths, concept lookup."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import networkx as nx

from kb.errors import UnknownConceptError
from kb.graph.concepts import LEVEL_RANK, LEVELS, Concept, KnowledgeGraph
from kb.graph.resolve import normalize


@dataclass(frozen=True)
class Gap:
    concept: Concept
    sources: list[str]


def learning_key(concept: Concept) -> tuple[bool, float, str, str]:
    """Tie-break for learning order: `order` first (unset last), then title, then key."""
    order = concept.order
    return (order is None, order or 0.0, normalize(concept.title), concept.key)


def gaps(kg: KnowledgeGraph, below: str = "exercise") -> tuple[list[Gap], list[tuple[str, list[str]]]]:
    """Concepts with notes whose level is below `below`, most-depended-on first;
    and concepts with no note at all, each with the concepts that need it."""
    if below not in LEVEL_RANK:
        raise ValueError(f"unknown level {below!r}; one of {', '.join(LEVELS)}")
    limit = LEVEL_RANK[below]
    found = [
        Gap(c, kg.sources_of(c))
        for c in kg.concepts.values()
        if c.notes and LEVEL_RANK[c.level] < limit
    ]
    found.sort(key=lambda g: (-g.concept.unblocks, normalize(g.concept.title), g.concept.key))
    prereqs = kg.prerequisite_graph()
    missing = [
        (c.key, sorted(prereqs.successors(c.key), key=normalize))
        for c in kg.concepts.values()
        if not c.notes
    ]
    missing.sort(key=lambda m: (-len(m[1]), normalize(m[0])))
    return found, missing


def find_concept(kg: KnowledgeGraph, name: str) -> Concept:
    """A concept named on the command line, resolved like a link (id, path, alias, case)."""
    wanted = normalize(name.removesuffix(".md"))
    for key, concept in kg.concepts.items():
        if normalize(key) == wanted:
            return concept
    found = kg.resolver.resolve(name)
    if found.kind == "note" and found.note is not None:
        key = kg.key_of(found.note)
        if key in kg.concepts:
            return kg.concepts[key]
        about = [k for k, c in kg.concepts.items() if any(n is found.note for n in c.notes)]
        if len(about) == 1:
            return kg.concepts[about[0]]
    titled = [c for c in kg.concepts.values() if normalize(c.title) == wanted]
    if len(titled) == 1:
        return titled[0]
    names = {normalize(c.key): c.key for c in kg.concepts.values()}
    names.update({normalize(c.title): c.key for c in kg.concepts.values()})
    raise UnknownConceptError(name, closest(name, names))


def closest(name: str, names: dict[str, str]) -> list[str]:
    """Up to three suggestions for a mistyped name; `names` maps normalized names (ids,
    titles) to what to suggest."""
    close = difflib.get_close_matches(normalize(name.removesuffix(".md")), list(names), n=3, cutoff=0.6)
    return sorted({names[c] for c in close})


def learning_path(kg: KnowledgeGraph, target: Concept) -> list[Concept]:
    """target and all its transitive prerequisites, prerequisites first. Concepts that are
    prerequisites of each other (a cycle) stand together, as one step, in learning order."""
    return [concept for step in learning_steps(kg, target) for concept in step]


def learning_steps(kg: KnowledgeGraph, target: Concept) -> list[list[Concept]]:
    """The learning path as steps: one concept each, except the members of a prerequisite
    cycle, which form one step (no order among them respects every prerequisite)."""
    prereqs = kg.prerequisite_graph()
    wanted = nx.ancestors(prereqs, target.key) | {target.key}
    sub = prereqs.subgraph(wanted)
    components = list(nx.strongly_connected_components(sub))
    dag = nx.condensation(sub, scc=components)
    members = {node: sorted((kg.concepts[k] for k in dag.nodes[node]["members"]), key=learning_key)
               for node in dag}
    order = nx.lexicographical_topological_sort(dag, key=lambda node: learning_key(members[node][0]))
    return [members[node] for node in order]


def dependents(kg: KnowledgeGraph, concept: Concept) -> list[str]:
    return sorted(kg.prerequisite_graph().successors(concept.key), key=normalize)


def prerequisites(kg: KnowledgeGraph, concept: Concept) -> list[str]:
    return sorted(kg.prerequisite_graph().predecessors(concept.key), key=normalize)
