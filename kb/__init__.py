"""kb — a concept graph, its gaps and article drafts from typed Markdown notes."""

__version__ = "0.1.0"
