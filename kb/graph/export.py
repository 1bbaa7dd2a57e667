"""The graph in the formats other tools read: node-link JSON, GraphML, DOT, Mermaid."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import networkx as nx

FORMATS = ("json", "graphml", "dot", "mermaid")


def concepts_only(graph: nx.DiGraph[str]) -> nx.DiGraph[str]:
    keep = [n for n, kind in graph.nodes(data="kind") if kind == "concept"]
    return graph.subgraph(keep).copy()


def focus_subgraph(graph: nx.DiGraph[str], concept_keys: set[str]) -> nx.DiGraph[str]:
    """The given concepts, the notes about them and the sources those notes came from,
    with every edge among them."""
    keep = {f"concept:{key}" for key in concept_keys}
    kinds: list[tuple[str, str, Any]] = list(graph.edges.data("kind"))
    notes = {u for u, v, kind in kinds if kind == "about" and v in keep}
    sources = {v for u, v, kind in kinds if kind == "from" and u in notes}
    return graph.subgraph(keep | notes | sources).copy()


def _plain(value: Any) -> Any:
    """GraphML and JSON take scalars: anything else becomes its string form."""
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def _sorted_copy(graph: nx.DiGraph[str]) -> nx.DiGraph[str]:
    """Same graph, nodes and edges in sorted order, so every export is deterministic."""
    ordered: nx.DiGraph[str] = nx.DiGraph()
    for node in sorted(graph):
        ordered.add_node(node, **{k: _plain(v) for k, v in graph.nodes[node].items() if v is not None})
    for a, b in sorted(graph.edges):
        ordered.add_edge(a, b, **{k: _plain(v) for k, v in graph.edges[a, b].items() if v is not None})
    return ordered


def to_json(graph: nx.DiGraph[str]) -> str:
    data = nx.node_link_data(_sorted_copy(graph), edges="edges")
    return json.dumps(data, ensure_ascii=False, indent=2)


# Characters XML 1.0 cannot hold at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(value: Any) -> Any:
    return _NOT_XML.sub("\ufffd", value) if isinstance(value, str) else value


def to_graphml(graph: nx.DiGraph[str]) -> str:
    """GraphML; a character XML cannot hold (a control character in a title) becomes U+FFFD,
    so the file is always well-formed."""
    clean: nx.DiGraph[str] = nx.DiGraph()
    ordered = _sorted_copy(graph)
    clean.add_nodes_from((_xml_text(n), {k: _xml_text(v) for k, v in data.items()})
                         for n, data in ordered.nodes(data=True))
    clean.add_edges_from((_xml_text(a), _xml_text(b), {k: _xml_text(v) for k, v in data.items()})
                         for a, b, data in ordered.edges(data=True))
    buffer = io.BytesIO()
    nx.write_graphml(clean, buffer, encoding="utf-8")
    return buffer.getvalue().decode("utf-8")


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


_DOT_SHAPES = {"concept": "ellipse", "note": "note", "source": "box"}


def to_dot(graph: nx.DiGraph[str]) -> str:
    lines = ["digraph kb {", "  rankdir=LR;"]
    for node in sorted(graph):
        data = graph.nodes[node]
        shape = _DOT_SHAPES.get(str(data.get("kind")), "ellipse")
        lines.append(f"  {_dot_quote(node)} [label={_dot_quote(str(data.get('title', node)))}, "
                     f"shape={shape}];")
    for a, b in sorted(graph.edges):
        data = graph.edges[a, b]
        style = "" if data.get("kind") == "prerequisite" else ", style=dashed"
        lines.append(f"  {_dot_quote(a)} -> {_dot_quote(b)} [label={_dot_quote(str(data.get('kind', '')))}"
                     f"{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# Mermaid's entity codes (`#quot;`, `#35;`): the title stays as written, and nothing in it can
# end the label or become markup.
_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#60;", ">": "#62;", "`": "#96;"}


def _mermaid_label(text: str) -> str:
    text = re.sub(r"\s*[\r\n]+\s*", " ", text)
    return '"' + "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text) + '"'


def to_mermaid(graph: nx.DiGraph[str]) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(sorted(graph))}
    lines = ["flowchart LR"]
    for node in sorted(graph):
        data = graph.nodes[node]
        label = _mermaid_label(str(data.get("title", node)))
        shape = ("([", "])") if data.get("kind") == "concept" else ("[", "]")
        lines.append(f"  {ids[node]}{shape[0]}{label}{shape[1]}")
    for a, b in sorted(graph.edges):
        data = graph.edges[a, b]
        arrow = "-->" if data.get("kind") == "prerequisite" else "-.->"
        lines.append(f"  {ids[a]} {arrow}|{data.get('kind', '')}| {ids[b]}")
    return "\n".join(lines) + "\n"


def export(graph: nx.DiGraph[str], fmt: str) -> str:
    return {"json": to_json, "graphml": to_graphml, "dot": to_dot, "mermaid": to_mermaid}[fmt](graph)
