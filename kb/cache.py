"""The incremental cache: one row per note in `.kb/cache.sqlite`, keyed by path, size, mtime
and a content hash, tagged with kb's and the parser's versions.

Records are stored as JSON (never pickle: loading a cache must not be able to run code).
Any problem with the cache — corrupt, locked, read-only — means a cold run and a notice,
never a wrong answer: the cache only ever saves work."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.errors import Diagnostic
from kb.model import Link, Note, Ref

CACHE_FILE = Path(".kb") / "cache.sqlite"
# A file modified this close to the last cache write may have changed again within the same
# mtime tick: check its hash instead of trusting size and mtime (git's "racily clean" rule).
RACY_SECONDS = 2.0


# -- JSON codec for front-matter values (YAML gives dates, sets, bytes, non-string keys) ----
def encode_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return {"$set": [encode_value(v) for v in sorted(value, key=repr)]}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$map": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
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


def note_to_record(note: Note) -> str:
    record = {
        "id": note.id, "type": note.type, "title": note.title,
        "concepts": [[r.target, r.line] for r in note.concepts],
        "prerequisites": [[r.target, r.line] for r in note.prerequisites],
        "source": [note.source.target, note.source.line] if note.source else None,
        "locator": note.locator, "practice": note.practice,
        "date": note.date.isoformat() if note.date else None, "aliases": note.aliases, "tags": note.tags,
        "order": note.order, "kind": note.kind, "authors": note.authors, "year": note.year,
        "url": note.url, "status": note.status,
        "citekey": note.citekey, "doi": note.doi, "venue": note.venue, "extra": encode_value(note.extra),
        "links": [[k.target, k.line, k.kind, k.label, k.fragment, k.literal, k.occurrence]
                  for k in note.links],
        "body_line": note.body_line, "field_lines": note.field_lines,
        "diagnostics": [[d.path, d.line, d.severity, d.code, d.message] for d in note.diagnostics],
        "loaded": note.loaded,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def record_to_note(path: str, rel: str, record: str, body: str) -> Note:
    data = json.loads(record)
    extra = data["extra"]
    if extra and '"$' in record:  # only tagged values (dates, sets…) need decoding
        extra = decode_value(extra)
    date = data["date"]
    return Note(
        path=path, rel=rel, id=data["id"], type=data["type"], title=data["title"],
        concepts=[Ref(t, line) for t, line in data["concepts"]],
        prerequisites=[Ref(t, line) for t, line in data["prerequisites"]],
        source=Ref(*data["source"]) if data["source"] else None,
        locator=data["locator"], practice=data["practice"],
        date=dt.date.fromisoformat(date) if date else None,
        aliases=data["aliases"], tags=data["tags"], order=data["order"], kind=data["kind"],
        authors=data["authors"], year=data["year"], url=data["url"], status=data["status"],
        citekey=data["citekey"], doi=data["doi"], venue=data["venue"], extra=decode_value(data["extra"]),
        links=[Link(t, line, kind, label, frag, literal, occ)
               for t, line, kind, label, frag, literal, occ in data["links"]],
        body=body, body_line=data["body_line"], field_lines=data["field_lines"],
        diagnostics=[Diagnostic(p, line, sev, code, msg) for p, line, sev, code, msg in data["diagnostics"]],
        loaded=data["loaded"],
    )


@dataclass(frozen=True, slots=True)
class CachedRow:
    size: int
    mtime_ns: int
    digest: str
    rel: str
    record: str
    body: str


@dataclass(frozen=True, slots=True)
class FreshRow:
    path: str
    size: int
    mtime_ns: int
    digest: str
    note: Note


class NoteCache:
    """SQLite store of parsed notes. Every method may raise sqlite3.Error / OSError; the
    caller turns that into a cold run."""

    def __init__(self, root: Path, version: str) -> None:
        self.path = root / CACHE_FILE
        self.version = version
        self.written_at = 0.0
        self._db: sqlite3.Connection | None = None

    def _connect(self, create: bool) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists():
                if not create:
                    return None
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS notes (path TEXT PRIMARY KEY, size INTEGER, "
                "mtime_ns INTEGER, digest TEXT, rel TEXT, record TEXT, body TEXT)")
        return self._db

    def load(self) -> dict[str, CachedRow]:
        db = self._connect(create=False)
        if db is None:
            return {}
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("version") != self.version:
            return {}
        self.written_at = float(meta.get("written_at", "0"))
        return {path: CachedRow(size, mtime, digest, rel, record, body)
                for path, size, mtime, digest, rel, record, body
                in db.execute("SELECT path, size, mtime_ns, digest, rel, record, body FROM notes")}

    def save(self, fresh: Iterable[FreshRow], keep: set[str], *, rebuild: bool) -> None:
        """Store new or changed notes and drop rows for paths no longer in the vault."""
        db = self._connect(create=True)
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            if rebuild or meta.get("version") != self.version:
                db.execute("DELETE FROM notes")
            db.executemany(
                "INSERT OR REPLACE INTO notes VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(row.path, row.size, row.mtime_ns, row.digest, row.note.rel,
                  note_to_record(row.note), row.note.body) for row in fresh])
            stored = {p for (p,) in db.execute("SELECT path FROM notes")}
            db.executemany("DELETE FROM notes WHERE path = ?", [(p,) for p in stored - keep])
            db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                           [("version", self.version), ("written_at", repr(time.time()))])
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
