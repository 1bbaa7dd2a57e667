"""The I/O edge for reading: find note files, read their bytes, parse them (in parallel when
it pays), and reuse the cache for files that did not change."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.config import Config, load_config
from kb.errors import Diagnostic
from kb.model import PARSER_VERSION, Note
from kb.resolve import normalize

# Below this many bytes to parse (about 400 typical notes, a tenth of a second of work),
# starting worker processes costs more than it saves.
PARALLEL_MIN_BYTES = 1_000_000
CHUNKS_PER_WORKER = 16  # work is handed out in chunks of about equal bytes, so workers finish together
MAX_CHUNK_FILES = 64

Progress = Callable[[int, int], None]  # (parsed so far, total to parse)


@dataclass
class Vault:
    root: Path
    config: Config
    notes_dir: Path
    notes: list[Note] = field(default_factory=list)
    attachments: set[str] = field(default_factory=set)  # normalized, notes-relative
    diagnostics: list[Diagnostic] = field(default_factory=list)  # config and I/O problems
    notices: list[str] = field(default_factory=list)  # about kb itself (the cache), not the vault
    parsed: int = 0  # how many notes were parsed rather than taken from the cache
    modified: dict[str, float] = field(default_factory=dict)  # path → mtime (s), for activity

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


@dataclass(frozen=True, slots=True)
class NoteFile:
    path: str  # a plain string: a Path per file costs measurable time on large vaults
    shown: str  # vault-relative, for diagnostics
    rel: str  # notes-relative, without .md
    size: int
    mtime_ns: int


def scan(vault: Vault) -> tuple[list[NoteFile], set[str]]:
    """Markdown files (sorted, with their stat) and attachment paths under the notes folder.

    Hidden entries, and the articles and templates folders, are never notes."""
    excluded = {(vault.root / vault.config.articles).resolve(),
                (vault.root / vault.config.templates).resolve()}
    markdown: list[NoteFile] = []
    attachments: set[str] = set()
    base = vault.notes_dir
    base_prefix = len(str(base)) + 1
    root_prefix = len(str(vault.root)) + 1
    inside_root = str(base) == str(vault.root) or str(base).startswith(str(vault.root) + os.sep)
    pending = [str(base)]
    seen_folders = {os.path.realpath(base)}  # a symlink back up the tree must not loop forever
    # Plain strings rather than pathlib here: this loop runs once per file on every command.
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            vault.diagnostics.append(Diagnostic(vault.relpath(Path(folder)), 0, "error", "io-error",
                                                f"cannot read folder: {exc.strerror}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    real = os.path.realpath(entry.path)
                    if real not in seen_folders and Path(real) not in excluded:
                        seen_folders.add(real)
                        pending.append(entry.path)
                    continue
                rel_path = entry.path[base_prefix:].replace(os.sep, "/")
                if entry.name.lower().endswith(".md"):
                    stat = entry.stat()
                    shown = (entry.path[root_prefix:].replace(os.sep, "/") if inside_root
                             else vault.relpath(Path(entry.path)))
                    markdown.append(NoteFile(entry.path, shown, rel_path[:-3], stat.st_size,
                                             stat.st_mtime_ns))
                else:
                    attachments.add(normalize(rel_path))
            except OSError as exc:
                vault.diagnostics.append(Diagnostic(vault.relpath(Path(entry.path)), 0, "error",
                                                    "io-error", f"cannot read: {exc.strerror}"))
    markdown.sort(key=lambda f: f.shown)
    return markdown, attachments


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _read_and_parse(item: tuple[str, str, str]) -> tuple[Note | None, str, str | None]:
    """Worker: (path, shown, rel) → (note, digest, error). Module-level so processes can run it."""
    from kb.parse import parse_note

    path, shown, rel = item
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, "", exc.strerror or str(exc)
    return parse_note(shown, rel, data), _digest(data), None


# What parsing one file gives: the note (None if unreadable), the file's digest, why it could
# not be read, and its cache record when a worker process made one.
Parsed = tuple[Note | None, str, str | None, str | None]
# What a worker sends back per file: (record, body) in place of the note — or the note itself
# when it cannot be a record — then digest and error.
Sent = tuple[str | None, str, Note | None, str, str | None]


def _parse_chunk_in_worker(chunk: list[tuple[str, str, str]]) -> list[Sent]:
    """Worker: like _read_and_parse for each file, but a note travels back as its cache record
    and body: a fifth of the cost of pickling it, and the record is what the cache stores."""
    from kb.cache import note_to_record

    sent: list[Sent] = []
    for item in chunk:
        note, digest, error = _read_and_parse(item)
        if note is None:
            sent.append((None, "", None, digest, error))
            continue
        try:
            sent.append((note_to_record(note), note.body, None, digest, None))
        except (TypeError, ValueError):  # a front-matter value JSON cannot hold: send the note
            sent.append((None, "", note, digest, None))
    return sent


def _parse_all(files: list[NoteFile], progress: Progress | None,
               meanwhile: Callable[[], None] | None = None) -> list[Parsed]:
    """Parse files (in worker processes when there is enough to do), results in file order."""
    import kb.parse  # noqa: F401 - imported before forking so workers start warm

    items = [(f.path, f.shown, f.rel) for f in files]
    total = len(items)
    workers = min(os.cpu_count() or 1, 8)
    if sum(f.size for f in files) >= PARALLEL_MIN_BYTES and total > 1 and workers > 1:
        try:
            import multiprocessing
            from concurrent.futures.process import BrokenProcessPool

            context = multiprocessing.get_context("fork")
        except (ValueError, ImportError):
            pass  # no fork on this platform: parse in this process
        else:
            try:
                return _parse_in_workers(files, items, workers, context, progress, meanwhile)
            except (OSError, BrokenProcessPool):
                pass  # no processes here (or one died): parse in this process
    serial: list[Parsed] = []
    for index, item in enumerate(items, 1):
        serial.append((*_read_and_parse(item), None))
        if progress and (index % 64 == 0 or index == total):
            progress(index, total)
    return serial


def byte_chunks(sizes: list[int], workers: int) -> list[list[int]]:
    """Indexes of files grouped into chunks of about equal bytes, in file order (reading a
    folder in order is measurably faster), except that a file of a chunk's size or more (a
    900 KB changelog) gets a chunk of its own at the front, largest first: started early,
    it cannot leave one worker busy long after the others are done."""
    target = max(sum(sizes) // (workers * CHUNKS_PER_WORKER), 1)
    huge = sorted((i for i, size in enumerate(sizes) if size >= target), key=lambda i: -sizes[i])
    chunks = [[i] for i in huge]
    current: list[int] = []
    current_bytes = 0
    for index, size in enumerate(sizes):
        if size >= target:
            continue
        current.append(index)
        current_bytes += size
        if current_bytes >= target or len(current) >= MAX_CHUNK_FILES:
            chunks.append(current)
            current, current_bytes = [], 0
    if current:
        chunks.append(current)
    return chunks


def _parse_in_workers(files: list[NoteFile], items: list[tuple[str, str, str]], workers: int,
                      context: Any, progress: Progress | None,
                      meanwhile: Callable[[], None] | None) -> list[Parsed]:
    from concurrent.futures import ProcessPoolExecutor

    chunks = byte_chunks([f.size for f in files], workers)
    found: dict[int, Parsed] = {}
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parsing = pool.map(_parse_chunk_in_worker, [[items[i] for i in chunk] for chunk in chunks])
        if meanwhile is not None:
            meanwhile()
        for chunk, sent in zip(chunks, parsing, strict=True):
            # Notes are rebuilt here while the workers go on parsing the next chunks.
            found.update(zip(chunk, _notes_from_workers([items[i] for i in chunk], sent),
                             strict=True))
            if progress:
                progress(len(found), len(items))
    return [found[index] for index in range(len(items))]


def _notes_from_workers(items: list[tuple[str, str, str]], sent: list[Sent]) -> list[Parsed]:
    from kb.cache import decode_records, record_to_note

    decoded = iter(decode_records([record for record, *_ in sent if record is not None]))
    results: list[Parsed] = []
    for (_path, shown, rel), (record, body, note, digest, error) in zip(items, sent, strict=True):
        if record is not None:
            data = next(decoded)
            if data is None:  # pragma: no cover - a worker's own JSON always decodes
                raise ValueError(f"unreadable record for {shown}")
            note = record_to_note(shown, rel, data, body)
        results.append((note, digest, error, record))
    return results


def load_vault(root: Path, *, use_cache: bool = True, progress: Progress | None = None,
               meanwhile: Callable[[], None] | None = None) -> Vault:
    """Read and parse every note, reusing cached records of unchanged files.
    Never raises for a bad note: it becomes a diagnostic. `meanwhile`, if given, is called
    while worker processes parse, if they do (this process only waits for them then)."""
    from kb import __version__
    from kb.cache import (
        RACY_SECONDS,
        RECORD_FORMAT,
        CachedRow,
        FreshRow,
        NoteCache,
        decode_records,
        record_to_note,
    )

    root = root.resolve()
    cache = NoteCache(root, f"{__version__}/{PARSER_VERSION}/{RECORD_FORMAT}") if use_cache else None
    cached: dict[str, CachedRow] = {}
    notices = []
    if cache is not None:
        try:
            cached = cache.load()
        except (sqlite3.Error, OSError, ValueError) as exc:
            notices.append(f"the cache in .kb/ could not be read ({exc}); "
                           "parsing every note and rebuilding it")
            cache.discard()
    config, diagnostics, config_memo = load_config(root, cache.config_memo if cache else None)
    vault = Vault(root=root, config=config, notes_dir=notes_dir_for(root, config),
                  diagnostics=list(diagnostics), notices=notices)
    if not vault.notes_dir.is_dir():
        missing = vault.relpath(vault.notes_dir)
        vault.diagnostics.append(Diagnostic("kb.toml", 0, "error", "config-error",
                                            f"notes folder '{missing}' does not exist"))
        if cache is not None:
            cache.close()
        return vault
    files, vault.attachments = scan(vault)
    vault.modified = {f.shown: f.mtime_ns / 1e9 for f in files}

    by_path: dict[str, Note] = {}
    to_parse: list[NoteFile] = []
    fresh: list[FreshRow] = []
    reuse: list[tuple[NoteFile, CachedRow, bool]] = []  # (file, its row, touched but unchanged)
    racy_after = (cache.written_at - RACY_SECONDS) * 1e9 if cache is not None else 0
    for item in files:
        row = cached.get(item.shown)
        if row is None or row.rel != item.rel:
            to_parse.append(item)
        elif row.size == item.size and row.mtime_ns == item.mtime_ns and item.mtime_ns < racy_after:
            reuse.append((item, row, False))
        else:
            try:
                with open(item.path, "rb") as handle:
                    data = handle.read()
            except OSError:
                to_parse.append(item)  # parsing reports it
                continue
            if _digest(data) == row.digest:  # touched (or too recent to trust), not changed
                reuse.append((item, row, (row.size, row.mtime_ns) != (item.size, item.mtime_ns)))
            else:
                to_parse.append(item)

    for (item, row, touched), record in zip(reuse, decode_records([r.record for _, r, _ in reuse]),
                                            strict=True):
        try:
            if record is None:
                raise ValueError("not JSON")
            note = record_to_note(item.shown, item.rel, record, row.body)
        except (ValueError, KeyError, TypeError):
            to_parse.append(item)  # an unreadable record is simply parsed again
            continue
        by_path[item.shown] = note
        if touched:
            fresh.append(FreshRow(item.shown, item.size, item.mtime_ns, row.digest, note))

    if to_parse:
        results = _parse_all(to_parse, progress, meanwhile)
        for item, (note, digest, error, record) in zip(to_parse, results, strict=True):
            if note is None:
                vault.diagnostics.append(Diagnostic(item.shown, 0, "error", "io-error",
                                                    f"cannot read: {error}"))
                continue
            by_path[item.shown] = note
            fresh.append(FreshRow(item.shown, item.size, item.mtime_ns, digest, note, record))
    vault.parsed = len(to_parse)
    vault.notes = [by_path[f.shown] for f in files if f.shown in by_path]

    if cache is not None and (fresh or set(cached) != set(by_path) or config_memo is not None):
        try:
            cache.save(fresh, set(by_path), rebuild=not cached, config_memo=config_memo)
        except (sqlite3.Error, OSError) as exc:
            vault.notices.append(f"could not update the cache in .kb/ ({exc}); "
                                 "results are correct, the next run parses again")
    if cache is not None:
        cache.close()
    return vault
