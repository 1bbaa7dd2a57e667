"""An opened vault: its files and settings beside the graph built from its notes.

The graph (`kb.graph.concepts.KnowledgeGraph`) is pure: notes in, concepts and edges out, no files.
What a command needs of the vault itself — its root, `kb.toml`, where new notes go, the
state kept in `.kb/` — comes from the `Session` that `kb.open_vault` returns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import Diagnostic
from kb.notes.model import NoteType

if TYPE_CHECKING:
    from kb.graph.concepts import KnowledgeGraph
    from kb.learning.memory import Memory
    from kb.vault.config import Config
    from kb.vault.load import Vault


@dataclass
class Session:
    """A vault as one command sees it: `vault` (files, settings), `graph` (what the notes say),
    and whether `.kb/` may be read and written (`use_cache`)."""

    vault: Vault
    graph: KnowledgeGraph
    use_cache: bool = True

    def __getattr__(self, name: str) -> object:
        """What `kb.open_vault` returned before it returned a session was the graph: its
        attributes (`concepts`, `notes`, `key_of` …) still answer here, with a warning, for one
        release. (`session.graph` is the KnowledgeGraph itself, no longer its networkx graph.)"""
        if name.startswith("_") or name in ("vault", "graph"):
            raise AttributeError(name)
        import warnings

        value = getattr(self.graph, name)  # AttributeError when the graph has none either
        warnings.warn(f"Session.{name} is the graph's: use session.graph.{name}",
                      DeprecationWarning, stacklevel=2)
        return value

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Every diagnostic of the vault and its notes, sorted."""
        return self.graph.diagnostics

    @property
    def config(self) -> Config:
        return self.vault.config

    @property
    def root(self) -> Path:
        return self.vault.root

    def config_errors(self) -> list[Diagnostic]:
        """kb.toml's errors: commands that write notes stop on them, since a folder kb.toml
        names badly would send a note somewhere the user did not choose."""
        return [d for d in self.vault.diagnostics if d.code == "config-error"]

    def folder_for(self, note_type: NoteType) -> Path:
        """Where new notes of this type go: `[folders]` in kb.toml, inside the notes folder.
        Raises UnsafePathError when that folder leads out of the vault."""
        from kb.vault.write import safe_output_path

        subfolder = self.config.folders.get(note_type, "").strip().strip("/")
        if subfolder in ("", "."):
            return self.vault.notes_dir
        return safe_output_path(self.vault.notes_dir, subfolder)

    def taken_names(self) -> set[str]:
        """The normalized ids of every note: a new note's name must not be one of them."""
        from kb.graph.resolve import normalize

        return {normalize(n.id) for n in self.vault.notes}

    def memory(self, today: dt.date, as_of: dt.date | None = None) -> Memory:
        """Every practiced concept's memory, remembered in `.kb/memory.json` when the cache is
        used (never through a `.kb/` that a symlink takes out of the vault). With `[run]
        counts_as_review = true`, each note's first code run of a day is a review too."""
        from kb.learning.memory import MEMO_FILE, build_memory
        from kb.vault.paths import UnsafePathError, state_file

        memo = None
        if self.use_cache:
            try:
                memo = state_file(self.root, MEMO_FILE)
            except UnsafePathError:
                memo = None
        return build_memory(self.graph, today=today, as_of=as_of,
                            retention=self.config.retention, memo=memo, runs=self.review_runs())

    def review_runs(self) -> list[tuple[str, dt.date, str]]:
        """With `[run] counts_as_review = true`, each note's first `kb run` of a day as
        (note path, day, result); else none."""
        if not self.config.run.counts_as_review:
            return []
        from kb.learning.run import run_reviews

        return [(r.path, r.day, r.result) for r in run_reviews(self.root)]

    def review_diagnostics(self, today: dt.date) -> list[Diagnostic]:
        """Why a practice note (or a run of one) counts as no review: what `kb check` adds."""
        from kb.learning.memory import review_events

        return review_events(self.graph, today, self.review_runs())[1]
