"""kb — a concept graph, its gaps and article drafts from typed Markdown notes.

Library entry point::

    import kb
    session = kb.open_vault("path/to/vault")
    session.graph.concepts["eigenvalues"].level
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from kb.session import Session


def open_vault(root: str | Path, *, use_cache: bool = True,
               progress: Callable[[int, int], None] | None = None) -> Session:
    """Load every note under `root` (parsing only what changed since the cache in `.kb/`, unless
    `use_cache` is false) and build the graph: the session holds both, with every diagnostic of
    the two collected and sorted on the graph."""
    import gc

    from kb.errors import Diagnostic
    from kb.vault.load import load_vault

    def import_graph() -> None:  # networkx is slow to import: do it while the files are read
        import kb.graph.concepts  # noqa: F401

    # Loading allocates hundreds of thousands of objects that all stay alive; the cyclic
    # collector would walk them again and again for nothing (docs/performance.md).
    collecting = gc.isenabled()
    gc.disable()
    try:
        vault = load_vault(Path(root), use_cache=use_cache, progress=progress, meanwhile=import_graph)
        from kb.graph.concepts import build_graph
        from kb.notes.conventions import apply_conventions

        # kb.toml's [conventions] map what a vault already writes onto kb's fields: a pure
        # step between parsing (cached, the same whatever kb.toml says) and the graph.
        vault.notes = apply_conventions(vault.notes, vault.config.conventions)
        graph = build_graph(vault.notes, vault.attachments)
    finally:
        if collecting:
            gc.enable()
    from kb.session import Session

    graph.diagnostics[:0] = vault.diagnostics
    graph.diagnostics.sort(key=Diagnostic.sort_key)
    return Session(vault, graph, use_cache=use_cache)
