"""The I/O edge for reading: find note files, read their bytes, parse them (in parallel when
it pays), and reuse the cache for files that did not change."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import sqlite3
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from kb.errors import Diagnostic, printable
from kb.graph.resolve import normalize
from kb.notes.model import PARSER_VERSION, Note
from kb.vault.cache import clamp_stamp
from kb.vault.config import Config, load_config
from kb.vault.paths import (
    NotReadableError,
    confined,
    describe_mode,
    is_inside,
    is_utf8_name,
    read_regular_file,
    too_large,
)

# Below this many bytes to parse (about 400 typical notes), starting worker processes costs
# more than it saves (docs/performance.md).
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
        """Where articles go; raises UnsafePathError if a symlink takes it out of the vault."""
        return confined(self.root, self.root / self.config.articles)

    @property
    def templates_dir(self) -> Path | None:
        """The vault's templates folder; None (built-in templates only) if it leads out of
        the vault, which load_vault reports."""
        folder = self.root / self.config.templates
        return folder if is_inside(folder, self.root) else None


def notes_dir_for(root: Path, config: Config) -> Path:
    if config.notes is not None:
        return (root / config.notes).resolve()
    default = root / "notes"
    return default.resolve() if default.is_dir() else root


class NoteFile(NamedTuple):  # a tuple: one is made per note file on every command
    path: str  # a plain string: a Path per file costs measurable time on large vaults
    shown: str  # vault-relative, for diagnostics
    rel: str  # notes-relative, without .md
    size: int
    mtime_ns: int
    ctime_ns: int = 0
    ino: int = 0
    linked: bool = False  # reached through a symlink (whose target stays in the vault)


_STAMP_MIN, _STAMP_MAX = -(1 << 63), (1 << 63) - 1  # what SQLite stores (kb.vault.cache.clamp_stamp)


def scan(vault: Vault) -> tuple[list[NoteFile], set[str]]:
    """Markdown files (sorted, with their stat) and attachment paths under the notes folder.

    Hidden entries, and the articles and templates folders, are never notes. Only regular
    files are notes; a symlink is followed only when its target is inside the vault; a name
    that is not UTF-8 or a file over `max_note_bytes` is a diagnostic, not a note."""
    excluded = {(vault.root / vault.config.articles).resolve(),
                (vault.root / vault.config.templates).resolve(),
                *template_folders(vault.root, vault.notes_dir)}
    patterns = [p.strip().rstrip("/").removesuffix("/**") for p in vault.config.exclude if p.strip()]

    def excluded_by_pattern(rel_path: str) -> bool:
        return any(fnmatch.fnmatchcase(rel_path, pattern) for pattern in patterns)

    markdown: list[NoteFile] = []
    attachments: set[str] = set()
    base = vault.notes_dir
    base_prefix = len(str(base)) + 1
    root = str(vault.root)
    root_prefix = len(root) + 1
    inside_root = str(base) == root or str(base).startswith(root + os.sep)
    limit = vault.config.max_note_bytes
    pending = [str(base)]
    seen_folders = {os.path.realpath(base)}  # a symlink back up the tree must not loop forever

    def skip(path: str, severity: str, code: str, message: str) -> None:
        vault.diagnostics.append(Diagnostic(vault.relpath(Path(path)), 0, severity,  # type: ignore[arg-type]
                                            code, message))

    # Plain strings rather than pathlib here: this loop runs once per file on every command.
    while pending:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError as exc:
            skip(folder, "error", "io-error", f"cannot read folder: {exc.strerror}")
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if not name.isascii() and not is_utf8_name(name):  # ASCII is UTF-8: skip the encode
                skip(entry.path, "error", "bad-file-name",
                     f"the name '{printable(name)}' is not valid UTF-8; skipped (rename it)")
                continue
            try:
                linked = entry.is_symlink()
                if linked and not is_inside(entry.path, root):
                    skip(entry.path, "warning", "outside-vault",
                         "a symlink to a place outside the vault; not followed")
                    continue
                rel_path = entry.path[base_prefix:].replace(os.sep, "/")
                if patterns and excluded_by_pattern(rel_path):
                    continue
                if entry.is_dir():
                    real = os.path.realpath(entry.path)
                    if real not in seen_folders and Path(real) not in excluded:
                        seen_folders.add(real)
                        pending.append(entry.path)
                    continue
                if name[-3:].lower() == ".md":
                    info = entry.stat()
                    if not stat.S_ISREG(info.st_mode):
                        skip(entry.path, "error", "not-a-file",
                             f"{describe_mode(info.st_mode)}, not a note file; skipped")
                        continue
                    if info.st_size > limit:
                        skip(entry.path, "error", "too-large",
                             f"the note is {too_large(info.st_size, limit)}")
                        continue
                    shown = (entry.path[root_prefix:].replace(os.sep, "/") if inside_root
                             else vault.relpath(Path(entry.path)))
                    mtime, ctime = info.st_mtime_ns, info.st_ctime_ns
                    if not (_STAMP_MIN <= mtime <= _STAMP_MAX and _STAMP_MIN <= ctime <= _STAMP_MAX):
                        mtime, ctime = clamp_stamp(mtime), clamp_stamp(ctime)  # after 2262
                    markdown.append(NoteFile(entry.path, shown, rel_path[:-3], info.st_size,
                                             mtime, ctime, info.st_ino, linked))
                else:
                    attachments.add(normalize(rel_path))
            except OSError as exc:
                skip(entry.path, "error", "io-error", f"cannot read: {exc.strerror}")
    markdown.sort(key=lambda f: f.shown)
    return markdown, attachments


# Where Obsidian's core Templates plugin and the Templater plugin keep their settings, and the
# key that names the template folder (relative to the Obsidian vault).
_TEMPLATE_SETTINGS = ((".obsidian/templates.json", "folder"),
                      (".obsidian/plugins/templater-obsidian/data.json", "templates_folder"))


def template_folders(root: Path, notes_dir: Path) -> set[Path]:
    """Obsidian's template folders: their files are templates (`{{date}}`, `<% tp… %>`), not
    notes. Read from the settings of an Obsidian vault at the vault root or the notes folder."""
    import json

    found: set[Path] = set()
    for base in {root, notes_dir}:
        for settings, key in _TEMPLATE_SETTINGS:
            path = base / settings
            if not os.path.lexists(path) or not is_inside(path, root):
                continue
            try:
                folder = json.loads(read_regular_file(str(path), 1 << 20)).get(key)
            except (OSError, ValueError, NotReadableError, AttributeError):
                continue
            if isinstance(folder, str) and folder.strip().strip("/"):
                found.add((base / folder.strip().strip("/")).resolve())
    return found


def read_note_file(item: NoteFile, limit: int) -> bytes:
    """A note's bytes: a regular file, at most `limit` bytes, never blocking (see kb.vault.paths)."""
    return read_regular_file(item.path, limit, follow=item.linked)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# What a worker is given per file: (path, shown, rel, follow symlinks, size limit).
