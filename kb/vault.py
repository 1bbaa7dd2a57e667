"""The I/O edge for reading: find note files, read their bytes, parse them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kb.config import Config, load_config
from kb.errors import Diagnostic
from kb.model import Note
from kb.parse import parse_note
from kb.resolve import normalize


@dataclass
class Vault:
    root: Path
    config: Config
    notes_dir: Path
    notes: list[Note] = field(default_factory=list)
    attachments: set[str] = field(default_factory=set)  # normalized, notes-relative
    diagnostics: list[Diagnostic] = field(default_factory=list)  # config and I/O problems

    def relpath(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    @property
    def articles_dir(self) -> Path:
        return self.root / self.config.articles

    @property
    def templates_dir(self) -> Path:
        return self.root / self.config.templates


def notes_dir_for(root: Path, config: Config) -> Path:
    if config.notes is not None:
        return (root / config.notes).resolve()
    default = root / "notes"
    return default.resolve() if default.is_dir() else root


def scan(vault: Vault) -> tuple[list[Path], set[str]]:
    """Markdown files (sorted) and attachment paths under the notes folder.

    Hidden entries, and the articles and templates folders, are never notes."""
    excluded = {(vault.root / vault.config.articles).resolve(),
                (vault.root / vault.config.templates).resolve()}
    markdown: list[Path] = []
    attachments: set[str] = set()
    base = vault.notes_dir

    def on_error(exc: OSError) -> None:
        vault.diagnostics.append(Diagnostic(vault.relpath(Path(exc.filename or base)), 0,
                                            "error", "io-error", f"cannot read folder: {exc.strerror}"))

    for folder, dirs, files in os.walk(base, onerror=on_error):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (here / d).resolve() not in excluded)
        for name in files:
            if name.startswith("."):
                continue
            path = here / name
            if name.lower().endswith(".md"):
                markdown.append(path)
            else:
                attachments.add(normalize(path.relative_to(base).as_posix()))
    markdown.sort()
    return markdown, attachments


def load_vault(root: Path) -> Vault:
    """Read and parse every note. Never raises for a bad note: it becomes a diagnostic."""
    root = root.resolve()
    config, diagnostics = load_config(root)
    vault = Vault(root=root, config=config, notes_dir=notes_dir_for(root, config),
                  diagnostics=list(diagnostics))
    if not vault.notes_dir.is_dir():
        missing = vault.relpath(vault.notes_dir)
        vault.diagnostics.append(Diagnostic("kb.toml", 0, "error", "config-error",
                                            f"notes folder '{missing}' does not exist"))
        return vault
    files, vault.attachments = scan(vault)
    for path in files:
        rel_path = vault.relpath(path)
        rel = path.relative_to(vault.notes_dir).as_posix()[:-3]
        try:
            data = path.read_bytes()
        except OSError as exc:
            vault.diagnostics.append(Diagnostic(rel_path, 0, "error", "io-error",
                                                f"cannot read: {exc.strerror}"))
            continue
        vault.notes.append(parse_note(rel_path, rel, data))
    return vault
