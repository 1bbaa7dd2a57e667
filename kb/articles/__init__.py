"""Article drafts: assembly in learning order, publishable Markdown, citations and sources."""

from kb.compat import moved_names

# Until 0.1 `kb.articles` was the module that is now `kb.articles.drafts`.
__getattr__ = moved_names(__name__, "kb.articles.drafts")
