"""The concept map as one self-contained HTML page: what to show, where to place it, what the
page's script needs. Pure: a knowledge graph in, a template context out (kb.render renders it).

Concepts are placed in layers by prerequisite depth (a concept sits one layer right of its
deepest prerequisite), so learning flows left to right; within a layer, a few barycentre sweeps
put each concept near its prerequisites and dependents. Every tie is broken by learning order,
so the same vault gives the same page, byte for byte.
"""

from __future__ import annotations

import math
import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import networkx as nx

from kb.graph.concepts import LEVELS, Concept, KnowledgeGraph
from kb.graph.mastery import learning_key
from kb.graph.resolve import normalize
from kb.notes.model import Note

TEMPLATE = "graph.html.j2"
ROW_GAP = 46  # px between concepts of a layer: the biggest circle plus a margin
LINE_PX = 132  # a label's line: about 18 Latin characters; a label has at most two lines
R_MIN, R_MAX = 6.0, ROW_GAP / 2 - 2  # circle radius in px: depended on by nothing, by the most
LABEL_GAP = 5  # px from a circle to its label
LAYER_MARGIN = 56  # px from the longest label of a layer to the next layer's circles
FONT_PX = 13  # the label size in _graph.css.j2: a character is about 0.55 of it wide, CJK 1
SWEEPS = 4  # barycentre passes (down, up, down, up): enough to untangle what layering leaves
DEFAULT_RETENTION = 0.9  # recall under this is "fading" (SPEC §7's default retention)
LEVEL_TEXT = {
    "missing": "missing: needed, no note yet",
    "read": "read, never practiced",
    "exercise": "solved by hand",
    "code": "implemented",
    "project": "applied in a project",
}


def neighbourhood(kg: KnowledgeGraph, focus: Concept, depth: int | None) -> set[str]:
    """The focus concept, its prerequisites and its dependents, up to `depth` steps each way
    (all of them when depth is None)."""
    prereqs = kg.prerequisite_graph()
    if depth is None:
        return nx.ancestors(prereqs, focus.key) | nx.descendants(prereqs, focus.key) | {focus.key}
    before = nx.single_source_shortest_path_length(prereqs.reverse(copy=False), focus.key, cutoff=depth)
    after = nx.single_source_shortest_path_length(prereqs, focus.key, cutoff=depth)
    return set(before) | set(after)


@dataclass(frozen=True)
class Placement:
    layer: int
    row: int  # index within the layer, top to bottom
    rank: int  # position in learning order over the shown concepts (prerequisites first)


def layered_layout(prereqs: nx.DiGraph, order: Mapping[str, Any]) -> dict[str, Placement]:
    """Layer = longest chain of prerequisites below a concept (a cycle's members share one
    layer); rows by barycentre sweeps, ties by `order` (a sort key per concept)."""
    components = sorted(nx.strongly_connected_components(prereqs), key=lambda c: min(order[k] for k in c))
    dag = nx.condensation(prereqs, scc=components)
    members = {scc: sorted(dag.nodes[scc]["members"], key=order.__getitem__) for scc in dag}
    first = {scc: order[keys[0]] for scc, keys in members.items()}
    sequence = list(nx.lexicographical_topological_sort(dag, key=first.__getitem__))
    layer_of: dict[int, int] = {}
    for scc in sequence:
        layer_of[scc] = max((layer_of[p] + 1 for p in dag.predecessors(scc)), default=0)
    rank = {key: i for i, key in enumerate(k for scc in sequence for k in members[scc])}
    layers: list[list[str]] = [[] for _ in range(max(layer_of.values(), default=-1) + 1)]
    for scc in sequence:
        layers[layer_of[scc]].extend(members[scc])
    node_layer = {key: layer_of[scc] for scc in sequence for key in members[scc]}

    # y of a concept: its row, centred on the layer's middle, so layers of any size line up
    y: dict[str, float] = {}

    def place(layer: list[str]) -> None:
        middle = (len(layer) - 1) / 2
        for i, key in enumerate(layer):
            y[key] = i - middle

    for layer in layers:
        place(layer)
    def barycentre(key: str, neighbours: Any) -> tuple[float, int]:
        near = [y[n] for n in neighbours(key) if node_layer[n] != node_layer[key]]
        return (sum(near) / len(near) if near else y[key], rank[key])

    for sweep in range(SWEEPS):
        downward = sweep % 2 == 0
        indices = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        neighbours = prereqs.predecessors if downward else prereqs.successors
        for index in indices:
            layers[index].sort(key=partial(barycentre, neighbours=neighbours))
            place(layers[index])
    return {key: Placement(node_layer[key], row, rank[key])
            for layer in layers for row, key in enumerate(layer)}


