"""The block- and inline-rule dispatch in kb.notes.markdown must give exactly the tokens
markdown-it gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock

from kb.notes.markdown import commonmark_starts, dispatch_block_rules, make_parser

from .conftest import REPO

# Line starts that make (or almost make) every kind of block, so that random documents
# exercise each rule as a block start, as a terminator and inside lists and quotes.
LINE_STARTS = [
    "", "# ", "## ", "#", "#hashtag", "> ", ">", "- ", "-", "* ", "+ ", "1. ", "2) ", "10. ", "---",
    "***", "___", "- - -", "===", "```", "```python", "~~~", "$$", "$$ x $$", "[^1]: ", "[^a]:",
    "[ref]: /url", "[ref]:", "[[", "[x](y.md)", "<div>", "<!-- ", "-->", "</div>", "<x>", "%%",
    "| a | b |", "|---|---|", "a | b", "--- | ---", ":-:", "|", "\\", "`", "$", "!", "^", "<",
    "text", "[[note]]", "word: value",
]
INDENTS = ["", "", "", " ", "  ", "   ", "    ", "\t", "> ", "- ", ">> "]
TAILS = ["", " text", " [[link]]", " [a](b.md)", " ```", " $$", " #", " |", " >", " ---",
         # inline constructs, for the inline-rule dispatch
         " *em* _u_ **b**", " ~~s~~", " &amp; &#35;", " <http://x.y> <b>", " `co [[de]]`",
         " key:: [[v]]", " [k:: v]", " %%c [[x]]%%", " ^[fn [[y]]]", " $x [[z]]$", " \\[[e]]",
         " ![i](a.png) ![[e.png]]", " #tag/x #1"]

LINES = st.builds(lambda indent, start, tail: indent + start + tail,
                  st.sampled_from(INDENTS), st.sampled_from(LINE_STARTS), st.sampled_from(TAILS))
DOCUMENTS = st.lists(LINES, max_size=25).map("\n".join)


def token_data(tokens: list[Any] | None) -> list[tuple[Any, ...]]:
    return [(t.type, t.tag, t.map, t.content, t.nesting, t.level, t.markup, t.info, t.meta,
             t.attrs, t.block, t.hidden, token_data(t.children)) for t in tokens or []]


def assert_same_tokens(text: str) -> None:
    for full_inline in (False, True):
        dispatched = make_parser(full_inline=full_inline).parse(text)
        plain = make_parser(full_inline=full_inline, dispatch=False).parse(text)
        assert token_data(dispatched) == token_data(plain), text


@settings(max_examples=1500, deadline=None)
@given(DOCUMENTS)
def test_dispatched_block_rules_give_markdown_its_tokens(text: str) -> None:
    assert_same_tokens(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(" \t\n#>-*+_=`~$[]^:|<>!%\\1.)ab")), max_size=200))
def test_dispatched_block_rules_on_any_text(text: str) -> None:
    assert_same_tokens(text)


@pytest.mark.parametrize("path", sorted([*(REPO / "notes").rglob("*.md"),
                                         *(REPO / "tests" / "fixtures").rglob("*.md")]),
                         ids=lambda p: p.name)
def test_dispatched_block_rules_on_the_sample_vault_and_fixtures(path: Path) -> None:
    assert_same_tokens(path.read_text(encoding="utf-8", errors="replace"))


def test_dispatch_replaces_the_rule_chains() -> None:
    # The point of dispatching is that markdown-it no longer runs its own chains.
    active = make_parser().block.ruler.get_active_rules()
    assert active[0] == "by_first_character"
    assert "paragraph" not in active
    assert "paragraph" in make_parser(dispatch=False).block.ruler.get_active_rules()
    assert make_parser().inline.ruler.get_active_rules() == ["by_first_character"]
    assert "link" in make_parser(dispatch=False).inline.ruler.get_active_rules()


def _at_block(state: StateBlock, start: int, end: int, silent: bool) -> bool:
    """Another plugin's block rule: a line starting with `@@` is a block of its own."""
    pos = state.bMarks[start] + state.tShift[start]
    if not state.src.startswith("@@", pos):
        return False
    if not silent:
        token = state.push("at_block", "", 0)
        token.map = [start, start + 1]
    state.line = start + 1
    return True


def test_a_rule_kb_does_not_know_is_tried_on_every_line_whatever_its_name() -> None:
    # Registered under the name of dollarmath's rule, which only matches lines starting with
    # `$`: the dispatch goes by the function, so this rule still sees its `@@` lines.
    def parser(dispatch: bool) -> MarkdownIt:
        md = MarkdownIt("commonmark")
        starts = commonmark_starts(md)
        md.use(lambda md: md.block.ruler.before("paragraph", "math_block", _at_block,
                                                {"alt": ["paragraph", "blockquote", "list"]}))
        if dispatch:
            dispatch_block_rules(md, starts)
            assert md.block.ruler.get_active_rules()[0] == "by_first_character"
        return md

    text = "para\n@@ one\n\n@@ two\n> @@ three\n- @@ four\n# h\n"
    dispatched, plain = parser(True).parse(text), parser(False).parse(text)
    assert token_data(dispatched) == token_data(plain)
    assert [t.map for t in dispatched if t.type == "at_block"] == [[1, 2], [3, 4], [4, 5], [5, 6]]