Item = tuple[str, str, str, bool, int]


def _read_and_parse(item: Item) -> tuple[Note | None, str, str | None]:
    """Worker: (path, shown, rel, …) → (note, digest, error). Module-level so processes can run it."""
    from kb.notes.parse import parse_note

    path, shown, rel, follow, limit = item
    try:
        data = read_regular_file(path, limit, follow=follow)
    except NotReadableError as exc:
        return None, "", str(exc)
    except OSError as exc:
        return None, "", exc.strerror or str(exc)
    return parse_note(shown, rel, data), _digest(data), None


# What parsing one file gives: the note (None if unreadable), the file's digest, why it could
# not be read, and its cache record when a worker process made one.
Parsed = tuple[Note | None, str, str | None, str | None]
# What a worker sends back per file: (record, body) in place of the note — or the note itself
# when it cannot be a record — then digest and error.
Sent = tuple[str | None, str, Note | None, str, str | None]


def _parse_chunk_in_worker(chunk: list[Item]) -> list[Sent]:
    """Worker: like _read_and_parse for each file, but a note travels back as its cache record
    and body: much cheaper than pickling it, and the record is what the cache stores."""
    from kb.vault.cache import note_to_record

    sent: list[Sent] = []
    for item in chunk:
        note, digest, error = _read_and_parse(item)
        if note is None:
            sent.append((None, "", None, digest, error))
            continue
        try:
            sent.append((note_to_record(note), note.body, None, digest, None))
        except (TypeError, ValueError, RecursionError):  # a value JSON cannot hold: send the note
            sent.append((None, "", note, digest, None))
    return sent


