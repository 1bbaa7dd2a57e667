"""The I/O edge for writing: atomic writes inside articles/, and records of what kb generated
so that an article edited by hand is never overwritten without --force."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kb.errors import KbError
from kb.paths import UnsafePathError, confined, read_regular_file
from kb.resolve import normalize

__all__ = ["UnsafePathError", "atomic_write", "create_new_file", "safe_output_path", "write_article"]

RECORD_FILE = Path(".kb") / "generated.json"
RECORDS_MAX_BYTES = 16 << 20


class EditedArticleError(KbError):
    """The article on disk was changed since kb wrote it (or kb never wrote it)."""

    def __init__(self, shown_path: str) -> None:
        self.shown_path = shown_path
        super().__init__(
            f"{shown_path} was edited since kb generated it (or was not written by kb); "
            "kb did not overwrite it. To keep your edit, move it to another file name (or put "
            "the change into your notes, where kb picks it up); to replace it with a fresh "
            "draft, run the command again with --force.")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def atomic_write(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def safe_output_path(folder: Path, relative: str, root: Path | None = None) -> Path:
    """folder / relative, refusing anything that would resolve outside folder (or `folder`
    itself outside the vault `root`, when given)."""
    return confined(root or folder, folder, relative)


def create_new_file(folder: Path, stem: str, suffix: str, text: str,
                    taken: set[str] | None = None) -> Path:
    """Write text to folder/stem+suffix, or stem-2, stem-3 … — never over an existing file.

    `taken` holds (normalized) names that count as used although no file of that exact name
    is here, e.g. note ids elsewhere in the vault. The name is claimed with a hard link from a
    fully written temporary file, so a reader never sees half a note and a file that appears
    meanwhile (another kb, an editor, a sync tool) is never replaced."""
    taken = taken or set()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kb-new.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        n = 1
        while True:
            name = stem if n == 1 else f"{stem}-{n}"
            n += 1
            if normalize(name) in taken:
                continue
            target = safe_output_path(folder, name + suffix)
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: exclusive create instead
                try:
                    with open(target, "x", encoding="utf-8", newline="") as handle:
                        handle.write(text)
                except FileExistsError:
                    continue
            return target
    finally:
        Path(tmp).unlink(missing_ok=True)


@dataclass
class Records:
    """`.kb/generated.json`: for each article kb wrote, the hash of what it wrote."""

    root: Path
    entries: dict[str, dict[str, str]]

    @classmethod
    def load(cls, root: Path) -> Records:
        try:
            path = confined(root, root / RECORD_FILE.parent, RECORD_FILE.name)
            data = json.loads(read_regular_file(str(path), RECORDS_MAX_BYTES))
            entries = data.get("articles", {}) if isinstance(data, dict) else {}
        except (OSError, ValueError, KbError):  # absent, unreadable or not kb's: as if absent
            entries = {}
        well_formed = {key: value for key, value in entries.items()
                       if isinstance(value, dict) and isinstance(value.get("sha256"), str)
                       } if isinstance(entries, dict) else {}
        return cls(root, well_formed)

    def save(self) -> None:
        atomic_write(confined(self.root, self.root / RECORD_FILE.parent, RECORD_FILE.name),
                     json.dumps({"articles": self.entries}, indent=2, sort_keys=True) + "\n")


WriteOutcome = Literal["written", "unchanged", "replaced-edit"]


def write_article(root: Path, articles_dir: Path, relative: str, text: str, records: Records,
                  *, force: bool = False) -> tuple[Path, WriteOutcome]:
    """Write one article unless that would lose a hand edit. Raises EditedArticleError."""
    path = safe_output_path(articles_dir, relative, root)
    key = path.relative_to(root.resolve()).as_posix() if path.is_relative_to(root.resolve()) else str(path)
    outcome: WriteOutcome = "written"
    if path.exists():
        current = path.read_text(encoding="utf-8", errors="replace")
        if current == text:
            records.entries[key] = {"sha256": digest(text), "written": dt.date.today().isoformat()}
            return path, "unchanged"
        recorded = records.entries.get(key, {}).get("sha256")
        if recorded != digest(current):
            if not force:
                raise EditedArticleError(key)
            outcome = "replaced-edit"
    atomic_write(path, text)
    records.entries[key] = {"sha256": digest(text), "written": dt.date.today().isoformat()}
    return path, outcome
