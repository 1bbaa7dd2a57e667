"""Articles through a real renderer: Pandoc (from the pypandoc-binary wheel), as Quarto runs it.

Every committed sample draft, and the articles kb builds from the sample vault and from the
torture vault (tests/vaults/torture: callouts, comments, images, embeds and their cycles,
Arabic, code spans in tables, headings in lists and quotes, headings past level 6, math,
footnotes), in both built-in templates and both citation modes, are rendered to HTML with
citeproc. Each must render with no warning; every in-page anchor and every link to another
part must land on an id; every citation must resolve; nothing Obsidian-only may show."""

from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import SAMPLE_VAULT, copy_sample, run_kb

pypandoc = pytest.importorskip("pypandoc")

TORTURE = Path(__file__).parent / "vaults" / "torture"
TEMPLATES = ("article.md.j2", "article.qmd.j2")


def pandoc() -> str:
    try:
        return str(pypandoc.get_pandoc_path())
    except OSError:
        pytest.skip("pandoc is not installed (pip install pypandoc-binary)")


def render_html(article: Path) -> tuple[str, str]:
    """(HTML, Pandoc's warnings). Quarto reads ```{mermaid} as a diagram cell; plain Pandoc
    needs the class form, which is what Quarto hands it."""
    text = re.sub(r"(?m)^```\{mermaid\}", "```{.mermaid}", article.read_text(encoding="utf-8"))
    done = subprocess.run([pandoc(), "--citeproc", "--mathjax", "--from", "markdown", "--to", "html",
                           "--standalone", "--metadata", "pagetitle=t"],
                          input=text, capture_output=True, text=True, cwd=article.parent, check=True)
    return done.stdout, done.stderr


def visible_text(html: str) -> str:
    """The HTML's text outside code and math (where `[[`, `%%` or `#` may stand on purpose)."""
    html = re.sub(r"(?s)<(pre|code|script|style)\b.*?</\1>", " ", html)
    html = re.sub(r'(?s)<span class="math[^"]*">.*?</span>', " ", html)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def ids_of(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def check_folder(folder: Path) -> dict[Path, str]:
    """Render every article in `folder`; assert everything the module docstring promises."""
    articles = sorted(p for p in folder.rglob("*") if p.suffix in (".md", ".qmd"))
    assert articles, folder
    rendered = {}
    for article in articles:
        html, warnings = render_html(article)
        assert warnings == "", f"{article.name}: {warnings}"
        rendered[article] = html
    for article, html in rendered.items():
        where = article.name
        for href in re.findall(r'href="([^"]*)"', html):
            href = html_lib.unescape(href)
            if re.match(r"^[a-z]+:", href):
                continue
            file_part, _, anchor = href.partition("#")
            target = (article.parent / file_part).resolve() if file_part else article
            assert target in rendered, f"{where}: link to {href} leads to no article"
            if anchor:
                assert anchor in ids_of(rendered[target]), f"{where}: #{anchor} is not an id in {target.name}"
        for src in re.findall(r'<img [^>]*src="([^"]*)"', html):
            image = (article.parent / html_lib.unescape(src)).resolve()
            assert image.is_file(), f"{where}: image {src} missing"
            assert image.is_relative_to(folder.resolve()), f"{where}: image {src} outside articles/"
        assert "???" not in html, f"{where}: a citation did not resolve"
        text = visible_text(html)
        for leftover in ("%%", "[[", "[!", "####", "^def"):
            assert leftover not in text, f"{where}: {leftover!r} shows in the rendered text"
    return rendered


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, str], Path]:
    """kb build on copies of the sample and torture vaults: each template, each citation mode."""
    out = {}
    for template in TEMPLATES:
        for citations in ("quarto", "plain"):
            base = tmp_path_factory.mktemp(f"{template}-{citations}")
            sample = copy_sample(base / "sample", citations=citations)
            shutil.rmtree(sample / "articles")
            torture = base / "torture"
            shutil.copytree(TORTURE, torture)
            text = (torture / "kb.toml").read_text(encoding="utf-8")
            (torture / "kb.toml").write_text(text.replace('citations = "quarto"',
                                                          f'citations = "{citations}"'), encoding="utf-8")
            for name, vault in (("sample", sample), ("torture", torture)):
                result = run_kb("build", "--template", template, vault=vault)
                assert result.exit_code == 0, result.stderr
                out[(name, template, citations)] = vault / "articles"
    return out


