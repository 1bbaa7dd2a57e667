"""The I/O edge for writing: atomic writes inside articles/, and records of what kb generated
so that an article edited by hand is never overwritten without --force."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

try:
    import fcntl
except ImportError:  # Windows: no flock; parallel runs there are not protected
    fcntl = None  # type: ignore[assignment]

from kb.errors import KbError, printable
from kb.graph.resolve import normalize
from kb.vault.paths import (
    NotReadableError,
    UnsafePathError,
    confined,
    is_inside,
    read_regular_file,
    state_file,
)

__all__ = ["UnsafePathError", "atomic_write", "create_new_file", "safe_output_path", "write_article"]

RECORD_FILE = Path(".kb") / "generated.json"
LOCK_FILE = Path(".kb") / "generated.lock"
RECORDS_MAX_BYTES = 16 << 20
ASSET_MAX_BYTES = 64 << 20  # an image copied beside an article
ARTICLE_MAX_BYTES = 64 << 20  # an article on disk, read to tell whether it was edited


class EditedArticleError(KbError):
    """The article on disk was changed since kb wrote it (or kb never wrote it)."""

    def __init__(self, shown_path: str) -> None:
        self.shown_path = shown_path
        super().__init__(
            f"{shown_path} was edited since kb generated it (or was not written by kb); "
            "kb did not overwrite it. To keep your edit, move it to another file name (or put "
            "the change into your notes, where kb picks it up); to replace it with a fresh "
            "draft, run the command again with --force.")


def digest(data: str | bytes) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


TEMP_SUFFIX = ".kb-tmp"  # kb's own temporary files; a run that was killed leaves one behind


def new_file_mode(existing: Path | None = None) -> int:
    """The mode an editor would give the file: the old file's mode when replacing one, else
    0666 less the umask (mkstemp's 0600 would hide a draft from a web server or CI)."""
    if existing is not None:
        try:
            return stat.S_IMODE(existing.stat().st_mode)
        except OSError:
            pass
    mask = os.umask(0o022)  # read the umask: setting it is the only way; put it straight back
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, text: str | bytes) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename over.
    Bytes are written as they are: no newline translation, ever."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = new_file_mode(path if path.exists() else None)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if hasattr(os, "fchmod"):  # not on Windows, where modes barely apply
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """kb's temporary files left in `folder` by a run that was killed. Only call this while
    holding the records lock: every kb writing there holds it too, so none is in use."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_file():
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


# -- the record that travels with an article ---------------------------------------------
STAMP_KEY = "kb-sha256"
_STAMP = re.compile(rf"(?m)^(% )?{STAMP_KEY}: ([0-9a-f]{{64}})$")


def stamp(text: str, relative: str) -> str:
    """The text with a `kb-sha256: <hash>` line: inside the YAML front matter of a Markdown
    article, as a `%` comment line opening a .bib file. The hash is the SHA-256 of the file
    with that line's hash left out, so any clone can tell whether the file was edited since kb
    wrote it, without `.kb/`. A file of another shape is returned unstamped."""
    if relative.endswith(".bib"):
        marked = f"% {STAMP_KEY}: \n" + text
        return marked.replace(f"% {STAMP_KEY}: \n", f"% {STAMP_KEY}: {digest(marked)}\n", 1)
    if not text.startswith("---\n"):
        return text
    close = text.find("\n---\n", 3)
    if close < 0:
        return text
    marked = text[:close + 1] + f"{STAMP_KEY}: \n" + text[close + 1:]
    at = close + 1
    return marked[:at] + f"{STAMP_KEY}: {digest(marked)}" + marked[at + len(STAMP_KEY) + 2:]


def stamp_state(data: bytes) -> bool | None:
    """True: the file is exactly what kb stamped; False: it was changed since; None: no stamp."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False if _STAMP.search(data.decode("utf-8", "replace")) else None
    match = _STAMP.search(text)
    if match is None:
        return None
    blank = text[:match.start(2)] + text[match.end(2):]
    return digest(blank) == match.group(2)


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
            if hasattr(os, "fchmod"):  # as an editor would create it, not mkstemp's 0600
                os.fchmod(handle.fileno(), new_file_mode())
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
    """`.kb/generated.json`: for each file kb wrote, the hash of what it wrote. A second record
    of what the stamp in the file itself says; the one kb falls back on for files that cannot
    carry a stamp. Updated under a lock and merged with what is on disk, one file at a time,
    so parallel runs never lose each other's records."""

    root: Path
    entries: dict[str, dict[str, str]]
    changed: dict[str, dict[str, str]] = field(default_factory=dict)  # what this run recorded
    problem: str | None = None  # why .kb/ could not be locked or written, if so
    _held: int = 0

    @classmethod
    def load(cls, root: Path) -> Records:
        return cls(root, _read_records(root))

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold `.kb/generated.lock` (an exclusive flock, released by the OS if kb dies), with
        the entries reloaded from disk and this run's own records laid over them."""
        if self._held:
            yield
            return
        lock_path = state_file(self.root, LOCK_FILE)
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+b")  # noqa: SIM115 - closed by the with below
        except OSError as exc:  # a read-only .kb/: write unlocked, and say so once
            self.problem = self.problem or f"could not lock {LOCK_FILE}: {exc}"
            self._held += 1
            try:
                self.entries = {**_read_records(self.root), **self.changed}
                yield
            finally:
                self._held -= 1
            return
        with handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            self._held += 1
            try:
                remove_stale_temporaries(lock_path.parent)
                self.entries = {**_read_records(self.root), **self.changed}
                yield
            finally:
                self._held -= 1
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def record(self, key: str, data: bytes) -> None:
        """Record one file at once, merged into what is on disk now."""
        sha = digest(data)
        if self.entries.get(key, {}).get("sha256") == sha:
            return  # already recorded (an unchanged article): no write, no fsync
        entry = {"sha256": sha, "written": dt.date.today().isoformat()}
        self.changed[key] = self.entries[key] = entry
        try:
            self.save()
        except OSError as exc:  # the stamp in the file still records it
            self.problem = self.problem or f"could not record generated articles in .kb/: {exc}"

    def save(self) -> None:
        """Write the records: what is on disk now plus this run's (under the lock)."""
        with self.locked():
            atomic_write(state_file(self.root, RECORD_FILE),
                         json.dumps({"articles": self.entries}, indent=2, sort_keys=True) + "\n")


