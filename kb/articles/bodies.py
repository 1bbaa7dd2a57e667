"""A note's body as it appears in an article: Obsidian syntax made publishable.

Links become in-page anchors, links to the part that covers them, citations or plain text
(their label, else the target's title); `%%comments%%` are dropped; embeds are replaced by the
text they embed; images are pointed at content-addressed copies in `assets/` beside the
article; callouts become Quarto callouts (or titled blockquotes); headings move under the
place the note is put, keeping their list or quote prefix. Everything is placed by exact
source position (kb.articles.publish), so code, math and tables are never touched by accident.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from kb.articles.bibtex import citekey_of
from kb.articles.publish import (
    IMAGE_EXTENSIONS,
    Span,
    block_text,
    convert_callouts,
    escape_text,
    fit_headings,
    indent_block,
    level_before,
    markdown_destination,
    protected_lines,
    rewrite_inline,
    section_text,
    shift_headings,
    strip_block_ids,
)
from kb.errors import Diagnostic
from kb.graph.concepts import KnowledgeGraph
from kb.graph.resolve import normalize
from kb.notes.markdown import make_parser, markdown_link_target
from kb.notes.model import Note
from kb.notes.slug import slugify, unique

if TYPE_CHECKING:
    from kb.vault.load import Vault

ASSETS = "assets"  # images are copied here, beside the article
MAX_EMBED_DEPTH = 8
# Embeds replaced by their text in one article, all depths together: nine notes embedding the
# next one ten times each would otherwise stand for a billion copies.
MAX_EMBEDS = 1000
MAX_IMAGE_BYTES = 50 * 1024 * 1024
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")


def citation(key: str) -> str:
    """A Pandoc citation of `key`: `@key`, or `@{key}` when the key holds characters a bare
    citation cannot end or contain."""
    if re.fullmatch(r"\w(?:[\w:.#$%&+?<>~/-]*\w)?", key):
        return f"@{key}"
    return "@{" + key.replace("}", "") + "}"


def _rename_footnotes(line: str, renames: dict[str, str]) -> str:
    parts = line.split("`")
    for index in range(0, len(parts), 2):  # even parts are outside code spans
        for old, new in renames.items():
            parts[index] = parts[index].replace(f"[^{old}]", f"[^{new}]")
    return "`".join(parts)


def rename_colliding_footnotes(text: str, used_footnotes: set[str]) -> str:
    """Footnote labels an earlier note of the article already used get a fresh name."""
    if "[^" not in text:
        return text
    tokens = make_parser().parse(text)
    labels = [t.meta["label"] for t in tokens
              if t.type == "footnote_reference_open" and t.meta and "label" in t.meta]
    renames: dict[str, str] = {}
    for label in dict.fromkeys(labels):
        renames[label] = unique(label, used_footnotes) if label in used_footnotes else label
        used_footnotes.add(renames[label])
    renames = {old: new for old, new in renames.items() if old != new}
    if not renames:
        return text
    protected = protected_lines(tokens)
    return "\n".join(line if i in protected else _rename_footnotes(line, renames)
                     for i, line in enumerate(text.split("\n")))


@dataclass
class BodyWriter:
    """Turns note bodies into article text for one article; collects what it needs on the way."""

    kg: KnowledgeGraph
    vault: Vault | None  # where images are looked for; None: a graph built from notes alone
    anchors: dict[str, str]  # concept key → anchor in this article
    placed: dict[int, str]  # id(note) → concept key of its section here
    placed_before: dict[int, tuple[str, str]]  # id(note) → (href, anchor) in an earlier part
    covered: dict[str, tuple[str, str]]
    citations: str = "plain"
    quarto: bool = False
    assets: dict[str, Path] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    linked_sources: list[Note] = field(default_factory=list)
    _images: dict[str, list[Path]] | None = None
    embedded: int = 0  # embeds replaced by their text so far in this article

    # -- the whole body ------------------------------------------------------------------
    def body(self, note: Note, base_level: int, used_footnotes: set[str]) -> str:
        text = self.expand(note, note.body, note.body_line, [(id(note), None)])
        text = strip_block_ids(text)
        text = rename_colliding_footnotes(text, used_footnotes)
        text = shift_headings(text, drop_title=note.title, base=base_level)
        text = convert_callouts(text, quarto=self.quarto)
        kept = text.strip("\n")
        return kept + "\n" if kept.strip() else ""

    def expand(self, note: Note, text: str, first_line: int,
               stack: list[tuple[int, str | None]]) -> str:
        """Comments dropped; links, images and embeds rewritten. `first_line` is the file line
        of text's first line (for diagnostics)."""

        def rewrite(span: Span) -> str | None:
            meta: dict[str, Any] = span.token.meta or {}
            line = first_line + span.line
            if span.token.type == "wikilink":
                target, fragment, label = meta["target"], meta["fragment"], meta["label"]
                if meta["embed"] and _is_image(target):
                    return self.wiki_image(note, target, label, line)
                if meta["embed"] and span.alone:
                    return self.embed(note, target, fragment, label, span, text, line, stack)
                return self.link(note, target, fragment, label)
            if span.token.type == "link_open":
                found = markdown_link_target(str(span.token.attrs.get("href", "")))
                if found is None:
                    return None
                literal = str(meta["literal"])
                text_end = max(literal.rfind("]("), literal.rfind("]["))
                return self.link(note, found[0], found[1], literal[1:text_end] if text_end > 0 else None)
            if span.token.type == "image":
                return self.markdown_image(note, str(meta["literal"]), line)
            return None

        return rewrite_inline(text, rewrite)

    # -- links ---------------------------------------------------------------------------
    def link(self, origin: Note, target: str, fragment: str | None, label: str | None) -> str:
        kg = self.kg
        found = kg.resolver.resolve(target, origin) if target else None
        if found is None or found.kind == "self":
            shown = label or (fragment.lstrip("^") if fragment else origin.title)
            return shown
        if found.kind == "note" and found.note is not None:
            note = found.note
            text = label or (f"{note.title} > {fragment.lstrip('^')}" if fragment else note.title)
            if note.type == "source":
                if self.citations == "quarto":
                    cite = f"[{citation(citekey_of(note))}]"
                    return f"{label} {cite}" if label else cite
                if note not in self.linked_sources:
                    self.linked_sources.append(note)
                return label or escape_text(note.title)
            key = kg.key_of(note)
            concept_key = key if key in kg.concepts and note.type == "concept" else None
            section = concept_key if concept_key in self.anchors else self.placed.get(id(note))
            shown = label or escape_text(text)
            if section is not None:
                return f"[{shown}](#{self.anchors[section]})"
            elsewhere = self.covered.get(concept_key or "") or self.placed_before.get(id(note))
            if elsewhere is not None:
                return f"[{shown}]({elsewhere[0]}#{elsewhere[1]})"
            return shown
        if label:
            return label
        shown = posixpath.basename(target) if found.kind == "attachment" else target
        return escape_text(f"{shown} > {fragment}" if fragment else shown)

    # -- embeds --------------------------------------------------------------------------
    def embed(self, origin: Note, target: str, fragment: str | None, label: str | None, span: Span,
              host: str, line: int, stack: list[tuple[int, str | None]]) -> str:
        found = self.kg.resolver.resolve(target, origin) if target else None
        if found is not None and found.kind == "attachment":  # a PDF, audio…: never published
            return self.link(origin, target, fragment, label)
        note = origin if found is None or found.kind == "self" else found.note
        if note is None:
            self.diagnostics.append(Diagnostic(origin.path, line, "warning", "missing-embed",
                                               f"embedded note '{target}' not found; its name is "
                                               "shown instead"))
            return self.link(origin, target, fragment, label)
        self.embedded += 1
        if self.embedded > MAX_EMBEDS:  # embeds of embeds can multiply: the whole is bounded
            if self.embedded == MAX_EMBEDS + 1:
                self.diagnostics.append(Diagnostic(
                    origin.path, line, "warning", "embed-limit",
                    f"more than {MAX_EMBEDS:,} embeds in one article; the rest are shown as links"))
            return self.link(origin, target, fragment, label)
        key = (id(note), normalize(fragment) if fragment else None)
        if key in stack or len(stack) > MAX_EMBED_DEPTH:
            return (f"*({escape_text(note.title)} is embedded here in the notes; left out "
                    "because it would embed itself.)*")
        if fragment and fragment.startswith("^"):
            part = block_text(note.body, fragment[1:])
        elif fragment:
            part = section_text(note.body, fragment)
        else:
            part = (note.body, 0)
        if part is None:
            self.diagnostics.append(Diagnostic(origin.path, line, "warning", "missing-embed",
                                               f"'{target}#{fragment}': no such heading or block "
                                               f"in {note.path}"))
            return self.link(origin, target, fragment, label)
        snippet, at = part
        expanded = self.expand(note, snippet, note.body_line + at, [*stack, key]).strip("\n")
        expanded = fit_headings(expanded, level_before(host, span.line))
        return _placed(expanded, span.prefix)

    # -- images --------------------------------------------------------------------------
    def wiki_image(self, origin: Note, target: str, label: str | None, line: int) -> str:
        path = self.find_image(origin, target)
        attributes = ""
        alt = ""
        if label:
            size = re.fullmatch(r"(\d+)(?:x(\d+))?", label.strip())
            if size:
                attributes = "{width=" + size.group(1) + (f" height={size.group(2)}" if size.group(2)
                                                          else "") + "}"
            else:
                alt = label
        if path is None:
            return self.missing_image(origin, target, line)
        return f"![{escape_text(alt)}]({self.asset(path)}){attributes}"

    def markdown_image(self, origin: Note, literal: str, line: int) -> str | None:
        where = markdown_destination(literal)
        if where is None:
            return None
        destination = literal[where[0]:where[1]]
        if not destination or _URL.match(destination) or destination.startswith("#"):
            return None
        path = self.find_image(origin, unquote(destination.partition("?")[0].partition("#")[0]))
        if path is None:
            return self.missing_image(origin, unquote(destination), line)
        return literal[:where[0]] + self.asset(path) + literal[where[1]:]

    def missing_image(self, origin: Note, target: str, line: int) -> str:
        self.diagnostics.append(Diagnostic(origin.path, line, "warning", "missing-image",
                                           f"image '{target}' not found inside the vault; the "
                                           "article shows its name instead"))
        return f"*(image not found: {escape_text(target)})*"

    def asset(self, path: Path) -> str:
        """The image's content-addressed name in assets/, recorded for copying."""
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        stem = slugify(path.stem, "image")
        name = f"{ASSETS}/{stem}-{digest}{path.suffix.lower()}"
        self.assets[name] = path
        return name

    def find_image(self, origin: Note, name: str) -> Path | None:
        """The image file a note means by `name`: relative to the note, to the notes folder,
        to the vault, else (as Obsidian does) any file of that name in the vault. Only regular
        files whose real path stays inside the vault count."""
        vault = self.vault
        if vault is None:  # a graph built from notes alone: there are no files to copy
            return None
        root = vault.root.resolve()
        name = name.strip().replace("\\", "/")
        if not name or "\0" in name:
            return None
        note_folder = (root / origin.path).parent
        candidates = [note_folder / name, vault.notes_dir / name, root / name.lstrip("/")]
        if "/" not in name.strip("/"):
            candidates += self._images_named(normalize(name))
        for candidate in candidates:
            try:
                real = candidate.resolve()
                if (real.is_relative_to(root) and real.is_file()
                        and real.stat().st_size <= MAX_IMAGE_BYTES):
                    return real
            except (OSError, ValueError):
                continue
        return None

    def _images_named(self, name: str) -> list[Path]:
        if self._images is None:
            self._images = {}
            assert self.vault is not None  # find_image asks only when there is a vault
            root = self.vault.root
            for folder, dirs, files in os.walk(root):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for file in files:
                    if file.lower().endswith(IMAGE_EXTENSIONS):
                        self._images.setdefault(normalize(file), []).append(Path(folder) / file)
        return self._images.get(name, [])


def _is_image(target: str) -> bool:
    return target.lower().endswith(IMAGE_EXTENSIONS)


def _placed(block: str, prefix: str) -> str:
    """An embedded block standing after `prefix` on its line: its first line goes where the
    embed was, the others get the container prefix."""
    return indent_block(block, prefix)[len(prefix):]
