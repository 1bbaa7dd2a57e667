"""Article drafts: assembly in learning order, publishable Markdown, citations and sources."""

from __future__ import annotations


def __getattr__(name: str) -> object:
    """`from kb.articles import render_article` as before the package was grouped: the names of the
    module `kb.articles` was, now `kb.articles.drafts`. Imported on first use, so that importing another
    module of this package stays cheap."""
    import importlib
    import warnings

    module = importlib.import_module("kb.articles.drafts")
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"kb.articles.{name} moved to kb.articles.drafts.{name}", DeprecationWarning, stacklevel=2)
    return getattr(module, name)
