"""markdown-it-py set up for Obsidian-flavoured notes, and link extraction from its tokens.

Links come from the token stream only: whatever markdown-it treats as code, math,
HTML or an escape never reaches our rules, so it is never a link.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.rules_inline.image import image as commonmark_image
from markdown_it.rules_inline.link import link as commonmark_link
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin

from kb.notes.model import Heading, InlineField, Link

_URL_SCHEMES = ("http:", "https:", "mailto:", "ftp:", "file:", "data:", "obsidian:", "zotero:")


def split_wikilink(inner: str) -> tuple[str, str | None, str | None]:
    """`target#fragment|label` → (target, fragment, label); `\\|` (escaped in tables) splits too."""
    inner = inner.replace("\\|", "|")
    target, bar, label = inner.partition("|")
    target, hash_, fragment = target.partition("#")
    return target.strip(), (fragment.strip() or None) if hash_ else None, (
        label.strip() or None
    ) if bar else None


def _next(state: StateInline, needle: str, pos: int) -> int:
    """`state.src.find(needle, pos)`, remembered per inline parse. A paragraph of 80,000 `[[`
    with no `]]` would otherwise search to its end from each one: quadratic time. The answer
    for a later `pos` up to the last one found is the same, so each search runs once."""
    memo: dict[str, tuple[int, int]] = state.__dict__.setdefault("_kb_next", {})
    known = memo.get(needle)
    if known is not None and known[0] <= pos and (known[1] < 0 or pos <= known[1]):
        return known[1]
    found = state.src.find(needle, pos)
    memo[needle] = (pos, found)
    return found


def _wikilink_rule(state: StateInline, silent: bool) -> bool:
    """Inline rule for `[[target#frag|label]]` and `![[embed]]`, matched at state.pos."""
    src, pos = state.src, state.pos
    embed = src.startswith("![[", pos)
    if not embed and not src.startswith("[[", pos):
        return False
    start = pos + (3 if embed else 2)
    end = _next(state, "]]", start)
    if end < 0 or end + 2 > state.posMax + 1:
        return False
    newline, opening = _next(state, "\n", start), _next(state, "[[", start)
    if 0 <= newline < end or 0 <= opening <= end - 2:
        return False
    inner = src[start:end]
    if not inner.strip():
        return False
    if not silent:
        target, fragment, label = split_wikilink(inner)
        token = state.push("wikilink", "", 0)
        token.content = inner
        token.meta = {
            "target": target,
            "fragment": fragment,
            "label": label,
            "embed": embed,
            **_position(state, pos, src[pos : end + 2]),
        }
    state.pos = end + 2
    return True


def _obsidian_comment_inline(state: StateInline, silent: bool) -> bool:
    """`%%hidden%%` inside a paragraph: skipped, so links in it do not count."""
    src, pos = state.src, state.pos
    if not src.startswith("%%", pos):
        return False
    end = _next(state, "%%", pos + 2)
    if end < 0:
        return False
    if not silent:
        token = state.push("obsidian_comment", "", 0)
        token.content = src[pos + 2 : end]
        token.meta = _position(state, pos, src[pos : end + 2])
    state.pos = end + 2
    return True


def _obsidian_comment_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """A block starting with `%%` runs to the line that closes it, blank lines included."""
    first = state.bMarks[start] + state.tShift[start]
    line_text = state.src[first : state.eMarks[start]]
    if not line_text.startswith("%%"):
        return False
    if silent:
        return True
    line = start
    closed = "%%" in line_text[2:]
    while not closed and line + 1 < end:
        line += 1
        closed = "%%" in state.src[state.bMarks[line] : state.eMarks[line]]
    token = state.push("obsidian_comment", "", 0)
    token.map = [start, line + 1]
    state.line = line + 1
    return True


# -- Dataview inline fields and #tags (what kb.toml's [conventions] may map) ---------------
_FIELD_KEY_MAX = 100  # characters a field's key may have; a longer run is prose, not a key
_FIELD_VALUE_KEPT = 1000  # characters of a value kept (nested fields would otherwise copy a line each)
_BRACKETS = re.compile(r"[\[\]()]")
_TAG = re.compile(r"#([^\s!-,.:-@\[-^`{-~]+)")  # Obsidian's: no spaces or punctuation but _ - /


# Where the tag rule can match: `#` at a line's start or after white space, then a tag character.
_TAG_START = re.compile(r"(?:^|(?<=\s))#[^\s!-,.:-@\[-^`{-~]", re.MULTILINE)


def _may_hold_signals(content: str) -> bool:
    """Whether an inline run can hold a link, an inline field or a tag: else it is not parsed."""
    return ("[" in content or "::" in content
            or "#" in content and _TAG_START.search(content) is not None)


def _is_key_char(char: str) -> bool:
    return char.isalnum() or char in " _-*/."


def _line_at(state: StateInline, pos: int) -> tuple[int, int]:
    """(lines before `pos`, where its line starts) in the inline text. Counted on from the
    previous call, as `_position` does, so that many fields in a paragraph cost linear time."""
    src = state.src
    last_pos, lines, line_start = state.__dict__.get("_kb_line_at", (0, 0, 0))
    if pos < last_pos:
        last_pos, lines, line_start = 0, 0, 0
    lines += src.count("\n", last_pos, pos)
    newline = src.rfind("\n", last_pos, pos)
    if newline >= 0:
        line_start = newline + 1
    state.__dict__["_kb_line_at"] = (pos, lines, line_start)
    return lines, line_start


def _closing_brackets(state: StateInline, line_start: int, line_end: int) -> dict[int, int]:
    """Where each `[` and `(` of a line is closed (`[` by its matching `]`, `(` by its `)`),
    found in one pass per line and remembered: a line of 20,000 `[k::` stays linear."""
    memo: dict[int, dict[int, int]] = state.__dict__.setdefault("_kb_brackets", {})
    found = memo.get(line_start)
    if found is None:
        found = {}
        squares: list[int] = []
        rounds: list[int] = []
        for match in _BRACKETS.finditer(state.src, line_start, line_end):
            char, index = match.group(), match.start()
            if char == "[":
                squares.append(index)
            elif char == "(":
                rounds.append(index)
            elif char == "]" and squares:
                found[squares.pop()] = index
            elif char == ")" and rounds:
                found[rounds.pop()] = index
        memo[line_start] = found
    return found


def _inline_field_rule(state: StateInline, silent: bool) -> bool:
    """A Dataview inline field, matched at its `::`: the key is the run of key characters
    before it, from the start of the line (`key:: value`, value to the line's end) or from a
    `[` or `(` (`[key:: value]`, value to the matching bracket on the same line). Only the
    `::` is consumed: the key stays text and the value is parsed as usual, so its links are
    links and code in it stays code. What code, math or a comment holds never reaches here."""
    src, pos = state.src, state.pos
    if silent or not src.startswith("::", pos):
        return False
    start, limit = pos, max(0, pos - _FIELD_KEY_MAX - 1)
    while start > limit and _is_key_char(src[start - 1]):
        start -= 1
    if start == limit and limit > 0 and _is_key_char(src[start - 1]):
        return False
    opening = src[start - 1] if start > 0 else "\n"
    key = src[start:pos].strip().strip("*_").strip()
    if not key or opening not in "\n[(" or not key[0].isalnum() and key[0] not in "_-":
        return False
    lines, line_start = _line_at(state, pos)
    line_end = _next(state, "\n", pos)
    line_end = line_end if line_end >= 0 else len(src)
    value_start = pos + 2
    if opening == "\n":
        value_end = min(state.posMax, line_end)
    else:
        closing = _closing_brackets(state, line_start, line_end).get(start - 1)
        if closing is None or closing > state.posMax:
            return False
        value_end = closing
    token = state.push("inline_field", "", 0)
    value = src[value_start:min(value_end, value_start + _FIELD_VALUE_KEPT)].strip()
    token.meta = {"key": key, "value": value, "nl": lines,
                  "from": value_start - line_start, "to": value_end - line_start,
                  "line_form": opening == "\n"}
    state.env["kb_signals"] = True
    state.pos = pos + 2
    return True


def _tag_rule(state: StateInline, silent: bool) -> bool:
    """`#tag` (Obsidian's: after a space or at a line's start, not all digits, nested with /)."""
    src, pos = state.src, state.pos
    if src[pos] != "#" or pos > 0 and not src[pos - 1].isspace():
        return False
    match = _TAG.match(src, pos)
    if match is None or match.group(1).isdigit():
        return False
    if not silent:
        token = state.push("tag", "", 0)
        token.meta = {"tag": match.group(1), "nl": _line_at(state, pos)[0]}
        state.env["kb_signals"] = True
    state.pos = match.end()
    return True


def _can_close(state: StateInline, pos: int) -> bool:
    """Whether a `]` follows `pos` in what is being parsed: without one no link label can
    end, and markdown-it would still walk the rest of the paragraph (up to its nesting limit)
    from every `[`."""
    close = _next(state, "]", pos)
    return 0 <= close < state.posMax


InlineRule = Callable[[StateInline, bool], bool]


def _with_position(rule: InlineRule, token_type: str, opener_length: int) -> InlineRule:
    """CommonMark's link or image rule, tried only when a `]` can close the label, recording
    on the token it pushes where it stands (see _position)."""

    def positioned(state: StateInline, silent: bool) -> bool:
        if not _can_close(state, state.pos + opener_length):
            return False
        before, start = len(state.tokens), state.pos
        matched = rule(state, silent)
        if matched and not silent:
            # push() may first flush pending text, so find the token itself.
            for token in state.tokens[before:]:
                if token.type == token_type:
                    token.meta.update(_position(state, start, state.src[start : state.pos]))
                    break
        return matched

    return positioned


_link_with_position = _with_position(commonmark_link, "link_open", 1)
_image_with_position = _with_position(commonmark_image, "image", 2)


def _position(state: StateInline, pos: int, literal: str) -> dict[str, object]:
    """Where a link stands: lines before it, its column on that line of the inline text, its
    exact text, and how many times that text occurs earlier on its own line.

    Counted on from the previous link of the parse rather than from the paragraph's start,
    so a paragraph of many links costs linear, not quadratic, time. A link's text cannot
    overlap another copy of itself (it opens with `[` or `!` and closes with `]` or `)`), so
    counting from the previous copy gives the same number as counting from the line start."""
    src = state.src
    memo: dict[str, Any] = state.__dict__.setdefault(
        "_kb_position", {"pos": 0, "nl": 0, "line_start": 0, "seen": {}})
    if pos < memo["pos"]:  # not expected (links come in order), but stay correct
        memo.update(pos=0, nl=0, line_start=0, seen={})
    lines = memo["nl"] + src.count("\n", memo["pos"], pos)
    last_newline = src.rfind("\n", memo["pos"], pos)
    line_start = last_newline + 1 if last_newline >= 0 else memo["line_start"]
    memo.update(pos=pos, nl=lines, line_start=line_start)
    seen: dict[str, tuple[int, int, int]] = memo["seen"]  # literal → (line, position, count)
    earlier = seen.get(literal)
    if earlier is not None and earlier[0] == lines:
        occurrence = earlier[2] + src.count(literal, earlier[1], pos)
    else:
        occurrence = src.count(literal, line_start, pos)
    seen[literal] = (lines, pos, occurrence)
    return {"nl": lines, "col": pos - line_start, "literal": literal, "occurrence": occurrence}


def _inline_where_links_can_be(state: StateCore) -> None:
    """Replace the core inline pass: text without `[` can hold no link, so skip parsing it."""
    md = state.md
    for token in state.tokens:
        if token.type == "inline" and _may_hold_signals(token.content):
            if token.children is None:
                token.children = []
            md.inline.parse(token.content, md, state.env, token.children)
        elif token.type == "inline":
            token.children = []


# The first non-blank character a line must start with for each of markdown-it's own block
# rules to match it: each returns False at once otherwise. The rules are found by these names
# in a fresh commonmark parser and then known by the function itself, so a rule another plugin
# registers under one of these names is not mistaken for markdown-it's. Rules not known
# (table, lheading, paragraph, any other plugin's) may match a line starting with anything.
_COMMONMARK_STARTS = {
    "code": "",  # only an indented line, and those try every rule
    "fence": "`~", "blockquote": ">", "hr": "*-_", "list": "*-+0123456789", "reference": "[",
    "html_block": "<", "heading": "#",
}

BlockRule = Callable[[StateBlock, int, int, bool], bool]
RuleStarts = dict[BlockRule, str]  # a block rule function → the characters its lines start with


def _block_rules(md: MarkdownIt) -> list[BlockRule]:
    return [rule.fn for rule in md.block.ruler.__rules__]


def commonmark_starts(md: MarkdownIt) -> RuleStarts:
    """markdown-it's own block rules in `md` (which no plugin has touched yet) → their starts."""
    return {rule.fn: _COMMONMARK_STARTS[rule.name] for rule in md.block.ruler.__rules__
            if rule.name in _COMMONMARK_STARTS}


def use_block_plugin(md: MarkdownIt, starts: RuleStarts, first_characters: str,
                     plugin: Callable[..., None], **options: Any) -> MarkdownIt:
    """`md.use(plugin)`, noting that every block rule it adds matches only lines starting
    with one of `first_characters`."""
    before = set(_block_rules(md))
    md.use(plugin, **options)
    starts.update((rule, first_characters) for rule in _block_rules(md) if rule not in before)
    return md


Rule = TypeVar("Rule")


def _candidates(rules: list[Rule], starts: dict[Rule, str]) -> tuple[dict[str, list[Rule]], list[Rule]]:
    """For each character some rule starts with, the rules to try there, in their order; and
    the rules to try at any other character (those whose start is not known)."""
    anywhere = [rule for rule in rules if rule not in starts]
    chars = {char for rule in rules for char in starts.get(rule, "")}
    return ({char: [rule for rule in rules if rule not in starts or char in starts[rule]]
             for char in chars}, anywhere)


def _rules_by_first_character(rules: list[BlockRule], starts: RuleStarts) -> BlockRule:
    """One block rule that calls, in their order, only those of `rules` that can match the
    line's first non-blank character. A document's first line and indented lines try all."""
    every = list(rules)
    by_char, anywhere = _candidates(every, starts)

    def dispatch(state: StateBlock, start: int, end: int, silent: bool) -> bool:
        if start == 0 or state.is_code_block(start):
            candidates = every
        else:
            pos = state.bMarks[start] + state.tShift[start]
            candidates = by_char.get(state.src[pos : pos + 1], anywhere)
        for rule in candidates:  # noqa: SIM110 - any() over a generator is slower, and this is hot
            if rule(state, start, end, silent):
                return True
        return False

    return dispatch


def dispatch_block_rules(md: MarkdownIt, starts: RuleStarts) -> None:
    """markdown-it tries every block rule at the start of each block, and every terminator
    rule on each line a paragraph, list or quote continues to: about fourteen calls a line,
    most of which can only fail. Replace each rule chain by one rule that skips those, in the
    same order with the same results (docs/performance.md has the saving).
    `starts` says which first characters each rule can match; a rule not in it is tried on
    every line."""
    ruler = md.block.ruler
    try:
        names = ruler.get_active_rules()
        rules = ruler.getRules("")
        chains = sorted({chain for rule in ruler.__rules__ if rule.enabled for chain in rule.alt})
        by_chain = {chain: ruler.getRules(chain) for chain in chains}
    except (AttributeError, KeyError, ValueError):  # a markdown-it unlike the ones tested
        return
    if len(names) != len(rules) or names[-1] != "paragraph":  # the any-line rule must come last
        return
    # "code" stays enabled because markdown-it asks whether it is before treating indented
    # lines as code; like the rules pushed below, it comes after the first one, which
    # always matches (paragraph matches anything), so the chain never reaches it.
    ruler.disable([name for name in names if name != "code"])
    ruler.before(names[0], "by_first_character", _rules_by_first_character(rules, starts), {"alt": []})
    for chain in chains:
        ruler.push(f"by_first_character_{chain}", _rules_by_first_character(by_chain[chain], starts),
                   {"alt": [chain]})


# The character each of markdown-it's own inline rules (and the plugins' kb uses) must find at
# the position it is tried at: each returns False at once otherwise. `text` and any rule not
# listed are tried everywhere.
_INLINE_STARTS = {
    "newline": "\n", "escape": "\\", "backticks": "`", "strikethrough": "~", "emphasis": "*_",
    "link": "[", "image": "!", "autolink": "<", "html_inline": "<", "entity": "&",
    "math_inline": "$", "footnote_inline": "^", "footnote_ref": "[",
}
InlineStarts = dict[InlineRule, str]  # an inline rule function → the characters it starts at


def inline_starts(md: MarkdownIt) -> InlineStarts:
    """The inline rules of `md` that markdown-it and its plugins registered under these names
    → their first characters. Called before kb adds or replaces rules of its own."""
    return {rule.fn: _INLINE_STARTS[rule.name] for rule in md.inline.ruler.__rules__
            if rule.name in _INLINE_STARTS}


def _inline_rules_by_first_character(rules: list[InlineRule], starts: InlineStarts) -> InlineRule:
    """One inline rule that calls, in their order, only those of `rules` that can match the
    character at the position: markdown-it stops at every `*`, `-`, `:` … of a paragraph and
    tries each of its dozen rules there, nearly all of which fail on their first check."""
    by_char, anywhere = _candidates(rules, starts)

    def by_first_character(state: StateInline, silent: bool) -> bool:
        for rule in by_char.get(state.src[state.pos : state.pos + 1], anywhere):  # noqa: SIM110
            if rule(state, silent):
                return True
        return False

    return by_first_character


def dispatch_inline_rules(md: MarkdownIt, starts: InlineStarts) -> None:
    """Replace the inline rule chain by one rule that calls, in the same order, only the rules
    that can match at the position's character: the same tokens (tests compare both on random
    documents, CommonMark's examples and real notes), fewer calls."""
    ruler = md.inline.ruler
    try:
        names = ruler.get_active_rules()
        rules = ruler.getRules("")
    except (AttributeError, KeyError, ValueError):  # a markdown-it unlike the ones tested
        return
    if len(names) != len(rules):
        return
    ruler.disable(names)
    ruler.push("by_first_character", _inline_rules_by_first_character(rules, starts))


@lru_cache(maxsize=4)
def make_parser(*, full_inline: bool = False, dispatch: bool = True) -> MarkdownIt:
    """The shared markdown-it instance. `full_inline` parses every paragraph and records where
    images stand (kb.articles.publish rewrites images and links in articles with it; notes are parsed
    with the link-only default);
    `dispatch=False` leaves markdown-it's block rule chains as they are (for comparison)."""
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    starts = commonmark_starts(md)
    use_block_plugin(md, starts, "-", front_matter_plugin)
    # Obsidian's rule for `$…$`: the opening `$` is not followed by a space, the closing one
    # neither preceded by a space nor followed by a digit, so `$5 or $10` is text.
    use_block_plugin(md, starts, "$", dollarmath_plugin, double_inline=True, allow_space=False,
                     allow_digits=False)
    use_block_plugin(md, starts, "[", footnote_plugin)
    at_char = inline_starts(md)  # markdown-it's and the plugins' inline rules, before kb's own
    # Footnote definitions stay where they were written (the tail rule would drop
    # unreferenced ones, and their links with them).
    md.core.ruler.disable("footnote_tail")
    md.inline.ruler.before("link", "wikilink", _wikilink_rule)
    md.inline.ruler.before("wikilink", "obsidian_comment", _obsidian_comment_inline)
    md.inline.ruler.at("link", _link_with_position)
    md.inline.ruler.at("image", _image_with_position)
    md.inline.ruler.before("wikilink", "inline_field", _inline_field_rule)
    md.inline.ruler.before("wikilink", "tag", _tag_rule)
    at_char.update({_wikilink_rule: "[!", _obsidian_comment_inline: "%", _inline_field_rule: ":",
                    _tag_rule: "#", _link_with_position: "[", _image_with_position: "!"})
    md.block.ruler.before(
        "paragraph", "obsidian_comment", _obsidian_comment_block,
        {"alt": ["paragraph", "blockquote", "list"]},
    )
    starts[_obsidian_comment_block] = "%"
    if not full_inline:
        md.core.ruler.at("inline", _inline_where_links_can_be)
        # Emphasis, strikethrough and entities never hide or make a link, and joining text
        # fragments only tidies tokens nobody reads here: skipping them is a third less inline work.
        md.inline.ruler.disable(["emphasis", "strikethrough", "entity"])
        md.inline.ruler2.disable(["balance_pairs", "strikethrough", "emphasis", "fragments_join"])
        md.core.ruler.disable("text_join")
        md.core.ruler.at("normalize", _normalize_if_needed)
    if dispatch:
        dispatch_block_rules(md, starts)
        dispatch_inline_rules(md, at_char)
    return md


def _normalize_if_needed(state: StateCore) -> None:
    """markdown-it's normalize (line endings to \\n, NUL to U+FFFD) without its two regex
    passes over every note, when there is nothing to replace."""
    if "\r" in state.src:
        state.src = state.src.replace("\r\n", "\n").replace("\r", "\n")
    if "\0" in state.src:
        state.src = state.src.replace("\0", "\ufffd")


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def markdown_link_target(href: str) -> tuple[str, str | None] | None:
    """A Markdown link's href → (vault path, fragment) when it points into the vault: as in
    Obsidian, with or without `.md` (`[x](Note%20B)`, `[x](Folder/Note#Heading)`), URL-decoded,
    `?query` ignored. Web addresses, other URI schemes and same-page anchors are not links."""
    lowered = href.lower()
    if (lowered.startswith(_URL_SCHEMES) or "://" in href or href.startswith(("#", "//"))
            or _SCHEME.match(href) and not re.match(r"[A-Za-z]:[/\\]", href)):
        return None
    path, _, fragment = href.partition("#")
    path = unquote(path.partition("?")[0]).strip()
    if not path or path.endswith("/"):
        return None
    return path, unquote(fragment) or None


def _walk_inline(tokens: list[Token]) -> Iterator[tuple[Token, Token]]:
    """(inline block token, child) pairs, for every inline token with a line map."""
    for token in tokens:
        if token.type == "inline" and token.map and token.children:
            for child in token.children:
                yield token, child


def extract_links(tokens: list[Token]) -> list[Link]:
    """Every wikilink, embed and Markdown link to a `.md` file, with its 1-based line."""
    links: list[Link] = []
    for block, child in _walk_inline(tokens):
        assert block.map is not None
        if child.type == "wikilink":
            meta = child.meta
            links.append(
                Link(
                    target=meta["target"],
                    line=block.map[0] + meta["nl"] + 1,
                    kind="embed" if meta["embed"] else "wikilink",
                    label=meta["label"],
                    fragment=meta["fragment"],
                    literal=meta["literal"],
                    occurrence=meta["occurrence"],
                )
            )
        elif child.type == "link_open":
            found = markdown_link_target(str(child.attrs.get("href", "")))
            if found is None:
                continue
            path, fragment = found
            literal = child.meta.get("literal", "")
            text_end = max(literal.rfind("]("), literal.rfind("]["))
            links.append(
                Link(
                    target=path,
                    line=block.map[0] + child.meta.get("nl", 0) + 1,
                    kind="markdown",
                    label=literal[1:text_end] if text_end > 0 else None,
                    fragment=fragment,
                    literal=literal,
                    occurrence=child.meta.get("occurrence", 0),
                )
            )
    return links


def first_heading(tokens: list[Token]) -> str | None:
    """The text of a level-1 ATX or setext heading that opens the note (front matter aside),
    with link syntax shown as its label (`# [[svd|SVD]] notes` → `SVD notes`); None when the
    note opens with anything else — a section heading further down is not the note's title."""
    index = 1 if tokens and tokens[0].type == "front_matter" else 0
    if index + 1 >= len(tokens) or tokens[index].type != "heading_open" or tokens[index].tag != "h1":
        return None
    inline = tokens[index + 1]
    if not inline.children:
        text = inline.content
    else:
        parts = []
        for child in inline.children:
            if child.type == "wikilink":
                meta = child.meta
                parts.append(meta["label"] or meta["target"] or (meta["fragment"] or "").lstrip("^"))
            elif child.type in ("text", "code_inline", "math_inline"):
                parts.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                parts.append(" ")
            elif child.type == "tag":
                parts.append("#" + child.meta["tag"])
            elif child.type == "inline_field":
                parts.append("::")
        text = "".join(parts)
    text = " ".join(text.split())
    return text or None


def extract_signals(tokens: list[Token]) -> tuple[list[InlineField], list[str]]:
    """Dataview inline fields, each with the targets of the links in its value, and `#tags`,
    in order of appearance. Line-form fields count only where Dataview reads a line: not in a
    heading or a table cell (there only `[key:: value]` is a field)."""
    fields: list[InlineField] = []
    tags: list[str] = []
    in_table = in_heading = False
    for block in tokens:
        kind = block.type
        if kind in ("table_open", "table_close"):
            in_table = kind == "table_open"
        elif kind in ("heading_open", "heading_close"):
            in_heading = kind == "heading_open"
        if kind != "inline" or not block.map or not block.children:
            continue
        first = block.map[0] + 1
        pending: list[tuple[dict[str, Any], list[str]]] = []
        # The fields whose value may still hold the next link, innermost last: a link counts
        # for the innermost field around it, so a paragraph costs linear time however many.
        open_fields: list[tuple[dict[str, Any], list[str]]] = []
        for child in block.children:
            meta = child.meta
            if child.type == "inline_field":
                if meta["line_form"] and (in_table or in_heading):
                    continue
                _close_fields(open_fields, meta["nl"], meta["from"])
                pending.append((meta, []))
                open_fields.append(pending[-1])
            elif child.type == "tag":
                tags.append(meta["tag"])
            elif open_fields and child.type in ("wikilink", "link_open") and "nl" in meta:
                _close_fields(open_fields, meta["nl"], meta["col"])
                if not open_fields or open_fields[-1][0]["from"] > meta["col"]:
                    continue
                if child.type == "wikilink":
                    target = meta["target"]
                else:
                    found = markdown_link_target(str(child.attrs.get("href", "")))
                    target = found[0] if found else ""
                if target:
                    open_fields[-1][1].append(target)
        fields.extend(InlineField(m["key"], m["value"], first + m["nl"], tuple(t))
                      for m, t in pending)
    return fields, tags


def _close_fields(open_fields: list[tuple[dict[str, Any], list[str]]], line: int, col: int) -> None:
    """Drop the fields whose value ends before (line, col): brackets nest, and a line-form
    field runs to its line's end, so those are always the innermost."""
    while open_fields:
        meta = open_fields[-1][0]
        if meta["nl"] < line or meta["nl"] == line and meta["to"] <= col:
            open_fields.pop()
        else:
            return


def linked_headings(tokens: list[Token], link_lines: list[int]) -> list[Heading]:
    """Every heading whose section holds one of `link_lines`, with the section's last line."""
    found: list[tuple[int, str, int]] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map and index + 1 < len(tokens):
            found.append((int(token.tag[1:]), tokens[index + 1].content.strip(), token.map[0] + 1))
    if not found or not link_lines:
        return []
    lines = sorted(link_lines)
    ends = [0] * len(found)
    open_headings: list[int] = []  # indexes of headings whose section is still open
    for number, (level, _text, line) in enumerate(found):
        while open_headings and found[open_headings[-1]][0] >= level:
            ends[open_headings.pop()] = line - 1
        open_headings.append(number)
    headings = []
    for (level, text, line), last in zip(found, ends, strict=True):
        first_link = bisect.bisect_right(lines, line)
        if first_link < len(lines) and (not last or lines[first_link] <= last):
            headings.append(Heading(level, text, line, last))
    return headings