def _parse_all(files: list[NoteFile], limit: int, progress: Progress | None,
               meanwhile: Callable[[], None] | None = None) -> list[Parsed]:
    """Parse files (in worker processes when there is enough to do), results in file order."""
    import kb.notes.parse  # noqa: F401 - imported before forking so workers start warm

    items: list[Item] = [(f.path, f.shown, f.rel, f.linked, limit) for f in files]
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


def _parse_in_workers(files: list[NoteFile], items: list[Item], workers: int,
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


def _notes_from_workers(items: list[Item], sent: list[Sent]) -> list[Parsed]:
    from kb.vault.cache import decode_records, record_to_note

    decoded = iter(decode_records([record for record, *_ in sent if record is not None]))
    results: list[Parsed] = []
    for (_path, shown, rel, _follow, _limit), (record, body, note, digest, error) in zip(
            items, sent, strict=True):
        if record is not None:
            data = next(decoded)
            if data is None:  # pragma: no cover - a worker's own JSON always decodes
                raise ValueError(f"unreadable record for {shown}")
            note = record_to_note(shown, rel, data, body)
        results.append((note, digest, error, record))
    return results


# The libraries whose output a cached record holds: another version of one may parse the same
# bytes differently, so each one's version is part of the cache's key.
PARSING_LIBRARIES = (("markdown-it-py", "markdown_it"), ("mdit-py-plugins", "mdit_py_plugins"),
                     ("PyYAML", "yaml"), ("pydantic", "pydantic"))


def library_versions() -> str:
    """`name=version` of each parsing library, without importing it: from the `*.dist-info`
    folder beside the package (one folder listing; importlib.metadata searches every path
    entry for each name, a twentieth of a warm run), else from importlib.metadata."""
    import importlib.util

    found = []
    listings: dict[str, list[str]] = {}
    for name, module in PARSING_LIBRARIES:
        version = None
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations:
            folder = os.path.dirname(list(spec.submodule_search_locations)[0])
            if folder not in listings:
                try:
                    listings[folder] = os.listdir(folder)
                except OSError:
                    listings[folder] = []
            prefix = name.lower().replace("-", "_") + "-"
            for entry in listings[folder]:
                if entry.lower().startswith(prefix) and entry.endswith(".dist-info"):
                    version = entry[len(prefix):-len(".dist-info")]
                    break
        if version is None:
            from importlib.metadata import PackageNotFoundError
            from importlib.metadata import version as installed_version

            try:
                version = installed_version(name)
            except PackageNotFoundError:  # run from a source tree without it installed
                version = "?"
        found.append(f"{name}={version}")
    return ",".join(found)


def cache_key() -> str:
    """What a cached record depends on besides the note's bytes: a cache written under any
    other key is rebuilt."""
    from kb import __version__
    from kb.vault.cache import RECORD_FORMAT

    return f"{__version__}/{PARSER_VERSION}/{RECORD_FORMAT}/{library_versions()}"


def load_vault(root: Path, *, use_cache: bool = True, progress: Progress | None = None,
               meanwhile: Callable[[], None] | None = None) -> Vault:
    """Read and parse every note, reusing cached records of unchanged files.
    Never raises for a bad note: it becomes a diagnostic. `meanwhile`, if given, is called
    while worker processes parse, if they do (this process only waits for them then)."""
    from kb.vault.cache import (
        RACY_SECONDS,
        CachedRow,
        FreshRow,
        NoteCache,
        checksum,
        decode_records,
        record_to_note,
    )

    root = root.resolve()
    cache = NoteCache(root, cache_key()) if use_cache else None
    cached: dict[str, CachedRow] = {}
    notices = []
    if cache is not None and not cache.stays_inside(root):
        notices.append(".kb/ or a cache file in it is a symlink or not a regular file; "
                       "the cache is not used")
        cache = None
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
    for key in ("articles", "templates"):
        if not is_inside(root / getattr(config, key), root):
            vault.diagnostics.append(Diagnostic(
                "kb.toml", 0, "error", "outside-vault",
                f"the {key} folder '{printable(getattr(config, key))}' is a symlink to a place "
                f"outside the vault; kb will not " + ("write there" if key == "articles" else
                                                      "read templates from it")))
    problem = None
    if not is_inside(vault.notes_dir, root):
        problem = (f"notes folder '{printable(config.notes or 'notes')}' leads outside the vault "
                   "(a symlink); no notes were read")
    elif not vault.notes_dir.is_dir():
        problem = f"notes folder '{printable(vault.relpath(vault.notes_dir))}' does not exist"
    if problem is not None:
        vault.diagnostics.append(Diagnostic("kb.toml", 0, "error", "config-error", problem))
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
    limit = config.max_note_bytes
    for item in files:
        row = cached.get(item.shown)
        # A row counts only for the very file it was made from (its stat key, inode and ctime
        # included): a file touched or replaced since, and any row in a cache that came with
        # someone else's vault, is parsed again — the content hash alone never vouches for a
        # record, since whoever wrote the file can compute it.
        if (row is None or row.rel != item.rel or (row.size, row.mtime_ns, row.ctime_ns, row.ino)
                != (item.size, item.mtime_ns, item.ctime_ns, item.ino)):
            to_parse.append(item)
        elif item.ctime_ns < racy_after:
            reuse.append((item, row, False))
        else:  # changed so close to the cache write that the stat cannot tell: compare bytes
            try:
                data = read_note_file(item, limit)
            except (OSError, NotReadableError):
                to_parse.append(item)  # parsing reports it
                continue
            if _digest(data) == row.digest:
                reuse.append((item, row, True))  # stored again, so it is out of the window next time
            else:
                to_parse.append(item)

    for (item, row, touched), record in zip(reuse, decode_records([r.record for _, r, _ in reuse]),
                                            strict=True):
        try:
            if record is None or checksum(row.record, row.body) != row.check:
                raise ValueError("not the record kb wrote")
            note = record_to_note(item.shown, item.rel, record, row.body)
        except (ValueError, KeyError, TypeError):
            to_parse.append(item)  # an unreadable record is simply parsed again
            continue
        by_path[item.shown] = note
        if touched:
            fresh.append(FreshRow(item.shown, item.size, item.mtime_ns, item.ctime_ns, item.ino,
                                  row.digest, note, row.record))  # the record as it was

    if to_parse:
        results = _parse_all(to_parse, limit, progress, meanwhile)
        for item, (parsed, digest, error, parsed_record) in zip(to_parse, results, strict=True):
            if parsed is None:
                vault.diagnostics.append(Diagnostic(item.shown, 0, "error", "io-error",
                                                    f"cannot read: {error}"))
                continue
            by_path[item.shown] = parsed
            fresh.append(FreshRow(item.shown, item.size, item.mtime_ns, item.ctime_ns, item.ino,
                                  digest, parsed, parsed_record))
    vault.parsed = len(to_parse)
    vault.notes = [by_path[f.shown] for f in files if f.shown in by_path]

    if cache is not None and (fresh or set(cached) != set(by_path) or config_memo is not None):
        try:
            cache.save(fresh, set(by_path), rebuild=not cached, config_memo=config_memo)
        except (sqlite3.Error, OSError, OverflowError) as exc:
            vault.notices.append(f"could not update the cache in .kb/ ({exc}); "
                                 "results are correct, the next run parses again")
    if cache is not None:
        cache.close()
    return vault
