"""kb.toml's `[conventions]`: the relations a vault already writes, mapped onto kb's fields.

Parsing records, for every note, what a convention may need — its unknown front-matter keys
(`Note.extra`), its Dataview inline fields, its body `#tags`, and the headings whose sections
hold links — whatever kb.toml says. The mapping below is then a pure function of (note,
conventions), applied when the graph is built: changing `[conventions]` re-maps every note
but re-parses none, and the cache never depends on kb.toml. (The other way, passing the
conventions into parsing, would make every edit of kb.toml a cold run.)
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from kb.notes.model import NOTE_TYPES, Note, Ref
from kb.vault.config import Conventions

# An inline field named like one of kb's own fields is that field, with no configuration:
# `prerequisites:: [[a]], [[b]]` in a note's body means what the same line in front matter would.
OWN_FIELDS = ("prerequisites", "concept", "source")
_BARE_ID = re.compile(r"[^`$<>\[\]|{}]{1,200}")


def field_name(key: str) -> str:
    """A key as Dataview compares it: formatting stripped, lower case, spaces as dashes, so
    `**Related Notes**::`, `related notes:` and `Related-Notes` are one key."""
    return re.sub(r"\s+", "-", key.strip().strip("*_").strip()).lower()


def heading_name(text: str) -> str:
    """A heading as `prerequisite_headings` compares it: `**Prerequisites:**` is `prerequisites`."""
    return re.sub(r"\s+", " ", text.strip().strip("#*_: ").rstrip(":").strip()).lower()


def is_active(conventions: Conventions) -> bool:
    return conventions != Conventions()


def apply_conventions(notes: list[Note], conventions: Conventions) -> list[Note]:
    """Every note with the vault's conventions applied (a new record where one changes)."""
    active = is_active(conventions)
    return [map_note(note, conventions) if active or note.inline_fields else note for note in notes]


def map_note(note: Note, conventions: Conventions) -> Note:
    """`note` with the relations, type and title its conventions give it. Explicit front matter
    wins: a mapped relation is added to what `prerequisites:`/`concept:` list (without repeats),
    `source:` is taken only when the note has none, the type only when it has no `type:`."""
    if not note.loaded:
        return note
    changes: dict[str, Any] = {}
    roles = _roles(conventions)
    for field in ("prerequisites", "concept"):
        current = note.prerequisites if field == "prerequisites" else note.concepts
        found = list(_mapped_refs(note, roles[field]))
        if field == "prerequisites":
            found += _heading_refs(note, conventions.prerequisite_headings)
        added = _without_repeats(current, found)
        if added:
            changes["prerequisites" if field == "prerequisites" else "concepts"] = [*current, *added]
    if note.source is None:
        sources = list(_mapped_refs(note, roles["source"]))
        if sources:
            changes["source"] = sources[0]
    if conventions.types and ("type" not in note.field_lines or "type" in note.extra):
        note_type = type_by_rules(note, conventions)
        if note_type is not None and note_type != note.type:
            changes["type"] = note_type
    if conventions.title == "file-name" and "title" not in note.field_lines and note.title != note.id:
        changes["title"] = note.id
    return dataclasses.replace(note, **changes) if changes else note


def _roles(conventions: Conventions) -> dict[str, set[str]]:
    """kb field → the (canonical) keys that mean it: those kb.toml names, and the field's own
    name (which, in front matter, is kb's field already and never reaches `Note.extra`)."""
    return {field: {field_name(k) for k in getattr(conventions, field)} | {field}
            for field in OWN_FIELDS}


def _mapped_refs(note: Note, keys: set[str]) -> Iterable[Ref]:
    """The targets written under `keys`: front-matter values (`"[[x]]"` or a bare name) on the
    key's line, then inline fields' links (or, with none, a bare name as the whole value)."""
    from kb.notes.parse import link_target

    for key, value in note.extra.items():
        if field_name(str(key)) not in keys:
            continue
        line = note.line_of(str(key))
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, list) and len(item) == 1:
                item = item[0]  # an unquoted [[x]] loads as a nested list
            if isinstance(item, str) and "://" not in item:
                target = link_target(item)
                if target:
                    yield Ref(target, line)
    for inline in note.inline_fields:
        if field_name(inline.key) not in keys:
            continue
        if inline.targets:
            yield from (Ref(target, inline.line) for target in inline.targets)
        elif "://" not in inline.value and _BARE_ID.fullmatch(inline.value.strip()):
            yield Ref(inline.value.strip(), inline.line)


def _heading_refs(note: Note, headings: list[str]) -> list[Ref]:
    """The links written in the sections under a heading named in `headings`."""
    if not headings or not note.headings:
        return []
    wanted = {heading_name(h) for h in headings}
    sections = [(h.line, h.end) for h in note.headings if heading_name(h.text) in wanted]
    return [Ref(link.target, link.line) for link in note.links
            if link.target and link.kind != "property"
            and any(start < link.line and (not end or link.line <= end) for start, end in sections)]


def _without_repeats(current: list[Ref], found: list[Ref]) -> list[Ref]:
    from kb.graph.resolve import normalize

    seen = {normalize(ref.target) for ref in current}
    added = []
    for ref in found:
        name = normalize(ref.target)
        if name not in seen:
            seen.add(name)
            added.append(ref)
    return added


def note_tags(note: Note) -> list[str]:
    """Front-matter tags and body `#tags`, lower case."""
    return [tag.lower() for tag in (*note.tags, *note.inline_tags)]


def type_by_rules(note: Note, conventions: Conventions) -> str | None:
    """The first type (in kb.toml's order) whose rule matches the note's tags, folder or name."""
    tags = note_tags(note)
    folder = note.folder.lower()
    name = note.id.lower()
    for note_type, rule in conventions.types.items():
        if note_type not in NOTE_TYPES:
            continue
        for tag in rule.tags:
            wanted = tag.strip().lstrip("#").lower()
            if wanted and any(t == wanted or t.startswith(wanted + "/") for t in tags):
                return note_type
        for wanted_folder in rule.folders:
            wanted = wanted_folder.strip().strip("/").lower()
            if wanted and (folder == wanted or folder.startswith(wanted + "/")):
                return note_type
        for prefix in rule.prefixes:
            if prefix and name.startswith(prefix.lower()):
                return note_type
    return None
