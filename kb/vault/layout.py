"""What `kb init` sees in a folder that already holds notes: where they are, whether Obsidian
keeps them, and which relations they already write — to suggest kb.toml's [conventions].

Only names that say what they mean are chosen (`prereqs:` → prerequisites, tag `#concept` →
type concept, a `Sources/` folder → type source); every other link-valued key and the most
used tags are written into kb.toml as commented suggestions, for the user to place."""

from __future__ import annotations

import json
import math
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb.errors import printable
from kb.notes.conventions import field_name, heading_name, note_tags
from kb.notes.model import NOTE_TYPES
from kb.vault.paths import NotReadableError, is_inside, read_regular_file

SAMPLE_NOTES = 2000  # notes read to suggest conventions; a larger vault is sampled evenly
READ_MAX_BYTES = 1 << 20
SUGGESTED = 8  # keys and tags listed as suggestions
MIN_NOTES = 2  # a key or tag used by fewer notes is not suggested

# Names whose meaning is plain enough to choose without asking (canonical, see field_name).
ROLE_NAMES: dict[str, frozenset[str]] = {
    "prerequisites": frozenset({"prerequisite", "prereqs", "prereq", "depends-on", "dependencies",
                                "builds-on", "requires-concepts"}),
    "concept": frozenset({"concepts", "topic", "topics", "about", "subject", "subjects"}),
    "source": frozenset({"sources", "from", "reference", "references", "book", "paper"}),
}
TYPE_TAGS: dict[str, frozenset[str]] = {
    "concept": frozenset({"concept", "concepts", "definition", "definitions"}),
    "source": frozenset({"source", "sources", "book", "books", "paper", "papers"}),
    "practice": frozenset({"exercise", "exercises", "practice", "problem", "problems"}),
    "reading": frozenset({"reading", "readings", "literature-note", "literature-notes"}),
}
TYPE_FOLDERS: dict[str, frozenset[str]] = {
    "concept": frozenset({"concepts", "definitions"}),
    "source": frozenset({"sources", "books", "papers", "references"}),
    "practice": frozenset({"exercises", "practice", "problems"}),
    "reading": frozenset({"readings", "reading-notes", "literature-notes"}),
}
PREREQUISITE_HEADINGS = frozenset({"prerequisites", "prerequisite", "prereqs", "requirements"})
OWN_INLINE = frozenset({"prerequisites", "concept", "source"})  # kb reads these with no setting