def _text_width(text: str) -> float:
    """Estimated width of label text in px; close enough to space layers, and deterministic."""
    return sum(FONT_PX if unicodedata.east_asian_width(ch) in "WF" else 0.55 * FONT_PX for ch in text)


def _fitting(text: str, room: float) -> int:
    """How many leading characters of text fit in `room` px (at least one)."""
    used = 0.0
    for count, ch in enumerate(text):
        used += _text_width(ch)
        if used > room:
            return max(count, 1)
    return len(text)


def label_lines(title: str) -> list[str]:
    """The title in one or two lines of at most LINE_PX, broken between words (inside a word
    too long for a line); what does not fit ends in '…'. Two short lines keep the layers
    narrow, so more of the map fits on a screen."""
    lines: list[str] = []
    current = ""
    for word in title.split():
        joined = f"{current} {word}" if current else word
        if _text_width(joined) <= LINE_PX:
            current = joined
            continue
        if current:
            lines.append(current)
        current = word
        while _text_width(current) > LINE_PX:
            cut = _fitting(current, LINE_PX)
            hyphen = current.rfind("-", 0, cut)
            cut = hyphen + 1 if hyphen > 0 else cut  # lagrange-|multipliers
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    if len(lines) > 2:
        rest = " ".join(lines[1:])
        lines = [lines[0], rest[:_fitting(rest, LINE_PX - _text_width("…"))].rstrip() + "…"]
    return lines or [title]


def _radius(unblocks: int, most: int) -> float:
    """Area grows with how much depends on the concept, relative to the most depended-on
    concept shown (so a big vault still tells its heavy hitters apart); fits between rows."""
    return round(R_MIN + (R_MAX - R_MIN) * math.sqrt(unblocks / max(most, 1)), 1)


def _edge_path(x1: float, y1: float, r1: float, x2: float, y2: float, r2: float) -> str:
    """A curve from the prerequisite's right side to the dependent's left side; within one
    layer (a cycle) a bulge to the right so it does not run through the other circles."""
    if x2 > x1:
        a, b = x1 + r1, x2 - r2
        middle = (a + b) / 2
        return f"M{a:.1f},{y1:.1f}C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} {b:.1f},{y2:.1f}"
    bulge = x1 + r1 + 40 + abs(y2 - y1) / 4
    return f"M{x1 + r1:.1f},{y1:.1f}Q{bulge:.1f},{(y1 + y2) / 2:.1f} {x2 + r2:.1f},{y2:.1f}"


def _concept_tags(concept: Concept) -> list[str]:
    tags = {normalize(t.lstrip("#")) for note in concept.notes for t in note.tags if str(t).strip("#")}
    return sorted(tags)


def _vault_href(vault_root: Path, link_base: Path) -> str:
    """The vault root as a relative URL from the folder the page is saved in ('' when equal)."""
    root = vault_root.resolve()
    try:
        rel = os.path.relpath(root, link_base.resolve())
    except ValueError:  # another drive on Windows: only an absolute link can reach it
        return root.as_uri() + "/"
    return "" if rel == "." else quote(Path(rel).as_posix()) + "/"


