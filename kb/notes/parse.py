"""parse_note: a pure function from (path, bytes) to a Note record plus its diagnostics."""

from __future__ import annotations

import re
from typing import Any

from kb.errors import Diagnostic
from kb.notes.frontmatter import FrontMatter, load_yaml, validate
from kb.notes.markdown import (
    extract_links,
    extract_signals,
    first_heading,
    linked_headings,
    make_parser,
    split_wikilink,
)
from kb.notes.model import PARSER_VERSION, Link, Note, Ref

__all__ = ["PARSER_VERSION", "link_target", "parse_note"]

_BOM = "\ufeff"
# `---` then a `key:` line, but no closing `---`: front matter the user forgot to close.
_LOOKS_LIKE_FRONT_MATTER = re.compile(r"---[ \t]*\n[ \t]*[^\W\d][\w -]*:")


def link_target(value: str) -> str:
    """A front-matter link value, `"[[id|label]]"` or `id`, → the target `id`."""
    text = value.strip()
    if text.startswith("[[") and text.endswith("]]"):
        text = text[2:-2]
    target, _fragment, _label = split_wikilink(text)
    return target


_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\f")


def _looks_binary(data: bytes) -> bool:
    """A file with NUL bytes is binary when it is not UTF-8, or when control bytes are more
    than a tenth of its start; a note with a few NULs pasted into a code block is text."""
    head = data[:8192]
    if len(head) - len(head.translate(None, _CONTROL_BYTES)) > len(head) // 10:
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _decode(data: bytes, path: str) -> tuple[str, list[Diagnostic]]:
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return data.decode("utf-8", errors="replace"), [Diagnostic(
            path, line, "error", "encoding",
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "bad bytes were replaced with U+FFFD",
        )]


def _refs(values: list[str], lines: list[int] | None, key_line: int) -> list[Ref]:
    refs = []
    for index, value in enumerate(values):
        target = link_target(value)
        if target:
            line = lines[index] if lines and index < len(lines) else key_line
            refs.append(Ref(target, line))
    return refs


def _property_links(extra: dict[str, Any], key_lines: dict[str, int],
                    item_lines: dict[str, list[int]]) -> list[Link]:
    """`"[[x]]"` values in fields kb does not know are links too (Obsidian properties)."""
    links = []
    for key, value in extra.items():
        values = value if isinstance(value, list) else [value]
        for index, item in enumerate(values):
            if isinstance(item, list) and len(item) == 1 and isinstance(item[0], str):
                item = f"[[{item[0]}]]"  # unquoted [[x]] loads as a nested list
            if isinstance(item, str) and item.strip().startswith("[[") and item.strip().endswith("]]"):
                lines = item_lines.get(key)
                line = lines[index] if lines and index < len(lines) else key_lines.get(key, 1)
                target, fragment, label = split_wikilink(item.strip()[2:-2])
                if target:
                    links.append(Link(target, line, "property", label, fragment))
    return links


def parse_note(path: str, rel: str, data: bytes) -> Note:
    """Parse one note. `path` is vault-relative (for diagnostics), `rel` is notes-relative
    without `.md`. Never raises on any input: problems become diagnostics."""
    note_id = rel.rpartition("/")[2]
    note = Note(path=path, rel=rel, id=note_id, title=note_id)
    if b"\x00" in data[:8192] and _looks_binary(data):
        note.loaded = False
        note.diagnostics.append(Diagnostic(path, 0, "error", "binary-file",
                                           "looks like a binary file, not a Markdown note; skipped"))
        return note
    text, diagnostics = _decode(data, path)
    note.diagnostics.extend(diagnostics)
    if text.startswith(_BOM):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        note.diagnostics.append(Diagnostic(path, 0, "warning", "empty-note", "the note is empty"))
        return note

    env: dict[str, Any] = {}
    tokens = make_parser().parse(text, env)
    front = FrontMatter()
    body_start = 0
    if tokens and tokens[0].type == "front_matter" and tokens[0].map:
        fm_token = tokens[0]
        assert fm_token.map is not None
        body_start = fm_token.map[1]
        raw, yaml_diagnostics = load_yaml(fm_token.content, path, first_line=2)
        note.diagnostics.extend(yaml_diagnostics)
        if raw is not None:
            front, field_diagnostics = validate(raw, path)
            note.diagnostics.extend(field_diagnostics)
            _apply_front_matter(note, front, raw.key_lines, raw.item_lines)
    elif _LOOKS_LIKE_FRONT_MATTER.match(text):
        note.diagnostics.append(Diagnostic(
            path, 1, "error", "frontmatter-unclosed",
            "front matter opened with '---' is never closed by a '---' line; read as body text"))
    elif text[:1] in ("\n", " ") and _LOOKS_LIKE_FRONT_MATTER.match(text.lstrip("\n ")):
        leading = len(text) - len(text.lstrip("\n "))
        line = text.count("\n", 0, leading) + 1
        note.diagnostics.append(Diagnostic(
            path, line, "warning", "frontmatter-not-first",
            "this looks like front matter, but front matter must start on the first line "
            "(as Obsidian reads it); read as body text: remove the blank lines above it"))
    note.body_line = body_start + 1
    note.body = text.split("\n", body_start)[-1] if body_start else text
    note.links.extend(extract_links(tokens))
    if env.get("kb_signals"):
        note.inline_fields, note.inline_tags = extract_signals(tokens)
    if note.links:
        note.headings = linked_headings(tokens, [link.line for link in note.links])
    note.title = front.title or first_heading(tokens) or note_id
    if note.type == "practice" and note.practice is None:
        note.diagnostics.append(Diagnostic(
            path, note.line_of("type"), "warning", "missing-practice",
            "practice note without 'practice: exercise|code|project'; counted as exercise",
        ))
    return note


def _apply_front_matter(note: Note, front: FrontMatter, key_lines: dict[str, int],
                        item_lines: dict[str, list[int]]) -> None:
    note.field_lines = dict(key_lines)
    note.type = front.type or "reading"
    note.concepts = _refs(front.concept, item_lines.get("concept"), key_lines.get("concept", 1))
    note.prerequisites = _refs(front.prerequisites, item_lines.get("prerequisites"),
                               key_lines.get("prerequisites", 1))
    if front.source:
        target = link_target(front.source)
        note.source = Ref(target, key_lines.get("source", 1)) if target else None
    note.locator = front.locator
    note.practice = front.practice
    note.result = front.result
    note.minutes = front.minutes
    note.date = front.date
    note.aliases = [a.strip() for a in front.aliases if a.strip()]
    note.tags = [t.strip().lstrip("#") for t in front.tags if t.strip()]
    note.order = front.order
    note.kind = front.kind
    note.authors = front.authors
    note.year = front.year
    note.url = front.url
    note.status = front.status
    note.citekey = front.citekey.strip() if front.citekey and front.citekey.strip() else None
    note.doi = front.doi
    note.venue = front.venue
    note.requires = [r.strip() for r in front.requires if r.strip()]
    note.timeout = front.timeout
    note.extra = dict(front.model_extra or {})
    note.links.extend(_property_links(note.extra, key_lines, item_lines))