def _read_records(root: Path) -> dict[str, dict[str, str]]:
    """The records on disk; a missing, unreadable or wrong-shaped file counts as empty."""
    try:
        data = json.loads(read_regular_file(str(state_file(root, RECORD_FILE)), RECORDS_MAX_BYTES))
    except (OSError, ValueError, KbError):
        return {}
    entries = data.get("articles") if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        return {}
    return {k: v for k, v in entries.items()
            if isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)}


WriteOutcome = Literal["written", "unchanged", "replaced-edit"]


def write_article(root: Path, articles_dir: Path, relative: str, text: str, records: Records,
                  *, force: bool = False) -> tuple[Path, WriteOutcome]:
    """Write one article (stamped, see `stamp`) unless that would lose a hand edit; record it
    at once. Raises EditedArticleError."""
    path = safe_output_path(articles_dir, relative, root)
    resolved_root = root.resolve()
    key = path.relative_to(resolved_root).as_posix() if path.is_relative_to(resolved_root) else str(path)
    data = stamp(text, relative).encode("utf-8")
    with records.locked():
        remove_stale_temporaries(path.parent)
        outcome: WriteOutcome = "written"
        if os.path.lexists(path):
            try:
                current = read_regular_file(str(path), ARTICLE_MAX_BYTES)
            except NotReadableError as exc:
                raise UnsafePathError(f"{key} is {exc}; kb will not replace it") from None
            if current == data:
                records.record(key, data)
                return path, "unchanged"
            if not _written_by_kb(current, records.entries.get(key)):
                if not force:
                    raise EditedArticleError(key)
                outcome = "replaced-edit"
        atomic_write(path, data)
        records.record(key, data)
    return path, outcome


def _written_by_kb(current: bytes, entry: dict[str, str] | None) -> bool:
    """Whether the file on disk is exactly what kb last wrote there: its own stamp says so,
    else (no stamp) the record in .kb/ does. Compared byte for byte."""
    state = stamp_state(current)
    if state is not None:
        return state
    return entry is not None and entry.get("sha256") == digest(current)


def write_asset(articles_dir: Path, relative: str, source: Path, records: Records) -> bool:
    """Copy an image into articles/ under its content-addressed name; False if already there.
    The image must be a file inside the vault (its real path), whatever asked for it."""
    if not is_inside(source, records.root):
        raise UnsafePathError(f"refusing to copy {printable(str(source))}: it is outside the vault")
    path = safe_output_path(articles_dir, relative, records.root)
    data = read_regular_file(str(source), ASSET_MAX_BYTES)  # never a FIFO, device or huge file
    with records.locked():
        remove_stale_temporaries(path.parent)
        try:
            if read_regular_file(str(path), ASSET_MAX_BYTES) == data:
                return False
        except (OSError, NotReadableError):
            pass  # absent, or not the file kb wrote under its own content-addressed name
        atomic_write(path, data)
    return True