def _layer_x(keys: list[str], placement: dict[str, Placement], radius: dict[str, float],
             label_width: dict[str, float]) -> tuple[list[float], dict[int, float]]:
    """Each layer's x, right of the previous layer's longest label; and how far right of its x
    each layer's circles and labels reach."""
    reach: dict[int, float] = {}
    widest: dict[int, float] = {}  # layer → its biggest radius
    for key in keys:
        layer = placement[key].layer
        reach[layer] = max(reach.get(layer, 0.0), radius[key] + LABEL_GAP + label_width[key])
        widest[layer] = max(widest.get(layer, 0.0), radius[key])
    layer_x = [0.0]
    for layer in range(1, len(reach)):
        layer_x.append(round(layer_x[-1] + reach[layer - 1] + LAYER_MARGIN + widest[layer], 1))
    return layer_x, reach


def _bounds(nodes: list[dict[str, Any]], layer_x: list[float], reach: dict[int, float]) -> dict[str, float]:
    margin = ROW_GAP / 2
    left = min((n["x"] - n["r"] for n in nodes), default=0.0)
    right = max((layer_x[layer] + extent for layer, extent in reach.items()), default=0.0)
    ys = [n["y"] for n in nodes] or [0.0]
    return {"x": round(left - margin, 1), "y": round(min(ys) - ROW_GAP / 2 - margin, 1),
            "width": round(right - left + 2 * margin, 1),
            "height": round(max(ys) - min(ys) + ROW_GAP + 2 * margin, 1)}


class _NoteTable:
    """The notes the page lists, each once, however many concepts it is about."""

    def __init__(self, kg: KnowledgeGraph, vault_href: str) -> None:
        self.kg = kg
        self.vault_href = vault_href
        self.rows: list[dict[str, Any]] = []
        self.index: dict[int, int] = {}  # id(Note) → row

    def row(self, note: Note) -> int:
        if id(note) not in self.index:
            kg = self.kg
            key = kg.key_of(note)
            source = next((s for s in kg.cites.get(key, ()) if s != key), None)
            source_note = kg.notes.get(source) if source is not None else None
            self.index[id(note)] = len(self.rows)
            self.rows.append({
                "key": key, "title": note.title, "type": note.type, "practice": note.practice,
                "path": note.path, "href": self.vault_href + quote(note.path),
                "source": source_note.title if source_note is not None else source,
                "locator": note.locator,
            })
        return self.index[id(note)]


