"""An article's learning path as a Mermaid flowchart (Quarto renders ```{mermaid} natively)."""

from __future__ import annotations

from kb.articles.assemble import Article

MAX_NODES = 60  # a bigger flowchart is unreadable on a page; the rest are listed under it

# One class per mastery level (kb.graph.concepts.LEVELS), so readers see what was read or practiced.
_CLASSES = {
    "missing": "fill:#f3f4f6,stroke:#9ca3af,stroke-dasharray:4 3,color:#4b5563",
    "read": "fill:#fef3c7,stroke:#d97706,color:#111827",
    "exercise": "fill:#dcfce7,stroke:#16a34a,color:#111827",
    "code": "fill:#bbf7d0,stroke:#15803d,color:#111827",
    "project": "fill:#86efac,stroke:#166534,color:#111827",
}


def _label(text: str) -> str:
    """A node label Mermaid reads literally: quotes and brackets as entity codes."""
    for char, code in (("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return '"' + " ".join(text.split()) + '"'


def learning_path_mermaid(article: Article, limit: int = MAX_NODES) -> tuple[str, list[str]]:
    """(flowchart code, titles left out). Past `limit` concepts, the ones nearest the target
    stay in the chart and the earliest are left out (and listed by the template)."""
    path = article.path
    shown = path[-limit:] if limit > 0 else []
    left_out = [c.title for c in path[: len(path) - len(shown)]]
    ids = {c.key: f"c{i}" for i, c in enumerate(shown)}
    lines = ["flowchart TD"]
    for concept in shown:
        lines.append(f"  {ids[concept.key]}[{_label(concept.title)}]")
    for before, after in article.edges:
        if before in ids and after in ids:
            lines.append(f"  {ids[before]} --> {ids[after]}")
    for level, style in _CLASSES.items():
        members = [ids[c.key] for c in shown if c.level == level]
        if members:
            lines.append(f"  classDef {level} {style}")
            lines.append(f"  class {','.join(members)} {level}")
    if article.target.key in ids:
        lines.append("  classDef target stroke-width:3px")
        lines.append(f"  class {ids[article.target.key]} target")
    return "\n".join(lines) + "\n", left_out


def learning_path_block(article: Article, limit: int = MAX_NODES) -> str:
    """The Markdown a template places with `{{ learning_path }}`: the chart, then the
    concepts left out of it, if any. Empty for an article of one concept."""
    if len(article.path) < 2:
        return ""
    code, left_out = learning_path_mermaid(article, limit)
    block = "```{mermaid}\n" + code + "```\n"
    if left_out:
        block += (f"\nAlso on the path, before the chart starts ({len(left_out)}): "
                  + ", ".join(left_out) + ".\n")
    return block
