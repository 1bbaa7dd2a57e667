"""A folder of notes: scanning and loading, the cache, kb.toml, the trust boundary (paths),
writing safely, `kb init`."""

from kb.compat import moved_names

# Until 0.1 `kb.vault` was the module that is now `kb.vault.load`.
__getattr__ = moved_names(__name__, "kb.vault.load")
