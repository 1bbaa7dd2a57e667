"""The incremental cache: one row per note in `.kb/cache.sqlite`, keyed by path, size, mtime
and a content hash, tagged with kb's and the parser's versions.

Records are stored as JSON (never pickle: loading a cache must not be able to run code).
Any problem with the cache — corrupt, locked, read-only — means a cold run and a notice,
never a wrong answer: the cache only ever saves work.

A file counts as unchanged only when its size, mtime, ctime and inode are all as recorded
(git's rule). Tools that restore an mtime (`cp -p`, `rsync -a`, `touch -d`) cannot restore
the ctime, which the kernel sets on every change, so a same-size edit is still seen. Each
row carries a checksum of its record and body: a flipped byte is a re-parse, not an answer."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import os
import sqlite3
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from kb.errors import Diagnostic, KbError
from kb.notes.model import LATER_FIELDS, Heading, InlineField, Link, Note, Ref
from kb.vault.paths import is_inside

CACHE_FILE = Path(".kb") / "cache.sqlite"
# A file modified this close to the last cache write may have changed again within the same
# mtime tick: check its hash instead of trusting size and mtime (git's "racily clean" rule).
RACY_SECONDS = 2.0
# Bump whenever the record layout changes, so older caches are rebuilt rather than misread.
RECORD_FORMAT = 4
# Front-matter values nest no deeper than this in a record (the parser bounds them already).
MAX_VALUE_DEPTH = 64
_SQLITE_INT = (-(1 << 63), (1 << 63) - 1)


def clamp_stamp(value: int) -> int:
    """A time stamp in nanoseconds as SQLite can store it: a file dated after 2262 (or before
    1677) keeps a stamp, just not its exact one, and is then checked by its hash."""
    return min(max(value, _SQLITE_INT[0]), _SQLITE_INT[1])


def checksum(record: str, body: str) -> str:
    """CRC-32 of a row's record, and of its body's length: it catches a flipped or lost byte in
    what the note was parsed into, or a body cut short, cheaply enough to run on every row of
    every warm run. What a person could forge on purpose is kept out by the stat key instead
    (see the module doc)."""
    return f"{zlib.crc32(f'{len(body)}:{record}'.encode('utf-8', 'surrogatepass')):08x}"


# -- JSON codec for front-matter values (YAML gives dates, sets, bytes, non-string keys) ----
def encode_value(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth > MAX_VALUE_DEPTH:
        raise ValueError(f"values nest more than {MAX_VALUE_DEPTH} deep")
    depth += 1
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode_value(v, depth) for v in value]
    if isinstance(value, set | frozenset):
        return {"$set": [encode_value(v, depth) for v in sorted(value, key=repr)]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v, depth) for k, v in value.items()}
        return {"$map": [[encode_value(k, depth), encode_value(v, depth)] for k, v in value.items()]}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def decode_value(value: Any) -> Any:
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, inner), = value.items()
        if tag == "$datetime":
            return dt.datetime.fromisoformat(inner)
        if tag == "$date":
            return dt.date.fromisoformat(inner)
        if tag == "$set":
            return {_hashable(decode_value(v)) for v in inner}
        if tag == "$bytes":
            return base64.b64decode(inner)
        if tag == "$map":
            return {_hashable(decode_value(k)): decode_value(v) for k, v in inner}
    return {k: decode_value(v) for k, v in value.items()}


# Fields stored as they are, and only when they differ from the default: a typical record
# then holds a handful of keys, which is what makes a warm run's decoding cheap.
_PLAIN_FIELDS = ("type", "title", "locator", "practice", "result", "minutes", "aliases", "tags",
                 "order", "kind", "authors", "year", "url", "status", "citekey", "doi", "venue",
                 "requires", "timeout")
_LINK_DEFAULTS = (None, None, "", 0)  # label, fragment, literal, occurrence
_DEFAULTS: dict[str, Any] = {
    f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    for f in dataclasses.fields(Note)}


def note_to_record(note: Note) -> str:
    """A note as compact JSON, without its path and body (stored beside it) or default values:
    one object, then — after a newline, which compact JSON never holds — one of its
    LATER_FIELDS, which a warm run decodes only for the notes whose are read."""
    record: dict[str, Any] = {"id": note.id, "body_line": note.body_line}
    for name in _PLAIN_FIELDS:
        value = getattr(note, name)
        if value != _DEFAULTS[name]:
            record[name] = value
    if note.concepts:
        record["concepts"] = [[r.target, r.line] for r in note.concepts]
    if note.prerequisites:
        record["prerequisites"] = [[r.target, r.line] for r in note.prerequisites]
    if note.source is not None:
        record["source"] = [note.source.target, note.source.line]
    if note.date is not None:
        record["date"] = note.date.isoformat()
    if note.extra:
        record["extra"] = encode_value(note.extra)
    if note.links:
        record["links"] = [_link_row(k) for k in note.links]
    if note.inline_fields:
        record["inline_fields"] = [[f.key, f.value, f.line, list(f.targets)] for f in note.inline_fields]
    if note.diagnostics:
        record["diagnostics"] = [[d.path, d.line, d.severity, d.code, d.message] for d in note.diagnostics]
    if not note.loaded:
        record["loaded"] = False
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
    later: dict[str, Any] = {}
    if note.field_lines:
        later["field_lines"] = note.field_lines
    if note.inline_tags:
        later["inline_tags"] = note.inline_tags
    if note.headings:
        later["headings"] = [[h.level, h.text, h.line, h.end] for h in note.headings]
    if not later:
        return text
    return text + "\n" + json.dumps(later, ensure_ascii=False, separators=(",", ":"))


def _link_row(link: Link) -> list[Any]:
    row = [link.target, link.line, link.kind, link.label, link.fragment, link.literal, link.occurrence]
    while len(row) > 3 and row[-1] == _LINK_DEFAULTS[len(row) - 4]:
        row.pop()  # trailing defaults: most links have no occurrence, many no label or fragment
    return row


def decode_records(records: list[str]) -> list[dict[str, Any] | None]:
    """Decode many records at once (one JSON parse is much cheaper than thousands); None for
    any that is not a JSON object, so one bad row costs only its own re-parse. The text of a
    record's LATER_FIELDS is kept, undecoded, under the key `_later`."""
    split = [record.partition("\n") for record in records]
    decoded: list[Any] | None = None
    try:
        decoded = json.loads("[" + ",".join([first for first, _, _ in split]) + "]")
        if len(decoded) != len(records) or not all(isinstance(d, dict) for d in decoded):
            decoded = None
    except ValueError:
        pass
    if decoded is None:
        decoded = []
        for first, _, _ in split:
            try:
                data = json.loads(first)
            except ValueError:
                data = None
            decoded.append(data if isinstance(data, dict) else None)
    for data, (_, _, later) in zip(decoded, split, strict=True):
        if later and data is not None:
            data["_later"] = later
    return decoded


