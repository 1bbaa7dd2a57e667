"""Obsidian-flavoured Markdown to Markdown that Pandoc and Quarto render the way Obsidian shows it.

Pure text functions used by article assembly. Every edit is placed by its exact source position
(line and column taken from markdown-it's token stream, mapped back through container prefixes
and table cells), never by searching for a literal, so a code span or an earlier identical link
on the same line is never touched by mistake. Code, math and HTML are never edited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from markdown_it.token import Token

from kb.notes.markdown import make_parser

MAX_HEADING = 6
# A line's container prefix: blockquote markers and list markers, with their spaces.
# Container prefixes (quote marks, list markers, the space around them). Written so that each
# space can be matched one way only: a pattern where it could go to either of two `[ \t]*`
# takes exponential time on a long run of `>   >   >`.
_CONTAINER = r"[ \t]*(?:(?:>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))[ \t]*)*"
_ATX = re.compile(rf"^({_CONTAINER})(#{{1,6}})(?=[ \t]|$)")
_PREFIX = re.compile(rf"^({_CONTAINER})")
_CALLOUT = re.compile(r"^\[!([\w-]+)\]([+-]?)[ \t]*(.*)$")
_QUOTE_MARK = re.compile(r"^[ ]{0,3}>[ ]?")
_BLOCK_ID_END = re.compile(r"(?m)[ \t]+\^([A-Za-z0-9-]+)[ \t]*$")
_BLOCK_ID_LINE = re.compile(r"(?m)^[ \t>]*\^([A-Za-z0-9-]+)[ \t]*$")
_FENCE_COLONS = re.compile(r"^(:{3,})")
_SETEXT_DASHES = re.compile(r"(?m)^[ \t>]*-+[ \t]*$")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".bmp", ".avif", ".tif", ".tiff")

# Obsidian's callout types (and their aliases) onto Quarto's five.
_QUARTO_CALLOUT = {
    "note": "note", "info": "note", "todo": "note", "abstract": "note", "summary": "note",
    "tldr": "note", "quote": "note", "cite": "note", "example": "note", "question": "note",
    "help": "note", "faq": "note",
    "tip": "tip", "hint": "tip", "success": "tip", "check": "tip", "done": "tip",
    "important": "important",
    "warning": "warning", "attention": "warning", "failure": "warning", "fail": "warning",
    "missing": "warning", "bug": "warning",
    "caution": "caution", "danger": "caution", "error": "caution",
}


@dataclass
class Edit:
    """Replace body[start:end] with text."""

    start: int
    end: int
    text: str


@dataclass
class Span:
    """One inline element found in the token stream, with where it stands in the source."""

    token: Token  # wikilink, link_open, image or obsidian_comment
    line: int  # 0-based line of the text
    start: int  # offsets into the text
    end: int
    prefix: str  # the text of its line before it
    alone: bool  # nothing but container markers before it and nothing but space after it


def line_starts(text: str) -> list[int]:
    starts = [0]
    for line in text.split("\n")[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return starts


def apply(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits (an edit overlapping an earlier-kept one is skipped)."""
    out: list[str] = []
    position = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < position:
            continue
        out.append(text[position:edit.start])
        out.append(edit.text)
        position = edit.end
    out.append(text[position:])
    return "".join(out)


def _cell_bounds(row: str) -> list[tuple[int, int]]:
    """(start, end) of each cell's trimmed text in a table row, split as markdown-it does
    (on pipes not escaped by a backslash; a leading and trailing pipe open and close the row)."""
    bounds: list[tuple[int, int]] = []
    last, escaped = 0, False
    for pos, char in enumerate(row):
        if char == "|" and not escaped:
            bounds.append((last, pos))
            last = pos + 1
        escaped = char == "\\"
    bounds.append((last, len(row)))
    if bounds and not row[bounds[0][0]:bounds[0][1]].strip():
        bounds = bounds[1:]
    if bounds and not row[bounds[-1][0]:bounds[-1][1]].strip():
        bounds = bounds[:-1]
    trimmed = []
    for start, end in bounds:
        cell = row[start:end]
        lead = len(cell) - len(cell.lstrip())
        trimmed.append((start + lead, start + len(cell.rstrip())))
    return trimmed


