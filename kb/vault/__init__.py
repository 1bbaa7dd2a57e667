"""A folder of notes: scanning and loading, the cache, kb.toml, the trust boundary (paths),
writing safely, `kb init`."""

from __future__ import annotations


def __getattr__(name: str) -> object:
    """`from kb.vault import load_vault` as before the package was grouped: the names of the
    module `kb.vault` was, now `kb.vault.load`. Imported on first use, so that importing another
    module of this package stays cheap."""
    import importlib
    import warnings

    module = importlib.import_module("kb.vault.load")
    if name.startswith("__") or not hasattr(module, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(f"kb.vault.{name} moved to kb.vault.load.{name}", DeprecationWarning, stacklevel=2)
    return getattr(module, name)