def record_to_note(path: str, rel: str, data: dict[str, Any], body: str) -> Note:
    """A note from its decoded record (which this consumes)."""
    if "concepts" in data:
        data["concepts"] = [Ref(t, line) for t, line in data["concepts"]]
    if "prerequisites" in data:
        data["prerequisites"] = [Ref(t, line) for t, line in data["prerequisites"]]
    if "source" in data:
        data["source"] = Ref(*data["source"])
    if "date" in data:
        data["date"] = dt.date.fromisoformat(data["date"])
    if "extra" in data:
        data["extra"] = decode_value(data["extra"])
    if "links" in data:
        data["links"] = [Link(*row) for row in data["links"]]
    if "inline_fields" in data:
        data["inline_fields"] = [InlineField(k, v, line, tuple(t)) for k, v, line, t in data["inline_fields"]]
    if "diagnostics" in data:
        data["diagnostics"] = [Diagnostic(*row) for row in data["diagnostics"]]
    later = data.pop("_later", "")
    note = Note(path=path, rel=rel, body=body, **data)
    if later:
        if not isinstance(later, str):
            raise ValueError("not the record kb wrote")
        for slot in _LATER_SLOTS:  # unset: read from `later` when first used
            slot.__delete__(note)
        setattr(note, "_later", later)  # noqa: B010 - a slot of Note's base, which mypy does not see
    return note


_LATER_SLOTS = [Note.__dict__[name].slot for name in LATER_FIELDS]


def decode_later(note: Note) -> None:
    """Set the LATER_FIELDS of a note made by record_to_note from their JSON text, keeping any
    set since. The text is part of the record the row's checksum vouched for."""
    text = note._later
    try:
        later = json.loads(text)
        if not isinstance(later, dict) or not later.keys() <= set(LATER_FIELDS):
            raise ValueError("not the record kb wrote")
        decoded = {"field_lines": dict(later.get("field_lines", {})),
                   "inline_tags": list(later.get("inline_tags", [])),
                   "headings": [Heading._make(row) for row in later.get("headings", [])]}
    except (ValueError, TypeError) as exc:
        raise KbError(f"the cache in .kb/ holds a damaged record for {note.path}; delete "
                      ".kb/cache.sqlite and run kb again") from exc
    for name, value in decoded.items():
        slot = type(note).__dict__[name].slot
        try:
            slot.__get__(note)
        except AttributeError:  # not set since
            slot.__set__(note, value)
    del note._later