def _walk_source(source: str, start: int, content: str, column: int) -> int:
    """The source offset of content[column], given that content starts at source[start]
    (a table cell shows `\\|` in the source as `|`)."""
    if "|" not in content[:column]:  # nearly always: no character differs in width
        return start + column
    pos = start
    for index in range(column):
        if content[index] == "|" and source.startswith("\\|", pos):
            pos += 2
        else:
            pos += 1
    return pos


def _content_start(source_line: str, content_line: str) -> int | None:
    """Where a line of an inline token's text starts in its source line: markdown-it strips
    only a prefix (indent, container markers) and, on the last line, trailing space."""
    if source_line.endswith(content_line):
        return len(source_line) - len(content_line)
    stripped = source_line.rstrip()
    if stripped.endswith(content_line):
        return len(stripped) - len(content_line)
    found = source_line.find(content_line)
    if found >= 0:
        return found
    # A tab only partly taken by the container's indent comes back as spaces: the start is
    # virtual (before the text), but every column past those spaces maps exactly.
    text = content_line.lstrip(" ")
    if text and source_line.rstrip().endswith(text):
        return len(source_line.rstrip()) - len(text) - (len(content_line) - len(text))
    return None


def inline_spans(text: str, tokens: list[Token] | None = None) -> Iterator[Span]:
    """Every wikilink, Markdown link, image and inline comment, placed exactly in `text`."""
    if tokens is None:
        tokens = make_parser(full_inline=True).parse(text)
    lines = text.split("\n")
    starts = line_starts(text)
    cell = -1
    for index, token in enumerate(tokens):
        if token.type == "tr_open":
            cell = -1
        elif token.type in ("th_open", "td_open"):
            cell += 1
        if token.type != "inline" or not token.map or not token.children:
            continue
        in_cell = index > 0 and tokens[index - 1].type in ("th_open", "td_open")
        content_lines = token.content.split("\n")
        for child in _flatten(token.children):
            meta = child.meta or {}
            if child.type not in ("wikilink", "link_open", "image", "obsidian_comment") or "col" not in meta:
                continue
            nl, column, literal = int(meta["nl"]), int(meta["col"]), str(meta["literal"])
            line = token.map[0] + nl
            if line >= len(lines) or nl >= len(content_lines):
                continue
            source, content = lines[line], content_lines[nl]
            if in_cell:
                bounds = _cell_bounds(source)
                if cell >= len(bounds):
                    continue
                begin: int | None = bounds[cell][0]
            else:
                begin = _content_start(source, content)
            if begin is None:
                continue
            head = _walk_source(source, begin, content, column)
            literal_lines = literal.split("\n")
            if len(literal_lines) == 1:
                tail = _walk_source(source, begin, content, column + len(literal))
                if source[head:tail].replace("\\|", "|") != literal.replace("\\|", "|"):
                    continue  # the mapping failed (tabs expanded, say): leave this one alone
                end = starts[line] + tail
                after = source[tail:]
            else:  # a comment over several lines: it ends where its last line ends in the source
                last_line = line + len(literal_lines) - 1
                if (last_line >= len(lines) or not source.startswith(literal_lines[0], head)
                        or literal_lines[-1] not in lines[last_line]):
                    continue
                tail_in_last = lines[last_line].find(literal_lines[-1]) + len(literal_lines[-1])
                end = starts[last_line] + tail_in_last
                after = lines[last_line][tail_in_last:]
            prefix = source[:head]
            yield Span(child, line, starts[line] + head, end, prefix,
                       alone=bool(re.fullmatch(_CONTAINER, prefix)) and not after.strip())


def _flatten(children: list[Token]) -> Iterator[Token]:
    for child in children:
        yield child
        if child.children:
            yield from _flatten(child.children)


def continuation(prefix: str) -> str:
    """The prefix for further lines of a block that started after `prefix`: quote markers
    stay, list markers become spaces."""
    out = []
    for match in re.finditer(r">[ \t]?|[-*+][ \t]+|\d{1,9}[.)][ \t]+|[ \t]+", prefix):
        part = match.group()
        out.append(part if part.startswith(">") or part.isspace() else " " * len(part))
    return "".join(out)