def _by_count(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most used first, ties by name: the same vault always gives the same kb.toml."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


@dataclass
class Layout:
    markdown_files: int = 0
    notes_dir: bool = False  # a notes/ folder exists
    obsidian: bool = False
    sampled: int = 0
    keys: Counter[str] = field(default_factory=Counter)  # canonical key → notes where it holds links
    spelled: dict[str, str] = field(default_factory=dict)  # canonical key → as first written
    own_inline: Counter[str] = field(default_factory=Counter)  # prerequisites:: etc. → notes
    tags: Counter[str] = field(default_factory=Counter)
    folders: Counter[str] = field(default_factory=Counter)  # top folder (as written) → notes
    headings: Counter[str] = field(default_factory=Counter)  # prerequisite-like heading → notes

    @property
    def notes_at_root(self) -> bool:
        return self.markdown_files > 0 and not self.notes_dir

    def chosen_keys(self) -> dict[str, list[str]]:
        """kb field → the keys chosen for it, most used first."""
        chosen: dict[str, list[str]] = {role: [] for role in ROLE_NAMES}
        for key, _count in _by_count(self.keys):
            for role, names in ROLE_NAMES.items():
                if key in names and self.keys[key] >= MIN_NOTES:
                    chosen[role].append(self.spelled[key])
        return chosen

    def suggested_keys(self) -> list[tuple[str, int]]:
        taken = {k for names in ROLE_NAMES.values() for k in names}
        return [(self.spelled[k], n) for k, n in _by_count(self.keys)
                if k not in taken and n >= MIN_NOTES][:SUGGESTED]

    def chosen_types(self) -> dict[str, dict[str, list[tuple[str, int]]]]:
        """type → {"tags": [(tag, notes)], "folders": [(folder, notes)]}."""
        chosen: dict[str, dict[str, list[tuple[str, int]]]] = {}
        for tag, count in _by_count(self.tags):
            for note_type, names in TYPE_TAGS.items():
                if tag in names and count >= MIN_NOTES:
                    chosen.setdefault(note_type, {"tags": [], "folders": []})["tags"].append((tag, count))
        for folder, count in _by_count(self.folders):
            for note_type, names in TYPE_FOLDERS.items():
                if field_name(folder) in names and count >= MIN_NOTES:
                    chosen.setdefault(note_type, {"tags": [], "folders": []})["folders"].append(
                        (folder, count))
        return chosen

    def heading(self) -> tuple[str, int] | None:
        found = _by_count(self.headings)[:1]
        return found[0] if found and found[0][1] >= MIN_NOTES else None

    def findings(self) -> list[str]:
        """What kb saw and chose, one line each, for `kb init` to print."""
        lines = []
        if self.obsidian:
            lines.append("an Obsidian vault (.obsidian/): kb resolves its links as Obsidian does")
        if self.notes_at_root:
            lines.append(f"{self.markdown_files} Markdown notes and no notes/ folder: notes = \".\" "
                         "(the vault root), and no empty notes/ that would hide them")
        elif self.markdown_files:
            lines.append(f"{self.markdown_files} Markdown notes in notes/")
        chosen = [f"{role} from {', '.join(repr(k) for k in keys)}"
                  for role, keys in self.chosen_keys().items() if keys]
        heading = self.heading()
        if heading:
            chosen.append(f"prerequisites from links under '## {heading[0]}' ({heading[1]} notes)")
        for note_type, rule in self.chosen_types().items():
            chosen.extend(f"type {note_type} from tag #{tag} ({n} notes)" for tag, n in rule["tags"])
            chosen.extend(f"type {note_type} from folder {folder}/ ({n} notes)"
                          for folder, n in rule["folders"])
        if self.sampled:
            read = (f"{self.sampled} notes read" if self.sampled == self.markdown_files
                    else f"{self.sampled} of {self.markdown_files} notes read")
            lines.append(f"conventions ({read}): " + ("; ".join(chosen) if chosen else "none chosen"))
            suggested = self.suggested_keys()
            if suggested:
                lines.append("suggested in kb.toml, not chosen: "
                             + ", ".join(f"{k} ({n} notes)" for k, n in suggested))
        for name, count in sorted(self.own_inline.items()):
            lines.append(f"inline fields {name}:: in {count} notes: kb reads them as its own "
                         f"'{name}' field")
        return [printable(line) for line in lines]


def _markdown_files(base: Path) -> list[Path]:
    """Regular `.md` files under base, not in dot-folders nor kb's articles/ and templates/,
    without following symlinks."""
    found = []
    for folder, dirs, files in os.walk(base):
        at_top = Path(folder) == base
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (at_top and d in ("articles", "templates")))
        for name in sorted(files):
            if name.lower().endswith(".md") and not name.startswith("."):
                path = Path(folder) / name
                try:
                    if stat.S_ISREG(os.lstat(path).st_mode):
                        found.append(path)
                except OSError:
                    continue
    return found


def _holds_links(value: Any) -> bool:
    if isinstance(value, str):
        return "[[" in value
    if isinstance(value, list):
        return any(_holds_links(v) or isinstance(v, list) and len(v) == 1 and isinstance(v[0], str)
                   for v in value)
    return False