class CachedRow(NamedTuple):  # a tuple: ten thousand of these are made on every warm run
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    digest: str
    rel: str
    record: str
    body: str
    check: str  # checksum(record, body)



@dataclass(frozen=True, slots=True)
class FreshRow:
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    digest: str
    note: Note
    record: str | None = None  # note_to_record(note), when a worker process already made it


NOTES_TABLE = ("CREATE TABLE IF NOT EXISTS notes (path TEXT PRIMARY KEY, size INTEGER, "
               "mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, digest TEXT, rel TEXT, "
               "record TEXT, body TEXT, checksum TEXT)")


class NoteCache:
    """SQLite store of parsed notes. Every method may raise sqlite3.Error / OSError; the
    caller turns that into a cold run."""

    def __init__(self, root: Path, version: str) -> None:
        self.path = root / CACHE_FILE
        self.version = version
        self.written_at = 0.0
        self.config_memo: str | None = None  # kb.toml's text and what validating it gave, as JSON
        self._db: sqlite3.Connection | None = None

    def stays_inside(self, root: Path) -> bool:
        """False when `.kb/` or a cache file is a symlink (inside the vault or out of it) or not
        a regular file: then the cache is neither read nor written (nor deleted), so a vault
        can aim kb's writes at nothing else, and a FIFO in `.kb/` cannot hang it."""
        import stat

        folder = self.path.parent
        if os.path.lexists(folder) and (os.path.islink(folder) or not folder.is_dir()
                                        or not is_inside(folder, root)):
            return False
        for suffix in ("", "-journal", "-wal", "-shm"):
            place = str(self.path) + suffix
            if os.path.lexists(place):
                info = os.lstat(place)
                if not stat.S_ISREG(info.st_mode):  # a symlink, FIFO, device or folder
                    return False
        return True

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists():
                if not create:
                    return None
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(NOTES_TABLE)
        return self._db

    def load(self) -> dict[str, CachedRow]:
        db = self._connect(create=False)
        if db is None:
            return {}
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("version") != self.version:
            return {}
        try:
            self.written_at = float(meta.get("written_at", "0"))
        except (TypeError, ValueError):
            return {}
        memo = meta.get("config")
        self.config_memo = memo if isinstance(memo, str) else None
        make = CachedRow._make
        # A row as kb writes them, types checked by SQLite itself: anything else (hand-made,
        # truncated) counts as absent.
        return {row[0]: make(row[1:]) for row in db.execute(
            "SELECT path, size, mtime_ns, ctime_ns, ino, digest, rel, record, body, checksum "
            "FROM notes WHERE typeof(path) = 'text' AND typeof(size) = 'integer' "
            "AND typeof(mtime_ns) = 'integer' AND typeof(ctime_ns) = 'integer' "
            "AND typeof(ino) = 'integer' AND typeof(digest) = 'text' AND typeof(rel) = 'text' "
            "AND typeof(record) = 'text' AND typeof(body) = 'text' AND typeof(checksum) = 'text'")}

    def save(self, fresh: Iterable[FreshRow], keep: set[str], *, rebuild: bool,
             config_memo: str | None = None) -> None:
        """Store new or changed notes and drop rows for paths no longer in the vault."""
        db = self._connect(create=True)
        assert db is not None
        rows = []
        for row in fresh:
            try:
                record = row.record or note_to_record(row.note)
                rows.append((row.path, clamp_stamp(row.size), clamp_stamp(row.mtime_ns),
                             clamp_stamp(row.ctime_ns), clamp_stamp(row.ino), row.digest,
                             row.note.rel, record, row.note.body, checksum(record, row.note.body)))
            except (TypeError, ValueError, RecursionError, UnicodeError):
                keep = keep - {row.path}  # a value JSON cannot hold: this note is parsed each run
        db.execute("BEGIN IMMEDIATE")
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if rebuild or meta.get("version") != self.version:
                # An older kb's table may have other columns: start it afresh.
                db.execute("DROP TABLE IF EXISTS notes")
                db.execute(NOTES_TABLE)
            db.executemany("INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            stored = {p for (p,) in db.execute("SELECT path FROM notes")}
            db.executemany("DELETE FROM notes WHERE path = ?", [(p,) for p in stored - keep])
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [("version", self.version), ("written_at", repr(time.time()))])
            if config_memo is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config_memo,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def discard(self) -> None:
        """Remove a cache file that cannot be read, so the next run starts clean."""
        try:
            self.close()
        except sqlite3.Error:
            self._db = None
        for suffix in ("", "-journal", "-wal", "-shm"):
            # If this fails, saving fails too and says so; the answer is still correct.
            with contextlib.suppress(OSError):
                Path(str(self.path) + suffix).unlink(missing_ok=True)
