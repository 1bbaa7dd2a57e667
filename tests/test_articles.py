"""Articles: learning order, faithful bodies, references, series, templates, never losing an edit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kb
from kb.articles.assemble import assemble
from kb.graph.concepts import build_graph
from kb.graph.mastery import find_concept
from kb.notes.parse import parse_note
from kb.notes.slug import slugify
from kb.vault.write import UnsafePathError, safe_output_path

from .conftest import REPO, SAMPLE_VAULT, copy_sample, run_kb

FIXED_DAY = dt.date(2026, 11, 24)


def concept(name: str, prerequisites: list[str] = (), body: str = "", order: int | None = None) -> str:
    lines = ["---", "type: concept", f"prerequisites: [{', '.join(prerequisites)}]"]
    if order is not None:
        lines.append(f"order: {order}")
    return "\n".join([*lines, "---", f"# {name.title()}", "", body]) + "\n"


# -- learning order ---------------------------------------------------------------------------
@st.composite
def random_dags(draw: st.DrawFn) -> dict[str, list[str]]:
    size = draw(st.integers(min_value=1, max_value=12))
    names = [f"c{i}" for i in range(size)]
    edges: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        earlier = names[:index]
        edges[name] = draw(st.lists(st.sampled_from(earlier), unique=True, max_size=3)) if earlier else []
    return edges


@settings(max_examples=60, deadline=None)
@given(random_dags(), st.data())
def test_sections_follow_a_topological_order(dag: dict[str, list[str]], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(list(dag)))
    notes = [parse_note(f"notes/{name}.md", name,
                        concept(name, list(reversed(dag[name])), order=data.draw(
                            st.none() | st.integers(0, 3))).encode())
             for name in shuffled]
    kg = build_graph(notes)
    target = find_concept(kg, list(dag)[-1])
    article = assemble(kg, target)
    order = [s.concept.key for s in article.sections]
    assert set(order) == nx.ancestors(kg.prerequisite_graph(), target.key) | {target.key}
    for position, key in enumerate(order):
        for before in dag[key]:
            if before in order:
                assert order.index(before) < position
    assert order == [s.concept.key for s in assemble(kg, target).sections]


def test_ties_go_by_order_then_title(make_vault) -> None:
    root = make_vault({
        "notes/zeta.md": concept("zeta", order=1),
        "notes/alpha.md": concept("alpha"),
        "notes/beta.md": concept("beta"),
        "notes/goal.md": concept("goal", ["alpha", "beta", "zeta"]),
    })
    result = run_kb("article", "goal", "--stdout", vault=root)
    headings = [line for line in result.stdout.splitlines() if line.startswith("## ")]
    assert headings[:4] == ["## Zeta {#zeta}", "## Alpha {#alpha}", "## Beta {#beta}", "## Goal {#goal}"]


# -- faithful bodies ----------------------------------------------------------------------
TRICKY_BODY = """Intro with a link to [[base]] and an unknown [[elsewhere|somewhere else]].

```python
x = [[1, 2], [3, 4]]  # [[not-a-link]]
print(f"{x!r}")
```

$$
\\det(A - \\lambda I) = 0 \\quad [[m]]
$$

Inline $a_{ij} = [[b]]$ and `[[code]]`.

| col | link |
|---|---|
| a | [[base\\|the base]] |

<div class="note">raw <b>HTML</b> [[base]]</div>

A claim.[^1] Another.[^note]

