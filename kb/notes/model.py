"""Plain records a note parses into: pure data, cheap to cache and compare."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, get_args

from kb.errors import Diagnostic

# Each list of choices is written once, here, as a Literal type (what pydantic validates front
# matter and kb.toml against, and mypy checks) with its tuple of values (what the CLI offers).
NoteType = Literal["concept", "reading", "practice", "source"]
PracticeKind = Literal["exercise", "code", "project"]
SourceKind = Literal["book", "paper", "course", "video", "article", "other"]
SourceStatus = Literal["to-read", "reading", "finished", "dropped"]
ReviewResult = Literal["again", "hard", "good", "easy"]  # a practice note's `result`
Level = Literal["missing", "read", "exercise", "code", "project"]  # how far a concept is mastered
NOTE_TYPES: tuple[NoteType, ...] = get_args(NoteType)
PRACTICE_KINDS: tuple[PracticeKind, ...] = get_args(PracticeKind)
SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)
SOURCE_STATUSES: tuple[SourceStatus, ...] = get_args(SourceStatus)
REVIEW_RESULTS: tuple[ReviewResult, ...] = get_args(ReviewResult)
LEVELS: tuple[Level, ...] = get_args(Level)  # lowest first

# Bump whenever a Note parsed from the same bytes could differ: it invalidates the cache.
PARSER_VERSION = 7

LinkKind = Literal["wikilink", "embed", "markdown", "property"]


class Ref(NamedTuple):  # tuples, as Link and Heading: thousands are decoded on every warm run
    """A link target written in front matter, with the line it was written on."""

    target: str
    line: int


class Link(NamedTuple):
    """A link found in the body (or in an unknown front-matter field).

    `target` is the note part as written (may be empty for `[[#heading]]`),
    `fragment` the `#heading` or `#^block` part without the `#`.
    """

    target: str
    line: int
    kind: LinkKind
    label: str | None = None
    fragment: str | None = None
    literal: str = ""  # the exact text as parsed, e.g. "[[svd|SVD]]"
    occurrence: int = 0  # how many times `literal` stands earlier on the same line


@dataclass(frozen=True, slots=True)
class InlineField:
    """A Dataview inline field in the body: `key:: value` on its own line (also in a list item,
    a callout), or `[key:: value]` / `(key:: value)` within one. `key` is as written (see
    kb.notes.conventions.field_name for how it is compared); `targets` are the links in its value."""

    key: str
    value: str
    line: int
    targets: tuple[str, ...] = ()


class Heading(NamedTuple):  # a tuple: most notes have one, decoded on every warm run
    """A heading whose section (up to the next heading of its level or above) holds a link:
    what `[conventions] prerequisite_headings` looks for. Other headings are not kept."""

    level: int
    text: str
    line: int
    end: int  # the last line of its section (0: the end of the note)


# A note's fields read only by some commands ([conventions], kb init, review credit): a note
# made from a cache record keeps them as JSON text until one is first read (kb.vault.cache).
LATER_FIELDS = ("headings", "field_lines", "inline_tags")


class _Later:
    __slots__ = ("_later",)
    _later: str  # the JSON text of the LATER_FIELDS, while they are not set (kb.vault.cache.decode_later)


@dataclass(slots=True)
class Note(_Later):
    """One parsed Markdown file. `path` is relative to the vault root, POSIX style;
    `rel` is relative to the notes folder without `.md` (the `folder/id` form).

    A note made from a cache record has its LATER_FIELDS unset until one is first read: then
    they are decoded (see _LaterField)."""

    path: str
    rel: str
    id: str
    type: NoteType = "reading"
    title: str = ""
    concepts: list[Ref] = field(default_factory=list)
    prerequisites: list[Ref] = field(default_factory=list)
    source: Ref | None = None
    locator: str | None = None
    practice: str | None = None
    result: str | None = None  # practice notes: again | hard | good | easy (None: not given)
    minutes: float | None = None  # practice notes: how long it took
    date: dt.date | None = None
    aliases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    order: float | None = None
    kind: str | None = None
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    url: str | None = None
    status: str | None = None
    citekey: str | None = None  # source notes: the BibTeX / Quarto citation key
    doi: str | None = None
    venue: str | None = None  # journal, proceedings or publisher
    requires: list[str] = field(default_factory=list)  # practice: modules its code needs (kb run)
    timeout: float | None = None  # practice: seconds `kb run` allows its code (default: kb.toml)
    extra: dict[str, Any] = field(default_factory=dict)
    links: list[Link] = field(default_factory=list)
    # What [conventions] in kb.toml may map onto kb's fields (kb.notes.conventions): parsed for
    # every note, so the mapping needs no re-parse when kb.toml changes.
    inline_fields: list[InlineField] = field(default_factory=list)
    inline_tags: list[str] = field(default_factory=list)  # `#tag` in the body, without the `#`
    headings: list[Heading] = field(default_factory=list)
    body: str = ""
    body_line: int = 1
    field_lines: dict[str, int] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    loaded: bool = True  # False for files that could not be read as notes at all

    @property
    def folder(self) -> str:
        return self.rel.rpartition("/")[0]

    def line_of(self, field_name: str) -> int:
        return self.field_lines.get(field_name, 1)


class _LaterField:
    """Stands in for the slot of one of the LATER_FIELDS: reading it while it is unset (a note
    from a cache record) decodes them. Only these three attributes pay for it: a `__getattr__`
    on Note would slow every attribute read of every note."""

    def __init__(self, slot: Any) -> None:
        self.slot = slot  # the slot's own descriptor

    def __get__(self, note: Note | None, owner: type | None = None) -> Any:
        if note is None:
            return self
        try:
            return self.slot.__get__(note, owner)
        except AttributeError:
            from kb.vault.cache import decode_later

            decode_later(note)
            return self.slot.__get__(note, owner)

    def __set__(self, note: Note, value: Any) -> None:
        self.slot.__set__(note, value)

    def __delete__(self, note: Note) -> None:
        self.slot.__delete__(note)


for _name in LATER_FIELDS:
    setattr(Note, _name, _LaterField(Note.__dict__[_name]))
