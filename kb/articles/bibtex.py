"""BibTeX in and out: entries of a .bib file as source-note fields (bibtexparser 2), and source
notes back as a references.bib for Quarto. Pure: text in, values out."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from kb.errors import Diagnostic
from kb.graph.resolve import normalize
from kb.notes.model import Note

# BibTeX entry type → kb's source `kind`
_KIND_BY_TYPE = {
    **dict.fromkeys(("article", "inproceedings", "conference", "proceedings", "incollection",
                     "techreport", "report", "thesis", "phdthesis", "mastersthesis",
                     "unpublished", "preprint"), "paper"),
    **dict.fromkeys(("book", "inbook", "booklet", "mvbook", "collection", "bookinbook",
                     "reference"), "book"),
    **dict.fromkeys(("online", "electronic", "www", "webpage"), "article"),
    **dict.fromkeys(("video", "movie"), "video"),
}
# kb's `kind` → the entry type written to references.bib when the note has no `bibtex.type`
_TYPE_BY_KIND = {"paper": "article", "book": "book", "article": "online", "video": "video",
                 "course": "misc", "other": "misc"}
# where the venue lives, per entry type; other types use the first of _VENUE_FIELDS present
_VENUE_FIELD_BY_TYPE = {"article": "journal", "inproceedings": "booktitle", "conference": "booktitle",
                        "incollection": "booktitle", "book": "publisher", "inbook": "publisher",
                        "phdthesis": "school", "mastersthesis": "school", "techreport": "institution"}
_VENUE_FIELDS = ("journal", "journaltitle", "booktitle", "publisher", "howpublished", "school",
                 "institution", "organization")
_MAPPED = {"title", "author", "year", "url", "doi", "abstract"}
_VERBATIM = {"url", "doi", "file", "eprint", "urldate", "isbn", "issn", "archiveprefix",
             "primaryclass", "pmid", "arxivid"}  # never LaTeX: `%` or `_` are literal here


@dataclass
class BibSource:
    """One BibTeX entry as a source note sees it."""

    key: str
    line: int  # 1-based line of `@type{key,`
    entry_type: str
    title: str
    authors: list[str] = field(default_factory=list)
    year: int | None = None
    kind: str = "other"
    url: str | None = None
    doi: str | None = None
    venue: str | None = None
    abstract: str | None = None
    other: dict[str, str] = field(default_factory=dict)  # every other field, decoded

    def note_fields(self) -> dict[str, Any]:
        """Variables for the note-source.md.j2 template."""
        bibtex = {"type": self.entry_type, **self.other}
        return {"citekey": self.key, "kind": self.kind, "authors": self.authors, "year": self.year,
                "venue": self.venue, "url": self.url, "doi": self.doi, "abstract": self.abstract,
                "bibtex": bibtex}


def _decoder() -> Any:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="verbatim", strict_latex_spaces=True)


def _decode(decoder: Any, value: str) -> str:
    try:
        text = decoder.latex_to_text(value)
    except Exception:  # pylatexenc on odd input: keep what was written
        text = value
    return re.sub(r"\s+", " ", text).strip()


def _names(decoder: Any, raw: str) -> list[str]:
    """`Hu, Edward J. and {van der Waals}, J.` → ["Edward J. Hu", "J. van der Waals"]."""
    from bibtexparser.middlewares.names import (
        InvalidNameError,
        parse_single_name_into_parts,
        split_multiple_persons_names,
    )

    names = []
    for person in split_multiple_persons_names(raw):
        try:
            merged = parse_single_name_into_parts(person, strict=False).merge_first_name_first
        except InvalidNameError:
            merged = person
        name = _decode(decoder, merged)
        if name and name.lower() != "others":
            names.append(name)
    return names


def _year(fields: dict[str, str]) -> int | None:
    for name in ("year", "date"):
        match = re.match(r"\s*(\d{4})\b", fields.get(name, ""))
        if match:
            return int(match.group(1))
    return None


def _url(fields: dict[str, str]) -> str | None:
    if fields.get("url"):
        return fields["url"].strip()
    eprint = fields.get("eprint", "").strip()
    if eprint and fields.get("archiveprefix", "arxiv").lower() == "arxiv":
        return f"https://arxiv.org/abs/{eprint}"
    return None


def _doi(value: str | None) -> str | None:
    if not value:
        return None
    return re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I) or None


def _kind(entry_type: str, fields: dict[str, str]) -> str:
    if entry_type in _KIND_BY_TYPE:
        return _KIND_BY_TYPE[entry_type]
    if entry_type == "misc" and (fields.get("eprint") or "arxiv" in fields.get("url", "").lower()):
        return "paper"
    return "other"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def parse_bibtex(text: str, path: str) -> tuple[list[BibSource], list[Diagnostic]]:
    """Every well-formed entry, in file order; a malformed or duplicate entry is an error
    diagnostic at its line, and the entries after it still come through."""
    import bibtexparser
    from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

    diagnostics: list[Diagnostic] = []
    parser_log = logging.getLogger("bibtexparser")
    level = parser_log.level
    parser_log.setLevel(logging.CRITICAL)  # its warnings repeat what kb reports with a line
    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # bibtexparser gives up on the whole file only on its own bugs
        return [], [Diagnostic(path, 0, "error", "bibtex-malformed", f"cannot parse: {exc}")]
    finally:
        parser_log.setLevel(level)
    decoder = _decoder()
    sources: list[BibSource] = []
    first_line: dict[str, int] = {}
    for block in library.blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            diagnostics.append(Diagnostic(path, line, "error", "bibtex-duplicate",
                                          f"duplicate citation key '{block.key}' (first at line "
                                          f"{first_line.get(block.key, '?')}); this entry was skipped"))
            continue
        if isinstance(block, ParsingFailedBlock):
            reason = getattr(block.error, "abort_reason", None) or str(block.error) or "syntax error"
            error = _one_line(str(reason))
            head = _one_line((block.raw or "").split(",")[0])[:60]
            diagnostics.append(Diagnostic(path, line, "error", "bibtex-malformed",
                                          f"malformed entry {head!r} skipped: {error}"))
            continue
        if not isinstance(block, Entry):
            continue  # @string (already applied), @preamble, @comment, text between entries
        first_line.setdefault(block.key, line)
        raw = {f.key.lower(): str(f.value) for f in block.fields}
        entry_type = block.entry_type.lower()
        decoded = {k: (v.strip() if k in _VERBATIM else _decode(decoder, v))
                   for k, v in raw.items() if k not in ("author",)}
        title = decoded.get("title", "")
        if not title:
            diagnostics.append(Diagnostic(path, line, "warning", "bibtex-no-title",
                                          f"entry '{block.key}' has no title; its key stands in"))
            title = block.key
        venue_field = _VENUE_FIELD_BY_TYPE.get(entry_type)
        if not (venue_field and decoded.get(venue_field)):
            venue_field = next((f for f in _VENUE_FIELDS if decoded.get(f)), None)
        authors = _names(decoder, raw["author"]) if raw.get("author") else []
        if not authors and raw.get("editor"):
            authors = _names(decoder, raw["editor"])
        year = _year(decoded)
        other = {k: v for k, v in decoded.items()
                 if k not in _MAPPED and k != venue_field and not (k == "date" and year)}
        if "year" in decoded and year is None:
            other["year"] = decoded["year"]
        sources.append(BibSource(
            key=block.key, line=line, entry_type=entry_type, title=title, authors=authors,
            year=year, kind=_kind(entry_type, decoded), url=_url(decoded),
            doi=_doi(decoded.get("doi")), venue=decoded.get(venue_field) if venue_field else None,
            abstract=decoded.get("abstract") or None, other=other))
    return sources, diagnostics


# -- comparing with a note ------------------------------------------------------------
def citekey_of(note: Note) -> str:
    """A source note's citation key: its `citekey` field, else its id with the characters
    BibTeX keys cannot hold (space, comma, braces, quotes …) turned into `-`."""
    return note.citekey or re.sub(r"[\s,{}()\[\]\"'#%=~\\]+", "-", note.id).strip("-") or "source"


def differences(note: Note, entry: BibSource) -> list[str]:
    """What the note and the BibTeX entry disagree on, field by field (the note wins)."""
    mine: dict[str, Any] = {"title": note.title, "authors": note.authors, "year": note.year,
                            "kind": note.kind, "url": note.url, "doi": note.doi, "venue": note.venue}
    theirs: dict[str, Any] = {"title": entry.title, "authors": entry.authors, "year": entry.year,
                              "kind": entry.kind, "url": entry.url, "doi": entry.doi,
                              "venue": entry.venue}
    found = []
    for name, value in theirs.items():
        if value in (None, [], ""):
            continue
        current = mine[name]
        same = ([normalize(v) for v in current] == [normalize(v) for v in value]
                if isinstance(value, list) else
                current is not None and normalize(str(current)) == normalize(str(value)))
        if not same:
            found.append(f"{name}: the note has {_show(current)}, the .bib has {_show(value)}")
    return found


def _show(value: Any) -> str:
    if value in (None, [], ""):
        return "nothing"
    if isinstance(value, list):
        return "; ".join(value)
    return repr(value) if isinstance(value, str) else str(value)


# -- writing references.bib -------------------------------------------------------------
_SPECIAL = re.compile(r"(?<!\\)([&%#_])")


def _escape(value: str) -> str:
    """A decoded value as BibTeX text: LaTeX specials escaped, unbalanced braces escaped."""
    value = _SPECIAL.sub(r"\\\1", value)
    depth = 0
    for ch in value:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0:
        value = value.replace("{", r"\{").replace("}", r"\}")
    return value


def _protect_case(title: str) -> str:
    """Brace words with capitals after their first letter (LoRA, BERT, PCA): citation styles
    that change a title's case leave braced words alone."""
    return re.sub(r"(?<![{\\\w])([^\W\d_]*[A-Z][^\W_]*[A-Z][^\W_]*)", r"{\1}", title)


