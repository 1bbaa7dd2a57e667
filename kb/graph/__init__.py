"""Links resolved, the concept graph and its queries (gaps, paths, mastery), its exports and
the HTML map."""

from __future__ import annotations


def __getattr__(name: str) -> object:
    """`from kb.graph import KnowledgeGraph` as before the package was grouped: the names of the
    module `kb.graph` was, now `kb.graph.concepts`. Imported on first use, so that importing another
    module of this package stays cheap."""
    import importlib
    import warnings

    module = importlib.import_module("kb.graph.concepts")
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"kb.graph.{name} moved to kb.graph.concepts.{name}", DeprecationWarning, stacklevel=2)
    return getattr(module, name)