def survey(root: Path) -> Layout:
    """Read (a sample of) the notes under root; nothing is written."""
    from kb.notes.parse import parse_note

    layout = Layout(notes_dir=(root / "notes").is_dir(), obsidian=(root / ".obsidian").is_dir())
    base = root / "notes" if layout.notes_dir else root
    files = _markdown_files(base)
    layout.markdown_files = len(files)
    step = max(1, math.ceil(len(files) / SAMPLE_NOTES))
    for path in files[::step]:
        try:  # only regular files inside the vault, never blocking (see kb.vault.paths)
            if not is_inside(path, root):
                continue
            data = read_regular_file(str(path), READ_MAX_BYTES)
        except (OSError, NotReadableError):
            continue
        rel = path.relative_to(base).as_posix()
        note = parse_note(rel, rel[:-3], data)
        if not note.loaded:
            continue
        layout.sampled += 1
        keys = set()
        for key, value in note.extra.items():
            if isinstance(key, str) and _holds_links(value):
                keys.add(field_name(key))
                layout.spelled.setdefault(field_name(key), key)
        for inline in note.inline_fields:
            name = field_name(inline.key)
            if name in OWN_INLINE:
                layout.own_inline[name] += 1
            elif inline.targets:
                keys.add(name)
                layout.spelled.setdefault(name, inline.key.strip().strip("*_").strip())
        layout.keys.update(keys)
        layout.tags.update(set(note_tags(note)))
        if "/" in note.rel:
            layout.folders[note.rel.split("/", 1)[0]] += 1
        layout.headings.update({h.text.strip().strip("#*_: ") for h in note.headings
                                if heading_name(h.text) in PREREQUISITE_HEADINGS})
    return layout


def _toml(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _comment(text: str) -> str:
    return printable(text).replace("\n", " ")


def conventions_text(layout: Layout) -> str:
    """The [conventions] table kb init writes: what it chose, then suggestions, commented."""
    read = layout.sampled
    lines = [
        "# Relations your notes already write, mapped onto kb's fields (docs/conventions.md).",
        f"# kb init chose what is set below from the {read} notes it read; a commented line is a",
        "# suggestion: uncomment it, or move a key under the field it means.",
        "[conventions]",
    ]
    chosen = layout.chosen_keys()
    examples = {"prerequisites": '["up"]', "concept": '["topic"]', "source": '["from"]'}
    for role in ("prerequisites", "concept", "source"):
        if chosen[role]:
            lines.append(f"{role} = [{', '.join(_toml(k) for k in chosen[role])}]")
        else:
            lines.append(f"# {role} = {examples[role]}")
    suggested = layout.suggested_keys()
    if suggested:
        lines.append("# Other front-matter keys and inline fields (key:: value) holding links, with "
                     "the notes using each:")
        lines.append("#   " + _comment(", ".join(f"{k} ({n})" for k, n in suggested)))
    heading = layout.heading()
    if heading:
        lines.append(f"prerequisite_headings = [{_toml(heading[0])}]  # in {heading[1]} notes")
    else:
        lines.append('# prerequisite_headings = ["Prerequisites"]')
    lines.append('# title = "file-name"  # titles from file names, as Obsidian shows them; '
                 'default "heading"')
    common_tags = [(t, n) for t, n in _by_count(layout.tags)[:SUGGESTED] if n >= MIN_NOTES]
    if common_tags:
        lines.append("# The most used tags (notes), for [conventions.types.TYPE] tags = [...]:")
        lines.append("#   " + _comment(", ".join(f"#{t} ({n})" for t, n in common_tags)))
    types = layout.chosen_types()
    for note_type in NOTE_TYPES:
        rule = types.get(note_type)
        if rule is None:
            continue
        lines.append(f"[conventions.types.{note_type}]")
        if rule["tags"]:
            lines.append(f"tags = [{', '.join(_toml(t) for t, _n in rule['tags'])}]")
        if rule["folders"]:
            lines.append(f"folders = [{', '.join(_toml(f) for f, _n in rule['folders'])}]")
    if not types:
        lines += ["# [conventions.types.concept]", '# tags = ["concept"]', '# folders = ["Concepts"]',
                  '# prefixes = ["c-"]']
    return "\n".join(lines) + "\n"


def config_for(layout: Layout, default: str) -> str:
    """kb.toml for a folder that already holds notes: the default text with its notes folder
    and its [conventions] table fitted to what `layout` found."""
    text = default
    if layout.notes_at_root:
        text = text.replace('\nnotes = "notes"\n',
                            '\nnotes = "."  # kb init: your notes are at the vault root, with no '
                            "notes/ folder\n", 1)
    start = text.index("# Relations your notes already write")
    end = text.index("\n\n", text.index("[conventions]", start)) + 1
    return text[:start] + conventions_text(layout) + text[end:]
