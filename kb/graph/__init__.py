"""Links resolved, the concept graph and its queries (gaps, paths, mastery), its exports and
the HTML map."""

from kb.compat import moved_names

# Until 0.1 `kb.graph` was the module that is now `kb.graph.concepts`.
__getattr__ = moved_names(__name__, "kb.graph.concepts")
