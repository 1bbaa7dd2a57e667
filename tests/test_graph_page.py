"""kb graph --format html (without a browser: see test_graph_browser.py for the page at work),
--focus/--depth/--output/--concepts-only for every format, Mermaid labels, determinism."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kb
from kb.cli import GRAPH_FORMATS
from kb.graph.export import FORMATS
from kb.graph.page import TEMPLATE, label_lines, page_context
from kb.render import environment, render

from .conftest import REPO, copy_sample, run_kb


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("sample"))


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="kb-data">(.*?)</script>', html, re.S)
    assert found, "the page embeds its data"
    return json.loads(found.group(1))


def html_of(vault: Path, *args: str) -> str:
    result = run_kb("graph", "--format", "html", *args, vault=vault)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_every_export_format_has_an_option() -> None:
    assert (*FORMATS, "html") == GRAPH_FORMATS


def test_the_page_is_one_offline_file(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "map.html"
    result = run_kb("graph", "--format", "html", "--output", str(out), vault=sample)
    assert result.exit_code == 0 and result.stdout == ""
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # nothing is loaded from anywhere: no external script, style, image, font or frame
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert not re.search(r"@import|url\(\s*['\"]?(https?:|//)|<link[^>]+stylesheet|<iframe", html)
    assert "default-src 'none'" in html  # and the page forbids it even if a title tried
    assert out.stat().st_mode & 0o044 == 0o044 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_the_page_shows_every_concept_with_its_level(sample: Path) -> None:
    html = html_of(sample)
    data = page_data(html)
    levels = {n["id"].removeprefix("concept:"): n["level"]
              for n in run_kb("graph", "--concepts-only", vault=sample).json()["nodes"]}
    assert {c["key"]: c["level"] for c in data["concepts"]} == levels
    drawn = {int(i): level for level, i in re.findall(r'<g class="node (\w+)[^"]*" data-i="(\d+)"', html)}
    assert len(drawn) == len(levels) == 20
    assert drawn == {i: c["level"] for i, c in enumerate(data["concepts"])}
    eigen = next(c for c in data["concepts"] if c["key"] == "eigenvalues")
    assert eigen["level"] == "read" and eigen["unblocks"] == 4


def test_layers_follow_prerequisites_and_the_page_is_stable(sample: Path) -> None:
    html = html_of(sample)
    assert html == html_of(sample)
    concepts = page_data(html)["concepts"]
    edges = [(p, i) for i, c in enumerate(concepts) for p in c["prerequisites"]]
    assert edges
    for before, after in edges:  # learning flows one way: every prerequisite is to the left
        assert concepts[before]["layer"] < concepts[after]["layer"]
        assert concepts[before]["x"] < concepts[after]["x"]
    # a concept sits one layer right of its deepest prerequisite
    for c in concepts:
        deepest = max((concepts[p]["layer"] for p in c["prerequisites"]), default=-1)
        assert c["layer"] == deepest + 1, c["key"]
    # no two circles share a place
    assert len({(c["x"], c["y"]) for c in concepts}) == len(concepts)
    # concepts are listed in learning order (kb path's order for any target)
    steps = [s["id"] for s in run_kb("path", "lora", "--json", vault=sample).json()["steps"]]
    order = [c["key"] for c in concepts]
    assert sorted(steps, key=order.index) == steps


def test_panel_data_lists_notes_with_links(sample: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "map.html"
    assert run_kb("graph", "--format", "html", "-o", str(out), vault=sample).exit_code == 0
    data = page_data(out.read_text(encoding="utf-8"))
    eigen = next(c for c in data["concepts"] if c["key"] == "eigenvalues")
    shown = run_kb("show", "eigenvalues", "--json", vault=sample).json()
    paths = [data["notes"][n]["path"] for n in eigen["notes"]]
    assert paths == [n["path"] for n in shown["notes"]]
    for n in eigen["notes"]:
        note = data["notes"][n]
        from urllib.parse import unquote
        assert (out.parent / unquote(note["href"])).resolve() == (sample / note["path"]).resolve()
    arabic = next(data["notes"][n] for n in eigen["notes"] if data["notes"][n]["title"].startswith("مثال"))
    assert arabic["source"] == "Introduction to Linear Algebra" and arabic["locator"] == "§6.1, مثال"
    assert data["vault"] == sample.name


def test_hostile_titles_cannot_escape(make_vault) -> None:
    root = make_vault({
        "notes/img.md": "---\ntype: concept\ntitle: <img src=x onerror=alert(1)>\n---\n",
        "notes/end.md": ("---\ntype: concept\ntitle: \"</script><script>alert(2)</script>\"\n"
                         "prerequisites: [img]\n---\n"),
        "notes/r.md": "---\nconcept: end\ntitle: \"x</SCRIPT ><!-- & 'q' \\u2028\"\n---\n",
    })
    html = html_of(root)
    assert "<img src=x" not in html and "<img" not in html.replace("&lt;img", "")
    assert html.lower().count("</script") == 2  # the two real script elements, nothing else
    assert ">&lt;img src=x</tspan>" in html and ">onerror=alert(1)&gt;</tspan>" in html  # escaped
    data = page_data(html)
    assert {c["title"] for c in data["concepts"]} == {"<img src=x onerror=alert(1)>",
                                                     "</script><script>alert(2)</script>"}
    assert "x</SCRIPT ><!-- & 'q' \u2028" in {n["title"] for n in data["notes"]}


@pytest.mark.parametrize("fmt", GRAPH_FORMATS)
def test_concepts_only_for_every_format(sample: Path, fmt: str) -> None:
    result = run_kb("graph", "--format", fmt, "--concepts-only", vault=sample)
    assert result.exit_code == 0
    out = result.stdout
    assert "PCA from scratch in NumPy" not in out  # a practice note's title
    assert "notes/practice/" not in out
    whole = run_kb("graph", "--format", fmt, vault=sample).stdout
    assert "PCA from scratch in NumPy" in whole
    if fmt == "json":
        assert {n["kind"] for n in json.loads(out)["nodes"]} == {"concept"}
    elif fmt in ("graphml", "dot"):
        assert "concept:eigenvalues" in out and "note:" not in out and "source:" not in out
    elif fmt == "mermaid":
        assert '(["Eigenvalues and eigenvectors"])' in out and "-.->" not in out
    else:
        data = page_data(out)
        assert data["conceptsOnly"] and data["notes"] == []
        assert all("notes" not in c for c in data["concepts"]) and len(data["concepts"]) == 20


def test_mermaid_keeps_quotes_as_entities(make_vault) -> None:
    root = make_vault({
        "notes/q.md": '---\ntype: concept\ntitle: \'The "kernel" trick #1 <b>`x`</b>\'\n---\n',
    })
    out = run_kb("graph", "--format", "mermaid", vault=root).stdout
    assert '(["The #quot;kernel#quot; trick #35;1 #60;b#62;#96;x#96;#60;/b#62;"])' in out


def test_focus_and_depth(sample: Path) -> None:
    near = page_data(html_of(sample, "--focus", "LoRA", "--depth", "1"))
    assert near["focus"] == "lora" and near["depth"] == 1
    assert {c["key"] for c in near["concepts"]} == {"lora", "attention", "fine-tuning",
                                                    "low-rank-factorization"}
    fine_tuning = next(c for c in near["concepts"] if c["key"] == "fine-tuning")
    before = run_kb("show", "fine-tuning", "--json", vault=sample).json()["prerequisites"]
    assert before and fine_tuning["outside"] == {"prerequisites": len(before), "dependents": 0}
    whole = page_data(html_of(sample, "--focus", "eigenvalues"))
    keys = {c["key"] for c in whole["concepts"]}
    path = {s["id"] for s in run_kb("path", "eigenvalues", "--json", vault=sample).json()["steps"]}
    assert path <= keys and {"pca", "svd", "lora"} <= keys and "bayes-theorem" not in keys
    # the other formats take the same selection, with the notes about those concepts
    data = run_kb("graph", "--focus", "lora", "--depth", "1", vault=sample).json()
    ids = {n["id"] for n in data["nodes"]}
    assert {i for i in ids if i.startswith("concept:")} == {f"concept:{k}" for k in
                                                            ("lora", "attention", "fine-tuning",
                                                             "low-rank-factorization")}
    assert "note:lora-low-rank-update-pytorch" in ids and "source:lora-paper" in ids
    assert "note:pca" not in ids


def test_focus_and_depth_usage_errors(sample: Path) -> None:
    unknown = run_kb("graph", "--format", "html", "--focus", "eigenvalus", vault=sample)
    assert unknown.exit_code == 2 and "eigenvalues" in unknown.stderr
    lonely = run_kb("graph", "--depth", "2", vault=sample)
    assert lonely.exit_code == 2 and "--depth needs --focus" in lonely.stderr
    assert run_kb("graph", "--focus", "lora", "--depth", "-1", vault=sample).exit_code == 2


def test_recall_is_optional_and_shows_only_when_given(sample: Path) -> None:
    kg = kb.open_vault(sample).graph
    env = environment(sample / "templates")
    plain = render(env, TEMPLATE, page_context(kg))
    assert 'data-legend="fading"' not in plain and '"recall"' not in plain
    faded = render(env, TEMPLATE, page_context(kg, recall={"eigenvalues": 0.42, "vectors": 0.97}))
    assert 'data-legend="fading"' in faded and "recall under 90 %" in faded
    data = page_data(faded)
    recall = {c["key"]: c.get("recall") for c in data["concepts"]}
    assert recall["eigenvalues"] == 0.42 and recall["vectors"] == 0.97 and recall["pca"] is None
    index = next(i for i, c in enumerate(data["concepts"]) if c["key"] == "eigenvalues")
    assert f'<g class="node read fading" data-i="{index}">' in faded


def test_the_vaults_template_overrides_the_page(sample: Path, tmp_path: Path) -> None:
    vault = copy_sample(tmp_path / "v")
    (vault / "templates" / "graph.html.j2").write_text(
        "<p>{{ nodes|length }} concepts, {{ title }}</p>\n", encoding="utf-8")
    assert html_of(vault) == f"<p>20 concepts, {vault.name}: concept map</p>\n"


def test_exports_do_not_depend_on_the_hash_seed(sample: Path) -> None:
    """Each format, run in fresh interpreters with different string hashing, is byte-identical."""
    for fmt in GRAPH_FORMATS:
        outputs = set()
        for seed in ("1", "2"):
            done = subprocess.run(
                [sys.executable, "-m", "kb", "graph", "--format", fmt, "--vault", str(sample)],
                capture_output=True, text=True, cwd=REPO, check=True,
                env={**os.environ, "PYTHONHASHSEED": seed})
            outputs.add(done.stdout)
        assert len(outputs) == 1, fmt


def test_an_empty_vault_and_a_cycle_still_make_a_page(make_vault, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    data = page_data(html_of(empty))
    assert data["concepts"] == [] and data["notes"] == []
    root = make_vault({
        "notes/a.md": "---\ntype: concept\nprerequisites: [b]\n---\n",
        "notes/b.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
        "notes/c.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
    })
    result = run_kb("graph", "--format", "html", vault=root)
    assert result.exit_code == 0 and "prerequisite cycle" in result.stderr  # said, not hidden
    layer = {c["key"]: c["layer"] for c in page_data(result.stdout)["concepts"]}
    assert layer == {"a": 0, "b": 0, "c": 1}  # a cycle's members share a layer


@pytest.mark.parametrize(("title", "lines"), [
    ("Vectors", ["Vectors"]),
    ("Eigenvalues and eigenvectors", ["Eigenvalues and", "eigenvectors"]),
    ("lagrange-multipliers", ["lagrange-", "multipliers"]),  # a long word breaks after a hyphen
    ("a" * 40, ["a" * 18, "a" * 17 + "…"]),
    ("Singular value decomposition of a real matrix", ["Singular value", "decomposition of…"]),
    ("行列式と固有値の非常に長い日本語のタイトル", ["行列式と固有値の非常", "に長い日本語のタイ…"]),  # wide
    ("مثال محلول على القيم الذاتية", ["مثال محلول على", "القيم الذاتية"]),
])
def test_labels_take_at_most_two_short_lines(title: str, lines: list[str]) -> None:
    assert label_lines(title) == lines


def test_an_output_that_cannot_be_written_is_a_clear_error(sample: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    result = run_kb("graph", "--format", "dot", "--output", str(blocker / "map.dot"), vault=sample)
    assert result.exit_code == 1 and "cannot write" in result.stderr and str(blocker) in result.stderr
    assert run_kb("graph", "--output", str(tmp_path), vault=sample).exit_code == 2  # a folder