def _entry_type(note: Note) -> str:
    extra = note.extra.get("bibtex")
    declared = extra.get("type") if isinstance(extra, dict) else None
    if isinstance(declared, str) and declared.strip():
        return declared.strip().lower()
    if note.kind == "paper" and not note.venue:
        return "misc"
    return _TYPE_BY_KIND.get(note.kind or "other", "misc")


def format_entry(note: Note) -> str:
    """One source note as a BibTeX entry."""
    entry_type = _entry_type(note)
    fields: dict[str, str] = {"title": _protect_case(_escape(note.title))}
    if note.authors:
        fields["author"] = " and ".join(_escape(a) for a in note.authors)
    if note.year is not None:
        fields["year"] = str(note.year)
    if note.venue:
        venue_field = _VENUE_FIELD_BY_TYPE.get(entry_type, "howpublished")
        fields[venue_field] = _escape(note.venue)
    if note.doi:
        fields["doi"] = note.doi
    if note.url:
        fields["url"] = note.url
    extra = note.extra.get("bibtex")
    if isinstance(extra, dict):
        for name, value in extra.items():
            name = str(name).lower()
            if name == "type" or name in fields or value is None or not re.fullmatch(r"[\w-]+", name):
                continue
            text = str(value)
            fields[name] = text if name in _VERBATIM else _escape(text)
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields.items())
    return f"@{entry_type}{{{citekey_of(note)},\n{body}\n}}\n"


def format_bibliography(notes: list[Note]) -> str:
    """Every source note as BibTeX, sorted by citation key, one blank line apart."""
    ordered = sorted(notes, key=lambda n: (normalize(citekey_of(n)), n.path))
    seen: set[str] = set()
    unique = []
    for note in ordered:  # two notes with one key: the first (by path) is the entry
        if normalize(citekey_of(note)) not in seen:
            seen.add(normalize(citekey_of(note)))
            unique.append(note)
    header = "% Generated by kb from the vault's source notes; edit the notes, not this file.\n\n"
    return header + "\n".join(format_entry(n) for n in unique)