def block_comment_edits(text: str, tokens: list[Token]) -> list[Edit]:
    """`%%` blocks (their whole lines) removed."""
    starts = line_starts(text) + [len(text) + 1]
    edits = []
    for token in tokens:
        if token.type == "obsidian_comment" and token.map:
            begin, end = token.map
            edits.append(Edit(starts[begin], min(starts[end], len(text)), ""))
    return edits


# -- headings ------------------------------------------------------------------------------
def shift_headings(text: str, shift: int | None = None, *, drop_title: str | None = None,
                   base: int = 0) -> str:
    """Move every heading by `shift` levels (by default: so the top one lands at `base` + 1),
    keeping list-item and blockquote prefixes; a setext heading becomes one ATX line; a level
    past 6 becomes a bold paragraph. With `drop_title`, a leading level-1 heading with that
    text is removed."""
    if "#" not in text and "=" not in text and not _SETEXT_DASHES.search(text):
        return text  # no heading of either kind
    tokens = make_parser().parse(text)
    lines = text.split("\n")
    drop: set[int] = set()
    headings = [(p, t) for p, t in enumerate(tokens) if t.type == "heading_open" and t.map]
    if (drop_title is not None and headings and headings[0][0] == 0 and headings[0][1].tag == "h1"
            and tokens[1].content.strip() == drop_title):
        start, end = headings.pop(0)[1].map or (0, 0)
        drop.update(range(start, end))
        if end < len(lines) and not lines[end].strip():
            drop.add(end)
    if shift is None:
        shift = base + 1 - min((int(t.tag[1]) for _p, t in headings), default=1)
    for position, token in headings:
        start, end = token.map or (0, 0)
        level = int(token.tag[1])
        new_level = max(1, level + shift)
        heading_text = " ".join(part.strip() for part in tokens[position + 1].content.split("\n"))
        if token.markup in ("=", "-"):
            prefix = _PREFIX.match(lines[start])
            lead = prefix.group(1) if prefix else ""
            drop.update(range(start + 1, end))
        else:
            match = _ATX.match(lines[start])
            if match is None:
                continue
            lead = match.group(1)
        if new_level > MAX_HEADING:  # HTML has no h7: a bold paragraph, set apart by blank lines
            blank = continuation(lead).rstrip()
            before = blank + "\n" if start > 0 and lines[start - 1].strip(" \t>") else ""
            after_line = max(end, start + 1)
            after = "\n" + blank if after_line < len(lines) and lines[after_line].strip(" \t>") else ""
            lines[start] = before + lead + f"**{heading_text}**" + after
        else:
            lines[start] = lead + "#" * new_level + (" " + heading_text if heading_text else "")
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def heading_levels(text: str) -> list[tuple[int, int]]:
    """(0-based line, level) of each heading."""
    return [(t.map[0], int(t.tag[1])) for t in make_parser().parse(text)
            if t.type == "heading_open" and t.map]


def section_text(text: str, heading: str) -> tuple[str, int] | None:
    """The part of `text` from the heading whose text is `heading` to the next heading of the
    same or a higher level (Obsidian's `[[note#heading]]`)."""
    tokens = make_parser().parse(text)
    lines = text.split("\n")
    wanted = _heading_key(heading)
    found: tuple[int, int] | None = None
    for position, token in enumerate(tokens):
        if token.type != "heading_open" or not token.map or token.level != 0:
            continue
        level = int(token.tag[1])
        if found is not None and level <= found[1]:
            return "\n".join(lines[found[0]:token.map[0]]).rstrip("\n"), found[0]
        if found is None and _heading_key(tokens[position + 1].content) == wanted:
            found = (token.map[0], level)
    if found is None:
        return None
    return "\n".join(lines[found[0]:]).rstrip("\n"), found[0]


def _heading_key(text: str) -> str:
    return " ".join(re.sub(r"[#|^:%\[\]]", " ", text).split()).casefold()


