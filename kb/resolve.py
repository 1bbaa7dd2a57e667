"""Link resolution the way Obsidian does it: by id, `folder/id` path or alias, ignoring case."""

from __future__ import annotations

import posixpath
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from kb.model import Note

ResolutionKind = Literal["note", "self", "attachment", "dangling", "ambiguous"]


@lru_cache(maxsize=1 << 16)
def normalize(name: str) -> str:
    """The form names are compared in: NFC, case-folded, surrounding space trimmed."""
    return unicodedata.normalize("NFC", name.strip()).casefold()


def strip_md(target: str) -> str:
    return target[:-3] if target.lower().endswith(".md") else target


@dataclass(frozen=True, slots=True)
class Resolution:
    kind: ResolutionKind
    note: Note | None = None
    candidates: tuple[Note, ...] = ()  # every note the name could mean, when more than one
    via_alias: bool = False


@dataclass
class Resolver:
    """Indexes notes by id, path and alias. Build once per vault; resolve many times."""

    notes: list[Note]
    attachments: set[str] = field(default_factory=set)  # normalized notes-relative paths

    def __post_init__(self) -> None:
        self.by_id: dict[str, list[Note]] = {}
        self.by_rel: dict[str, Note] = {}
        self.by_alias: dict[str, list[Note]] = {}
        for note in self.notes:
            self.by_id.setdefault(normalize(note.id), []).append(note)
            self.by_rel.setdefault(normalize(note.rel), note)
            for alias in note.aliases:
                bucket = self.by_alias.setdefault(normalize(alias), [])
                if note not in bucket:
                    bucket.append(note)
        self.attachment_names = {posixpath.basename(a) for a in self.attachments}

    def resolve(self, target: str, origin: Note | None = None) -> Resolution:
        raw = target.strip().replace("\\", "/")
        if not raw:
            return Resolution("self", origin)
        name = normalize(strip_md(raw))
        candidates: list[Note] = []
        if "/" in name:
            found = self._by_path(name, origin)
            if found is not None:
                return Resolution("note", found)
        else:
            candidates = self.by_id.get(name, [])
        if len(candidates) == 1:
            return Resolution("note", candidates[0])
        if len(candidates) > 1:
            return self._disambiguate(candidates, origin)
        aliased = self.by_alias.get(name, [])
        if len(aliased) == 1:
            return Resolution("note", aliased[0], via_alias=True)
        if len(aliased) > 1:
            return Resolution("ambiguous", None, tuple(aliased), via_alias=True)
        if self._is_attachment(normalize(raw), origin):
            return Resolution("attachment")
        return Resolution("dangling")

    def _by_path(self, name: str, origin: Note | None) -> Note | None:
        tries = []
        if origin is not None and origin.folder:
            tries.append(posixpath.normpath(posixpath.join(normalize(origin.folder), name)))
        tries.append(posixpath.normpath(name.lstrip("/")))
        for candidate in tries:
            if candidate in self.by_rel:
                return self.by_rel[candidate]
        # Obsidian also accepts a trailing part of the path: [[sub/id]] for a/sub/id.
        suffix = "/" + posixpath.normpath(name).lstrip("./")
        matches = [n for key, n in self.by_rel.items() if key.endswith(suffix)]
        return matches[0] if len(matches) == 1 else None

    def _disambiguate(self, candidates: list[Note], origin: Note | None) -> Resolution:
        ranked = tuple(sorted(candidates, key=lambda n: (n.rel.count("/"), len(n.rel), n.rel)))
        if origin is not None:
            same_folder = [n for n in ranked if n.folder == origin.folder]
            if len(same_folder) == 1:
                return Resolution("note", same_folder[0], ranked)
        shallowest = [n for n in ranked if n.rel.count("/") == ranked[0].rel.count("/")]
        if len(shallowest) == 1:
            return Resolution("note", shallowest[0], ranked)
        return Resolution("ambiguous", None, ranked)

    def _is_attachment(self, name: str, origin: Note | None) -> bool:
        base = posixpath.basename(name)
        if "." not in base:
            return False
        if name in self.attachments or base in self.attachment_names and "/" not in name:
            return True
        if origin is not None and origin.folder:
            joined = posixpath.normpath(posixpath.join(normalize(origin.folder), name))
            return joined in self.attachments
        return False
