"""Names that moved when the package was grouped into subpackages, still found for one release."""

from __future__ import annotations

from collections.abc import Callable


def moved_names(package: str, module: str) -> Callable[[str], object]:
    """A module `__getattr__` for `package`, which was a module before the grouping: its old
    names are looked up in `module` (where they live now) on first use, with a
    DeprecationWarning, so that importing any other module of the package stays cheap."""

    def __getattr__(name: str) -> object:
        import importlib
        import warnings

        target = importlib.import_module(module)
        if name.startswith("__") or not hasattr(target, name):
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        warnings.warn(f"{package}.{name} moved to {module}.{name}", DeprecationWarning, stacklevel=2)
        return getattr(target, name)

    return __getattr__