def block_text(text: str, block_id: str) -> tuple[str, int] | None:
    """The paragraph or list item that ends with `^block_id` (or stands just before a line
    holding only it), without the id (Obsidian's `[[note#^id]]`)."""
    tokens = make_parser().parse(text)
    lines = text.split("\n")
    wanted = block_id.casefold()
    for index, token in enumerate(tokens):
        if token.type != "inline" or not token.map:
            continue
        match = _BLOCK_ID_END.search(token.content) or _BLOCK_ID_LINE.match(token.content)
        if match is None or match.group(1).casefold() != wanted:
            continue
        begin, end = token.map
        if _BLOCK_ID_LINE.match(token.content):  # `^id` alone: the block before it
            previous = [t for t in tokens[:index] if t.map and t.level == 0 and t.map[1] <= begin
                        and t.nesting >= 0]
            if not previous:
                return None
            begin, end = previous[-1].map or (begin, end)
        else:
            for outer in reversed(tokens[:index]):
                if outer.type == "list_item_open" and outer.map and outer.map[0] <= begin < outer.map[1]:
                    begin, end = outer.map
                    break
        return strip_block_ids("\n".join(lines[begin:end])).rstrip("\n"), begin
    return None


def strip_block_ids(text: str) -> str:
    """Obsidian block ids (` ^id` at a line's end, or a line of just `^id`) removed outside
    code and math."""
    if not _BLOCK_ID_END.search(text) and not _BLOCK_ID_LINE.search(text):
        return text
    protected = protected_lines(make_parser().parse(text))
    lines = text.split("\n")
    out = []
    for index, line in enumerate(lines):
        if index not in protected:
            if _BLOCK_ID_LINE.match(line) and not line.lstrip(" >").startswith("^["):
                continue
            line = _BLOCK_ID_END.sub("", line)
        out.append(line)
    return "\n".join(out)


def protected_lines(tokens: list[Token]) -> set[int]:
    """Lines inside code, math or HTML blocks: never edited."""
    protected: set[int] = set()
    for token in tokens:
        if token.type in ("fence", "code_block", "math_block", "html_block") and token.map:
            protected.update(range(token.map[0], token.map[1]))
    return protected


# -- callouts ------------------------------------------------------------------------------
MAX_CALLOUT_NESTING = 32  # deeper callouts are left as the blockquotes they are


def convert_callouts(text: str, *, quarto: bool, depth: int = 0) -> str:
    """`> [!type]± Title` blockquotes to Quarto callouts (`::: {.callout-…}`) or, in plain
    mode, a blockquote opening with the title in bold; nesting kept, and a callout in a list
    item stays in it."""
    if "[!" not in text or depth > MAX_CALLOUT_NESTING:
        return text
    tokens = make_parser().parse(text)
    lines = text.split("\n")
    edits: list[tuple[int, int, list[str]]] = []
    depth = 0  # blockquotes open around the current token: only outermost ones are taken here
    for index, token in enumerate(tokens):
        if token.type == "blockquote_close":
            depth -= 1
        if token.type != "blockquote_open":
            continue
        depth += 1
        if depth > 1 or not token.map:
            continue
        if index + 2 >= len(tokens) or tokens[index + 1].type != "paragraph_open":
            continue
        match = _CALLOUT.match(tokens[index + 2].content.split("\n")[0])
        begin, end = token.map
        lead = _quote_lead(lines[begin])
        if match is None or lead is None:
            continue
        rest = continuation(lead)
        inner = [_QUOTE_MARK.sub("", line.removeprefix(rest) if i else line[len(lead):], count=1)
                 for i, line in enumerate(lines[begin:end])]
        block = _callout(match, convert_callouts("\n".join(inner[1:]).strip("\n"), quarto=quarto,
                                                 depth=depth + 1), quarto=quarto)
        placed = [(lead if i == 0 else rest) + line if line.strip() else rest.rstrip()
                  for i, line in enumerate(block)]
        edits.append((begin, end, placed))
    for begin, end, block in reversed(edits):
        # Pandoc reads a fenced div only when blank lines set it apart from its neighbours.
        blank = continuation(_quote_lead(lines[begin]) or "").rstrip()
        before = [blank] if begin > 0 and lines[begin - 1].strip(" \t>") else []
        after = [blank] if end < len(lines) and lines[end].strip(" \t>") else []
        lines[begin:end] = before + block + after
    return "\n".join(lines)


def _quote_lead(line: str) -> str | None:
    """What stands before a blockquote's first `>`: nothing, indentation or list markers."""
    match = re.match(r"^((?:[ \t]*(?:[-*+][ \t]+|\d{1,9}[.)][ \t]+))*[ \t]*)>", line)
    return match.group(1) if match else None