def test_committed_sample_drafts_render_cleanly(tmp_path: Path) -> None:
    copy = tmp_path / "articles"
    shutil.copytree(SAMPLE_VAULT / "articles", copy)
    rendered = check_folder(copy)
    eigen = rendered[(copy / "math-level-up" / "01-eigenvalues.md").resolve()]
    assert 'dir="rtl"' in eigen  # the Arabic worked example
    # the line naming a reading's source is its own paragraph, not glued to the note's text
    assert re.search(r"<p><em>From Introduction to Linear Algebra <span class=\"citation\"[^<]*"
                     r"[^/]*</span>\.</em></p>", eigen)


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("citations", ["quarto", "plain"])
@pytest.mark.parametrize("vault", ["sample", "torture"])
def test_built_articles_render_cleanly(built: dict[tuple[str, str, str], Path], vault: str,
                                       template: str, citations: str) -> None:
    rendered = check_folder(built[(vault, template, citations)])
    everything = "\n".join(rendered.values())
    assert '<span class="math' in everything
    assert 'dir="rtl"' in everything
    if template == "article.qmd.j2":
        assert 'class="mermaid"' in everything  # the learning path
    else:
        assert "mermaid" not in everything


def test_torture_articles_keep_what_obsidian_shows(built: dict[tuple[str, str, str], Path]) -> None:
    folder = built[("torture", "article.qmd.j2", "quarto")] / "torture"
    basics, advanced = render_html(folder / "01-basics.qmd")[0], render_html(folder / "02-advanced.qmd")[0]
    text = visible_text(basics)
    assert "a private remark" not in text and "A whole private block" not in text
    assert re.search(r'class="callout-tip"\s+title="Remember this"', basics)
    assert re.search(r'class="callout-warning"\s+title="Folded warning"\s+data-collapse="true"', basics)
    # nesting kept: the note callout is inside the warning
    warning = basics.index('class="callout-warning"')
    assert warning < basics.index('class="callout-note"') < basics.index("</div>", warning)
    assert re.search(r'<img src="assets/img-[0-9a-f]{12}\.png"[^>]*width="300"', basics)
    assert re.search(r'<img src="assets/diagram-[0-9a-f]{12}\.png"', basics)
    assert "image not found: nothere.png" in text
    assert text.count("Helper concept") >= 4  # link text is the title, twice on one line too
    assert "<td><code>[[helper]]</code></td>" in basics  # the code span in the table is untouched
    assert '<td><a href="#helper">Helper concept</a></td>' in basics
    assert re.search(r"<li>\s*<h3[^>]*>Heading in a list</h3>\s*</li>", basics)
    assert re.search(r"<blockquote>\s*<h3[^>]*>Setext in a quote</h3>\s*</blockquote>", basics)
    assert "<p><strong>Level five</strong></p>" in basics  # below h6: bold, its own paragraph
    assert "<p><strong>Level six</strong></p>" in basics
    assert 'class="footnote' in basics
    assert "A helper is a thing that helps." in visible_text(advanced)  # embedded section
    assert "would embed itself" in visible_text(advanced)  # the cycle is cut, with a note


def test_plain_mode_lists_linked_sources_as_references(built: dict[tuple[str, str, str], Path]) -> None:
    folder = built[("torture", "article.md.j2", "plain")] / "torture"
    advanced = (folder / "02-advanced.md").read_text(encoding="utf-8")
    assert "See A Book of Torture and" in advanced  # a link to a source note: its title
    references = advanced.split("## References", 1)[1]
    assert "*A Book of Torture*" in references
    basics = (folder / "01-basics.md").read_text(encoding="utf-8")
    assert "> **Remember this**" in basics and ".callout-" not in basics  # titled blockquotes