[^1]: First footnote, see [[base]].
[^note]: Named footnote.
"""


def test_bodies_survive_byte_for_byte_apart_from_links(make_vault) -> None:
    root = make_vault({
        "notes/base.md": concept("base"),
        "notes/top.md": "---\ntype: concept\nprerequisites: [base]\n---\n" + TRICKY_BODY,
    })
    out = run_kb("article", "top", "--stdout", vault=root).stdout
    expected = (TRICKY_BODY
                .replace("to [[base]] and", "to [Base](#base) and")
                .replace("[[elsewhere|somewhere else]]", "somewhere else")
                .replace("[[base\\|the base]]", "[the base](#base)")
                .replace("see [[base]].", "see [Base](#base)."))
    assert expected in out
    # the HTML block is untouched, link and all: markdown-it does not parse inside it
    assert '<div class="note">raw <b>HTML</b> [[base]]</div>' in out


def test_footnote_labels_that_collide_are_renamed(make_vault) -> None:
    root = make_vault({
        "notes/a.md": concept("a", body="A fact.[^1]\n\n[^1]: Source of a.\n"),
        "notes/b.md": concept("b", ["a"], body="B fact.[^1] Code `[^1]` stays.\n\n[^1]: Source of b.\n"),
    })
    out = run_kb("article", "b", "--stdout", vault=root).stdout
    assert "A fact.[^1]" in out and "[^1]: Source of a." in out
    assert "B fact.[^1-2] Code `[^1]` stays." in out and "[^1-2]: Source of b." in out


def test_heading_anchors_stay_unique_and_headings_are_demoted(make_vault) -> None:
    root = make_vault({
        "notes/Dup.md": concept("dup", body="## Detail\n\nSetext\n------\n"),
        "notes/sub/dup.md": "---\ntype: concept\n---\n# Dup again\n",
        "notes/goal.md": concept("goal", ["Dup", "sub/dup"]),
    })
    out = run_kb("article", "goal", "--stdout", vault=root).stdout
    anchors = [line.rsplit("{#", 1)[1] for line in out.splitlines()
               if line.startswith("## ") and "{#" in line]
    assert len(anchors) == len(set(anchors)) == 3
    assert "### Detail" in out and "### Setext" in out and "------" not in out
    assert "\n\n\n" not in out


def test_missing_prerequisites_are_listed_never_dropped(make_vault) -> None:
    root = make_vault({"notes/goal.md": concept("goal", ["ghost", "phantom"])})
    out = run_kb("article", "goal", "--stdout", vault=root).stdout
    front = out.split("---")[1]
    assert 'missing-prerequisites: ["ghost", "phantom"]' in front
    tail = out.split("## Not yet covered", 1)[1]
    assert "**ghost** — needed by goal" in tail and "**phantom**" in tail


def test_references_cite_each_source_once_with_locators(tmp_path: Path) -> None:
    vault = copy_sample(tmp_path / "plain", citations="plain")
    out = run_kb("article", "eigenvalues", "--stdout", vault=vault).stdout
    assert "[@" not in out and "bibliography" not in out
    refs = out.split("## References", 1)[1]
    assert refs.count("*Introduction to Linear Algebra*") == 1
    assert "Gilbert Strang (2016)" in refs and "§6.1" in refs
    assert "*Pattern Recognition and Machine Learning*" in refs


def test_reading_notes_sorted_by_source_then_locator() -> None:
    out = run_kb("article", "eigenvalues", "--stdout", vault=SAMPLE_VAULT).stdout
    section = out.split("## Eigenvalues and eigenvectors", 1)[1].split("\n## ", 1)[0]
    sources = [line for line in section.splitlines() if line.startswith("*From ")]
    assert sources[0].startswith("*From Introduction to Linear Algebra")
    assert sources[-1].startswith("*From Pattern Recognition and Machine Learning")


def test_two_runs_are_byte_identical() -> None:
    first = run_kb("article", "lora", "--stdout", vault=SAMPLE_VAULT).stdout
    assert first == run_kb("article", "lora", "--stdout", vault=SAMPLE_VAULT).stdout


def test_quarto_template_and_front_matter() -> None:
    out = run_kb("article", "pca", "--stdout", "--template", "article.qmd.j2", vault=SAMPLE_VAULT).stdout
    import yaml

    front = yaml.safe_load(out.split("---\n")[1])
    assert front["title"] == "Principal component analysis"
    assert front["draft"] is True and front["toc"] is True
    assert front["author"] == "Kareem"
    assert "linear-algebra" in front["categories"]
    assert front["missing-prerequisites"] == ["lagrange-multipliers"]
    assert isinstance(front["date"], dt.date)


# -- templates ---------------------------------------------------------------------------------
def test_vault_template_overrides_builtin_and_sees_the_context(make_vault) -> None:
    root = make_vault({
        "notes/a.md": concept("a"),
        "templates/article.md.j2": (
            "{{ title }}|{% for s in sections %}{{ s.anchor }}{% endfor %}|{{ author }}\n"),
        "kb.toml": 'author = "Me"\n',
    })
    assert run_kb("article", "a", "--stdout", vault=root).stdout == "A|a|Me\n"


def test_template_error_names_the_file_and_line(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a"),
                       "templates/broken.md.j2": "ok\n{{ title }}\n{{ no_such_variable }}\n",
                       "templates/syntax.md.j2": "line one\n{% if %}\n"})
    result = run_kb("article", "a", "--stdout", "--template", "broken.md.j2", vault=root)
    assert result.exit_code == 1
    assert "broken.md.j2:3" in result.stderr and "no_such_variable" in result.stderr
    result = run_kb("article", "a", "--stdout", "--template", "syntax.md.j2", vault=root)
    assert result.exit_code == 1 and "syntax.md.j2:2" in result.stderr


def test_unknown_template_is_an_error(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a")})
    result = run_kb("article", "a", "--template", "nope.md.j2", vault=root)
    assert result.exit_code == 1 and "nope.md.j2" in result.stderr


def test_html_templates_autoescape(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntype: concept\ntitle: A <b> & co\n---\n",
                       "templates/page.html.j2": "<h1>{{ title }}</h1>\n"})
    result = run_kb("article", "a", "--template", "page.html.j2", vault=root)
    assert result.exit_code == 0
    assert (root / "articles/a.html").read_text() == "<h1>A &lt;b&gt; &amp; co</h1>\n"


# -- never lose an edit ------------------------------------------------------------------------
def test_hand_edit_is_refused_then_force_replaces_it(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a", body="Body.")})
    first = run_kb("article", "a", vault=root)
    assert first.exit_code == 0 and "articles/a.md: written" in first.stdout
    article = root / "articles" / "a.md"
    assert run_kb("article", "a", vault=root).stdout.strip() == "articles/a.md: unchanged"
    # a change in the notes is picked up, since the draft was not edited by hand
    (root / "notes/a.md").write_text(concept("a", body="New body."))
    assert run_kb("article", "a", vault=root).exit_code == 0
    assert "New body." in article.read_text()
    article.write_text(article.read_text() + "\nMy own paragraph.\n")
    (root / "notes/a.md").write_text(concept("a", body="Newer body."))
    refused = run_kb("article", "a", vault=root)
    assert refused.exit_code == 1
    assert "articles/a.md" in refused.stderr and "--force" in refused.stderr
    assert "My own paragraph." in article.read_text()
    forced = run_kb("article", "a", "--force", vault=root)
    assert forced.exit_code == 0 and "Newer body." in article.read_text()


def test_existing_file_not_written_by_kb_is_refused(make_vault) -> None:
    root = make_vault({"notes/a.md": concept("a"), "articles/a.md": "mine\n"})
    assert run_kb("article", "a", vault=root).exit_code == 1
    assert (root / "articles/a.md").read_text() == "mine\n"


@pytest.mark.parametrize(("name", "expected"), [
    ("../../etc/passwd", "etc-passwd"), ("a/b\\c", "a-b-c"), ("..", "untitled"),
    ("/abs/path", "abs-path"), ("CON", "con-untitled"), ("lpt1", "lpt1-untitled"),
    ("القيم الذاتية", "القيم-الذاتية"), ("Eigen:Values?*", "eigen-values"), ("a\x00b\tc", "a-b-c"),
    ("🚀 rockets", "rockets"),
])
def test_slugs_cannot_escape(name: str, expected: str) -> None:
    assert slugify(name) == expected


def test_output_path_must_stay_inside_articles(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    assert safe_output_path(articles, "x/y.md") == (articles / "x/y.md").resolve()
    for bad in ("../x.md", "/etc/x.md", "a/../../x.md", "."):
        with pytest.raises(UnsafePathError):
            safe_output_path(articles, bad)


def test_weird_ids_write_inside_articles(make_vault) -> None:
    root = make_vault({"notes/weird..name?.md": concept("w"), "notes/CON.md": concept("c")})
    assert run_kb("article", "weird..name?", vault=root).exit_code == 0
    assert run_kb("article", "CON", vault=root).exit_code == 0
    written = sorted(p.relative_to(root).as_posix() for p in (root / "articles").rglob("*.md"))
    assert written == ["articles/con-article.md", "articles/weird-name.md"]
    assert not (root / "articles" / "..").samefile(root / "articles") and (root / "notes/CON.md").exists()


# -- series ------------------------------------------------------------------------------------
def test_series_parts_cover_new_concepts_and_link_back(make_vault) -> None:
    root = make_vault({
        "kb.toml": '[[series]]\ntitle = "S"\nslug = "s"\nparts = ["b", "c"]\n',
        "notes/a.md": concept("a"),
        "notes/b.md": concept("b", ["a"]),
        "notes/c.md": concept("c", ["b"], body="Uses [[a]] and [[b]]."),
    })
    result = run_kb("build", vault=root)
    assert result.exit_code == 0
    assert "articles/s/01-b.md: written" in result.stdout
    assert "read but never practiced" in result.stdout  # then the gaps
    part1 = (root / "articles/s/01-b.md").read_text()
    part2 = (root / "articles/s/02-c.md").read_text()
    assert "## A {#a}" in part1 and "## B {#b}" in part1
    assert "## A" not in part2 and "## B" not in part2 and "## C {#c}" in part2
    assert "Uses [A](01-b.md#a) and [B](01-b.md#b)." in part2


def test_sample_vault_drafts_are_up_to_date(tmp_path: Path) -> None:
    """The committed drafts under articles/ are what `kb build` makes today."""
    copy = copy_sample(tmp_path / "vault")
    result = run_kb("build", "--force", vault=copy)
    assert result.exit_code == 0
    produced_files = sorted(p for p in (copy / "articles").rglob("*") if p.is_file())
    assert {p.suffix for p in produced_files} == {".md", ".bib"}
    for produced in produced_files:
        committed = REPO / produced.relative_to(copy)
        assert committed.read_text(encoding="utf-8") == produced.read_text(encoding="utf-8")


def test_library_api_builds_the_same_article() -> None:
    graph = kb.open_vault(SAMPLE_VAULT).graph
    article = assemble(graph, find_concept(graph, "pca"))
    assert [s.concept.key for s in article.sections][-1] == "pca"
    assert article.missing[0]["id"] == "lagrange-multipliers"
    assert {c.key for c in article.exercises} == {"covariance", "eigenvalues"}