def _callout(match: re.Match[str], body: str, *, quarto: bool) -> list[str]:
    kind, fold, title = match.group(1).lower(), match.group(2), match.group(3).strip()
    if not quarto:
        quoted = [f"> **{title or kind.capitalize()}**"]
        if body:
            quoted.append(">")
            quoted += [("> " + line) if line.strip() else ">" for line in body.split("\n")]
        return quoted
    title = re.sub(r"(?<!!)\[([^\]]*)\]\([^)]*\)", r"\1", title)  # an attribute shows no Markdown
    colons = max([len(m.group(1)) for m in map(_FENCE_COLONS.match, body.split("\n")) if m], default=2) + 1
    attributes = [f".callout-{_QUARTO_CALLOUT.get(kind, 'note')}"]
    if title:
        attributes.append('title="' + title.replace("\\", "\\\\").replace('"', '\\"') + '"')
    if fold:
        attributes.append(f'collapse="{"true" if fold == "-" else "false"}"')
    fence = ":" * max(3, colons)
    return [f"{fence} {{{' '.join(attributes)}}}", *(body.split("\n") if body else []), fence]


# -- right to left -------------------------------------------------------------------------
def is_rtl(text: str) -> bool:
    """Mostly right-to-left letters (Arabic, Hebrew…), once math and code are set aside."""
    if text.isascii():
        return False
    prose = re.sub(r"\$\$.*?\$\$|\$[^$\n]*\$|```.*?```|`[^`\n]*`", " ", text, flags=re.S)
    right = left = 0
    for char in prose:
        direction = unicodedata.bidirectional(char)
        if direction in ("R", "AL"):
            right += 1
        elif direction == "L":
            left += 1
    return right > left


# -- embeds --------------------------------------------------------------------------------
def indent_block(block: str, first_prefix: str) -> str:
    """Lines of an embedded block placed where an embed stood after `first_prefix`."""
    rest = continuation(first_prefix)
    return "\n".join((first_prefix if i == 0 else rest) + line if line.strip() else rest.rstrip()
                     for i, line in enumerate(block.split("\n")))


def fit_headings(block: str, below: int) -> str:
    """Shift the headings of an embedded block so its top heading sits at level below+1."""
    levels = [level for _line, level in heading_levels(block)]
    if not levels:
        return block
    return shift_headings(block, below + 1 - min(levels))


def level_before(text: str, line: int) -> int:
    """The level of the last heading before `line` (0 when there is none)."""
    before = [level for at, level in heading_levels(text) if at < line]
    return before[-1] if before else 0


Rewrite = Callable[[Span], "str | None"]


def rewrite_inline(text: str, rewrite: Rewrite, tokens: list[Token] | None = None) -> str:
    """One pass over the text: comments removed, and each link, image and embed replaced by
    what `rewrite` returns for it (None leaves it as written)."""
    if tokens is None:
        tokens = make_parser(full_inline=True).parse(text)
    edits = block_comment_edits(text, tokens)
    for span in inline_spans(text, tokens):
        if span.token.type == "obsidian_comment":
            edits.append(Edit(span.start, span.end, ""))
            continue
        replacement = rewrite(span)
        if replacement is not None:
            edits.append(Edit(span.start, span.end, replacement))
    return apply(text, edits)


def markdown_destination(literal: str) -> tuple[int, int] | None:
    """(start, end) of the destination inside `[text](dest "title")` or `![alt](dest)`."""
    opening = literal.find("](")
    if opening < 0:
        return None
    pos = opening + 2
    while pos < len(literal) and literal[pos] in " \t\n":
        pos += 1
    if literal.startswith("<", pos):
        close = literal.find(">", pos)
        return (pos + 1, close) if close > 0 else None
    end = pos
    depth = 0
    while end < len(literal):
        char = literal[end]
        if char in " \t\n" or (char == ")" and depth == 0):
            break
        depth += (char == "(") - (char == ")")
        end += 1
    return pos, end


def escape_text(text: str) -> str:
    """Text safe as a Markdown link's text."""
    return re.sub(r"([\\\[\]*_`<>])", r"\\\1", text)