def page_context(kg: KnowledgeGraph, *, focus: Concept | None = None, depth: int | None = None,
                 concepts_only: bool = False, recall: Mapping[str, float] | None = None,
                 retention: float = DEFAULT_RETENTION, vault_name: str | None = None,
                 vault_root: Path | None = None, link_base: Path | None = None) -> dict[str, Any]:
    """Everything graph.html.j2 sees (docs/graph.md lists it).

    `recall` (concept key → probability of recall today) is optional: when given, concepts
    below `retention` are drawn as fading and the legend says so. `link_base` is the folder the
    page will be saved in, for the relative links to note files (default: the current folder).
    """
    if vault_root is None:
        vault_root = Path.cwd()
    vault_name = vault_name or Path(vault_root).resolve().name
    shown = neighbourhood(kg, focus, depth) if focus is not None else set(kg.concepts)
    whole = kg.prerequisite_graph()
    # a real copy, not a subgraph view: a view filters every lookup it answers
    prereqs = whole.subgraph(shown).copy() if focus is not None else whole
    placement = layered_layout(prereqs, {key: learning_key(kg.concepts[key]) for key in shown})
    keys = sorted(shown, key=lambda k: placement[k].rank)
    index = {key: i for i, key in enumerate(keys)}
    layer_size: dict[int, int] = {}
    for key in keys:
        layer_size[placement[key].layer] = layer_size.get(placement[key].layer, 0) + 1
    most = max((kg.concepts[key].unblocks for key in keys), default=0)
    radius = {key: _radius(kg.concepts[key].unblocks, most) for key in keys}
    lines = {key: label_lines(kg.concepts[key].title) for key in keys}
    label_width = {key: max(_text_width(line) for line in lines[key]) for key in keys}
    layer_x, reach = _layer_x(keys, placement, radius, label_width)
    notes = _NoteTable(kg, _vault_href(Path(vault_root), link_base or Path.cwd()))

    concepts: list[dict[str, Any]] = []  # for the script (data)
    nodes: list[dict[str, Any]] = []  # for the template's SVG
    for i, key in enumerate(keys):
        concept = kg.concepts[key]
        spot = placement[key]
        x, r = layer_x[spot.layer], radius[key]
        y = round((spot.row - (layer_size[spot.layer] - 1) / 2) * ROW_GAP, 1)
        entry: dict[str, Any] = {
            "key": key, "title": concept.title, "level": concept.level, "unblocks": concept.unblocks,
            "x": x, "y": y, "r": r, "layer": spot.layer,
            "reach": round(r + LABEL_GAP + label_width[key]),  # circle and label, right of x
            "prerequisites": sorted(index[p] for p in prereqs.predecessors(key)),
            "tags": _concept_tags(concept),
            "aliases": list(concept.definition.aliases) if concept.definition else [],
        }
        hidden_before = sum(1 for p in whole.predecessors(key) if p not in shown)
        hidden_after = sum(1 for d in whole.successors(key) if d not in shown)
        if hidden_before or hidden_after:
            entry["outside"] = {"prerequisites": hidden_before, "dependents": hidden_after}
        if not concepts_only:
            entry["notes"] = [notes.row(n) for n in concept.notes]
        fading = False
        if recall is not None and key in recall:
            entry["recall"] = round(float(recall[key]), 3)
            fading = entry["recall"] < retention
        concepts.append(entry)
        nodes.append({"index": i, "key": key, "title": concept.title, "lines": lines[key],
                      "label": " ".join(lines[key]),
                      "level": concept.level, "x": x, "y": y, "r": r,
                      "label_x": round(x + r + LABEL_GAP, 1), "fading": fading})

    edges = []
    for a, b in sorted(prereqs.edges, key=lambda e: (index[e[0]], index[e[1]])):
        na, nb = nodes[index[a]], nodes[index[b]]
        edges.append({"a": index[a], "b": index[b],
                      "d": _edge_path(na["x"], na["y"], na["r"], nb["x"], nb["y"], nb["r"])})

    has_recall = any("recall" in c for c in concepts)
    box = _bounds(nodes, layer_x, reach)
    data = {
        "vault": vault_name, "focus": focus.key if focus else None, "depth": depth,
        "conceptsOnly": concepts_only, "levels": list(LEVELS), "retention": retention,
        "hasRecall": has_recall, "box": box, "concepts": concepts, "notes": notes.rows,
    }
    return {
        "title": f"{vault_name}: concept map" + (f" around {focus.title}" if focus else ""),
        "vault_name": vault_name,
        "focus": focus,
        "depth": depth,
        "concepts_only": concepts_only,
        "nodes": nodes,
        "edges": edges,
        "box": box,
        "levels": [{"name": level, "count": sum(1 for n in nodes if n["level"] == level),
                    "text": LEVEL_TEXT[level]} for level in LEVELS],
        "has_recall": has_recall,
        "fading_count": sum(1 for n in nodes if n["fading"]),
        "retention": retention,
        "tags": sorted({t for c in concepts for t in c["tags"]}),
        "note_count": len(notes.rows),
        "data": data,
    }


def relative_link_base(output: Path | None) -> Path:
    """The folder relative note links start from: the output file's, else the current one."""
    return output.resolve().parent if output is not None else Path.cwd()

