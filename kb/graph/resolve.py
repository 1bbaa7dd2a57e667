"""Link resolution the way Obsidian does it: by id, `folder/id` path or alias, ignoring case."""

from __future__ import annotations

import posixpath
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from kb.notes.model import Note

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
        """As Obsidian resolves a link: a path equal to a vault path first (`[[Chemie]]` is the
        root's Chemie.md even beside another Chemie.md); a path relative to the linking note
        (`./x`, `../x`); then every note whose path ends with the link's path, the linking
        note's own folder first, then the shortest path, then by path — the first is taken,
        and the others are listed as candidates (a warning). Else the one note that declares
        the name as an alias; several such notes leave the link unresolved."""
        raw = target.strip().replace("\\", "/")
        if not raw:
            return Resolution("self", origin)
        name = normalize(strip_md(raw))
        exact = self.by_rel.get(posixpath.normpath(name.lstrip("/")) if "/" in name else name)
        if exact is not None:
            return Resolution("note", exact)
        if origin is not None and name.startswith(("./", "../")):
            joined = posixpath.normpath(posixpath.join(normalize(origin.folder), name))
            if joined in self.by_rel:
                return Resolution("note", self.by_rel[joined])
        candidates = self._ending_with(name)
        if len(candidates) == 1:
            return Resolution("note", candidates[0])
        if candidates:
            return self._disambiguate(candidates, origin)
        aliased = self.by_alias.get(name, [])
        if len(aliased) == 1:
            return Resolution("note", aliased[0], via_alias=True)
        if len(aliased) > 1:
            return Resolution("ambiguous", None, tuple(aliased), via_alias=True)
        if self._is_attachment(normalize(raw), origin):
            return Resolution("attachment")
        return Resolution("dangling")

    def _ending_with(self, name: str) -> list[Note]:
        """Notes whose notes-relative path is `name` or ends with `/name`."""
        path = posixpath.normpath(name).lstrip("./") if "/" in name else name
        base = path.rpartition("/")[2]
        if "/" not in path:
            return list(self.by_id.get(base, []))
        suffix = "/" + path
        return [n for n in self.by_id.get(base, []) if normalize(n.rel).endswith(suffix)
                or normalize(n.rel) == path]

    def _disambiguate(self, candidates: list[Note], origin: Note | None) -> Resolution:
        ranked = tuple(sorted(candidates, key=lambda n: (n.rel.count("/"), len(n.rel), n.rel)))
        if origin is not None:
            same_folder = [n for n in ranked if n.folder == origin.folder]
            if same_folder:
                return Resolution("note", same_folder[0], ranked)
        return Resolution("note", ranked[0], ranked)

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
