"""Obsidian syntax in article bodies: each defect found by rendering drafts, as a case of its own."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.articles.assemble import assemble
from kb.graph.concepts import build_graph
from kb.graph.mastery import find_concept
from kb.notes.parse import parse_note

from .conftest import run_kb

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63fccf50000000040001e2c8b13b0000000049454e44ae426082")


def concept(name: str, body: str = "", prerequisites: tuple[str, ...] = (), title: str | None = None) -> str:
    front = ["---", "type: concept", f"prerequisites: [{', '.join(prerequisites)}]"]
    if title:
        front.append(f"title: {title}")
    return "\n".join([*front, "---", body]) + "\n"


def article(root: Path, target: str = "top", *args: str) -> str:
    result = run_kb("article", target, "--stdout", *args, vault=root)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def body_of(text: str, section: str = "top") -> str:
    """The text of one section (`## … {#section}` to the next `## `)."""
    match = re.search(rf"(?ms)^## .*\{{#{section}\}}\n(.*?)(?=^## |\Z)", text)
    assert match, text
    return match.group(1)


# -- links -------------------------------------------------------------------------------
def test_a_bare_link_shows_its_targets_title(make_vault) -> None:
    root = make_vault({"notes/covariance-matrix.md": concept("c", title="Covariance matrix"),
                       "notes/top.md": concept("t", "See [[covariance-matrix]] and [[covariance-matrix|it]].",
                                               ("covariance-matrix",))})
    expected = "See [Covariance matrix](#covariance-matrix) and [it](#covariance-matrix)."
    assert expected in body_of(article(root))


def test_the_same_link_twice_on_a_line_is_rewritten_both_times(make_vault) -> None:
    root = make_vault({"notes/base.md": concept("b", title="Base"),
                       "notes/top.md": concept("t", "[[base]] then [[base]]; [x](base.md) and [x](base.md).",
                                               ("base",))})
    assert ("[Base](#base) then [Base](#base); [x](#base) and [x](#base)."
            in body_of(article(root)))


def test_a_code_span_in_a_table_row_before_the_same_link_is_left_alone(make_vault) -> None:
    table = "| code | link |\n|---|---|\n| `[[base]]` | [[base]] |\n| `a \\| [[base]]` | [[base\\|b]] |"
    root = make_vault({"notes/base.md": concept("b", title="Base"),
                       "notes/top.md": concept("t", table, ("base",))})
    body = body_of(article(root))
    assert "| `[[base]]` | [Base](#base) |" in body
    assert "| `a \\| [[base]]` | [b](#base) |" in body


def test_plain_mode_a_link_to_a_source_is_its_title_and_a_reference(make_vault) -> None:
    root = make_vault({
        "notes/book.md": "---\ntype: source\ntitle: The Book\nauthors: [A. Writer]\nyear: 2001\n---\n",
        "notes/top.md": concept("t", "As [[book]] says."),
    })
    text = article(root)
    assert "As The Book says." in text
    assert re.search(r"(?m)^1\. A\. Writer \(2001\)\. \*The Book\*\.", text.split("## References")[1])


# -- comments ------------------------------------------------------------------------------
def test_obsidian_comments_are_dropped_but_not_inside_code(make_vault) -> None:
    body = ("Shown %%hidden inline%% text.\n\n%%\nA private block\n\nover paragraphs\n%%\n\n"
            "`%%code%%` and\n\n```\n%% fenced %%\n```\n")
    root = make_vault({"notes/top.md": concept("t", body)})
    text = body_of(article(root))
    assert "Shown  text." in text
    assert "hidden" not in text and "private" not in text and "over paragraphs" not in text
    assert "`%%code%%`" in text and "%% fenced %%" in text


# -- headings ------------------------------------------------------------------------------
def test_a_heading_in_a_list_item_keeps_its_marker(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "- # Heading in a list\n- 1. # Deeper\n")})
    body = body_of(article(root))
    assert "- ### Heading in a list" in body
    assert "- 1. ### Deeper" in body


def test_a_setext_heading_in_a_blockquote_keeps_its_quote(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "> Quoted title\n> ===\n> text\n")})
    assert "> ### Quoted title\n> text" in body_of(article(root))


def test_headings_deeper_than_six_become_bold_paragraphs(make_vault) -> None:
    body = "# One\n## Two\n### Three\n#### Four\n##### Five\n###### Six\ntext\n"
    root = make_vault({"notes/top.md": concept("t", body, title="Top")})
    text = body_of(article(root))
    assert "### One\n#### Two\n##### Three\n###### Four\n" in text
    assert "\n**Five**\n" in text and "\n**Six**\n\ntext" in text
    assert "#######" not in text


# -- callouts ------------------------------------------------------------------------------
CALLOUTS = ("> [!tip] Remember this\n> A tip.\n\n> [!warning]- Folded\n> Hidden.\n> > [!note]+ Inner\n"
            "> > Nested.\n")


def test_callouts_become_quarto_callouts_with_folding_and_nesting(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", CALLOUTS)})
    text = body_of(article(root, "top", "--template", "article.qmd.j2"))
    assert '::: {.callout-tip title="Remember this"}\nA tip.\n:::' in text
    assert (':::: {.callout-warning title="Folded" collapse="true"}\nHidden.\n\n'
            '::: {.callout-note title="Inner" collapse="false"}\nNested.\n:::\n::::') in text
    assert "[!" not in text


def test_callouts_become_titled_blockquotes_in_plain_mode(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", CALLOUTS)})
    text = body_of(article(root))
    assert "> **Remember this**\n>\n> A tip." in text
    assert "> **Folded**\n>\n> Hidden.\n>\n> > **Inner**\n> >\n> > Nested." in text


# -- images --------------------------------------------------------------------------------
def test_images_are_copied_beside_the_article_and_missing_ones_warned(make_vault) -> None:
    root = make_vault({
        "notes/top.md": concept("t", "![[figure.png|300]]\n\n![Plot](../attachments/plot.png)\n\n"
                                     "![[gone.png]]\n\n![web](https://example.org/x.png)\n"),
        "attachments/figure.png": PNG,
        "attachments/plot.png": PNG + b"2",
    })
    result = run_kb("article", "top", vault=root)
    assert result.exit_code == 0
    assert "notes/top.md:9: warning: image 'gone.png' not found" in result.stderr
    text = (root / "articles/top.md").read_text(encoding="utf-8")
    figure = re.search(r"!\[\]\((assets/figure-[0-9a-f]{12}\.png)\)\{width=300\}", text)
    plot = re.search(r"!\[Plot\]\((assets/plot-[0-9a-f]{12}\.png)\)", text)
    assert figure and plot
    assert (root / "articles" / figure.group(1)).read_bytes() == PNG
    assert (root / "articles" / plot.group(1)).read_bytes() == PNG + b"2"
    assert "*(image not found: gone.png)*" in text
    assert "![web](https://example.org/x.png)" in text


def test_an_image_outside_the_vault_is_not_copied(make_vault, tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(PNG)
    root = make_vault({"notes/top.md": concept("t", "![x](../../secret.png)\n")})
    result = run_kb("article", "top", vault=root)
    assert "image '../../secret.png' not found inside the vault" in result.stderr
    assert not (root / "articles" / "assets").exists()


# -- embeds --------------------------------------------------------------------------------
def test_embeds_are_replaced_by_the_text_they_show(make_vault) -> None:
    other = ("# Other\n\nIntro.\n\n## Theorem\n\nEvery $x$ is fine.\n\n### Proof\n\nTrivial.\n\n"
             "## Next\n\nNot embedded.\n\nA block to quote. ^quote1\n")
    root = make_vault({
        "notes/other.md": "---\ntype: reading\n---\n" + other,
        "notes/top.md": concept("t", "## Part\n\n![[other#Theorem]]\n\n> ![[other#^quote1]]\n"),
    })
    text = body_of(article(root))
    assert "#### Theorem\n\nEvery $x$ is fine.\n\n##### Proof\n\nTrivial." in text
    assert "Not embedded." not in text.split("> A block")[0]
    assert "> A block to quote." in text and "^quote1" not in text


def test_embed_cycles_are_cut_with_a_note(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: reading\nconcept: top\n---\nA says.\n\n![[b]]\n",
        "notes/b.md": "---\ntype: reading\nconcept: top\n---\nB says.\n\n![[a]]\n",
        "notes/top.md": concept("t", "![[a]]\n"),
    })
    text = article(root)
    assert ("A says.\n\nB says.\n\n"
            "*(a is embedded here in the notes; left out because it would embed itself.)*") in text


# -- the page around the notes -------------------------------------------------------------
def test_the_from_line_is_its_own_paragraph_with_quarto_citations(make_vault) -> None:
    root = make_vault({
        "kb.toml": 'citations = "quarto"\n',
        "notes/book.md": "---\ntype: source\ntitle: The Book\n---\n",
        "notes/top.md": concept("t"),
        "notes/r.md": ("---\ntype: reading\nconcept: top\nsource: book\nlocator: p. 3\n---\n"
                       "## A heading\n\n- a list\n"),
    })
    text = article(root)
    assert "*From The Book [@book, p. 3].*\n\n#### A heading\n\n- a list" in text


def test_right_to_left_notes_are_wrapped_in_an_rtl_div(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "هذه فقرة عربية مع معادلة $x^2 + y^2 = z^2$.")})
    assert '::: {dir="rtl"}\nهذه فقرة عربية' in article(root)


def test_the_quarto_template_opens_with_the_learning_path(make_vault) -> None:
    files = {f"notes/c{i}.md": concept(f"c{i}", prerequisites=(f"c{i - 1}",) if i else ())
             for i in range(70)}
    files["notes/practice.md"] = "---\ntype: practice\npractice: code\nconcept: c69\n---\nDone.\n"
    root = make_vault(files)
    text = article(root, "c69", "--template", "article.qmd.j2")
    chart = text.split("```{mermaid}\n", 1)[1].split("```", 1)[0]
    assert chart.startswith("flowchart TD\n")
    assert chart.count('["') == 60  # capped
    assert "  c58 --> c59\n" in chart
    assert re.search(r"class [c0-9,]+ read\n", chart) and "class c59 code" in chart
    assert "Also on the path, before the chart starts (10): c0, c1" in text
    assert "mermaid" not in article(root, "c69")  # the plain Markdown template leaves it out


# -- any mix of constructs -------------------------------------------------------------------
FRAGMENTS = [
    "[[base]]", "[[base|label]]", "[[base#Part]]", "[x](base.md)", "`[[base]]`", "$[[m]]$",
    "%%gone [[base]]%%", "![[base#Part]]", "![[missing.png]]", "![[base#^blk]]", "**bold**", "[^1]",
    "> ", "- ", "1. ", "# ", "###### ", "> [!tip] T", "| a | [[base]] |", "\\|", "مرحبا", "x\ty",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(FRAGMENTS), max_size=6).map(" ".join), max_size=12))
def test_any_mix_of_constructs_keeps_code_and_leaves_no_wikilink(lines: list[str]) -> None:
    body = "\n".join(lines) + "\n\n```\n[[base]] %% kept %%\n```\n\n[^1]: note\n"
    notes = [parse_note("notes/base.md", "base",
                        b"---\ntype: concept\n---\n# Base\n\n## Part\n\nText. ^blk\n"),
             parse_note("notes/top.md", "top",
                        f"---\ntype: concept\nprerequisites: [base]\n---\n{body}".encode())]
    kg = build_graph(notes)
    article = assemble(kg, find_concept(kg, "top"), citations="quarto")
    text = "".join(e.body for s in article.sections for e in ([s.intro] if s.intro else []))
    assert "```\n[[base]] %% kept %%\n```" in text
    outside_code = re.sub(r"(?s)```.*?```|`[^`\n]*`|\$[^$\n]*\$", "", text)
    assert "[[base" not in outside_code and "%%" not in outside_code


def test_a_setext_heading_with_a_one_character_underline_moves_too(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "Title\n=\n\nSub\n-\n\ntext\n", title="Top")})
    assert "### Title\n\n#### Sub\n\ntext" in body_of(article(root))


def test_a_callout_in_a_list_item_stays_in_it(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "- item\n- > [!tip] In a list\n  > Tip text.\n- next\n")})
    quarto = body_of(article(root, "top", "--template", "article.qmd.j2"))
    assert '- ::: {.callout-tip title="In a list"}\n  Tip text.\n  :::\n' in quarto
    plain = body_of(article(root))
    assert "- > **In a list**\n  >\n  > Tip text.\n" in plain


def test_a_link_after_a_tab_that_markdown_it_expands_is_still_rewritten(make_vault) -> None:
    root = make_vault({"notes/base.md": concept("b", title="Base"),
                       "notes/top.md": concept("t", "- item\n  text\n \t[[base]] after a tab\n", ("base",))})
    assert " \t[Base](#base) after a tab" in body_of(article(root))


def test_other_attachments_are_named_not_published(make_vault) -> None:
    root = make_vault({"notes/top.md": concept("t", "![[book.pdf]]\n\nSee [[book.pdf|the PDF]].\n"),
                       "notes/book.pdf": b"%PDF-1.4"})
    result = run_kb("article", "top", vault=root)
    assert result.exit_code == 0 and "warning" not in result.stderr
    text = (root / "articles/top.md").read_text(encoding="utf-8")
    assert "\nbook.pdf\n" in text and "See the PDF." in text
    assert not (root / "articles/assets").exists()
