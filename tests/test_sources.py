"""Sources: BibTeX import (idempotent, malformed entries reported), status and stalled
sources, and Quarto citations in articles."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import bibtexparser
import pytest
import yaml

import kb
from kb.articles.bibtex import format_bibliography, parse_bibtex
from kb.articles.sources import source_statuses

from .conftest import SAMPLE_VAULT, copy_sample, run_kb, write_vault

LIBRARY = Path(__file__).parent / "fixtures" / "library.bib"
GOOD_KEYS = {"hu2022lora", "bishop2006pattern", "khattab2020colbert", "strang2016", "goedel1931",
             "serrano2023"}


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


@pytest.fixture
def vault(tmp_path: Path) -> Path:
    run_kb("init", str(tmp_path / "v"))
    return tmp_path / "v"


# -- parsing -----------------------------------------------------------------------------------
def test_entries_are_mapped_to_source_fields() -> None:
    entries, problems = parse_bibtex(LIBRARY.read_text(encoding="utf-8"), "library.bib")
    by_key = {e.key: e for e in entries}
    assert set(by_key) == GOOD_KEYS
    lora = by_key["hu2022lora"]
    assert lora.title == "LoRA: Low-Rank Adaptation of Large Language Models"
    assert lora.authors[:2] == ["Edward J. Hu", "Yelong Shen"] and len(lora.authors) == 8
    assert (lora.year, lora.kind, lora.entry_type) == (2022, "paper", "inproceedings")
    assert lora.venue == "International Conference on Learning Representations"  # from @string
    assert lora.abstract.startswith("We propose Low-Rank Adaptation")
    assert by_key["khattab2020colbert"].url == "https://arxiv.org/abs/2004.12832"  # from eprint
    assert by_key["khattab2020colbert"].kind == "paper"
    godel = by_key["goedel1931"]
    assert godel.title.startswith("Über formal unentscheidbare Sätze der Principia")
    assert godel.authors == ["Kurt Gödel"] and godel.doi == "10.1007/BF01700692"
    assert (by_key["strang2016"].year, by_key["strang2016"].kind) == (2016, "book")  # biblatex date
    serrano = by_key["serrano2023"]
    assert serrano.title.endswith("& More: 50% Proofs") and serrano.kind == "article"
    assert serrano.url.endswith("?utm=a%20b_c")  # URLs are not LaTeX: % stays
    lines = {(d.code, d.line) for d in problems}
    assert lines == {("bibtex-malformed", 25), ("bibtex-duplicate", 64)}
    assert all(d.severity == "error" and d.path == "library.bib" for d in problems)


# -- import --------------------------------------------------------------------------------------
def test_import_creates_one_note_per_entry_and_reports_bad_ones(vault: Path) -> None:
    result = run_kb("sources", "import", str(LIBRARY), vault=vault)
    assert result.exit_code == 1  # malformed entries are errors; the rest still imported
    assert f"{LIBRARY}:25: error: malformed entry '@article{{broken2020'" in result.stderr
    assert f"{LIBRARY}:64: error: duplicate citation key 'bishop2006pattern'" in result.stderr
    assert "6 entries: 6 created" in result.stdout
    notes = {p.stem for p in (vault / "notes").glob("*.md")}
    assert notes == GOOD_KEYS
    front = front_matter(vault / "notes" / "bishop2006pattern.md")
    assert front["type"] == "source" and front["citekey"] == "bishop2006pattern"
    assert front["authors"] == ["Christopher M. Bishop"] and front["year"] == 2006
    assert front["venue"] == "Springer" and front["status"] == "to-read"
    assert front["bibtex"] == {"type": "book", "series": "Information Science and Statistics",
                               "isbn": "978-0-387-31073-2"}
    check = run_kb("check", "--json", vault=vault)
    assert check.exit_code == 0 and check.json()["diagnostics"] == []


def test_import_is_idempotent_and_reports_what_differs(vault: Path) -> None:
    run_kb("sources", "import", str(LIBRARY), "--status", "reading", vault=vault)
    before = {p.name: p.read_bytes() for p in (vault / "notes").glob("*.md")}
    again = run_kb("sources", "import", str(LIBRARY), vault=vault)
    assert "0 created, 6 already in the vault" in again.stdout
    assert {p.name: p.read_bytes() for p in (vault / "notes").glob("*.md")} == before

    edited = vault / "notes" / "strang2016.md"
    edited.write_text(edited.read_text().replace("year: 2016", "year: 2009"))
    snapshot = edited.read_bytes()
    third = run_kb("sources", "import", str(LIBRARY), vault=vault)
    assert "differs      strang2016 (notes/strang2016.md)" in third.stdout
    assert "year: the note has 2009, the .bib has 2016" in third.stdout
    assert edited.read_bytes() == snapshot  # the user's note wins, untouched


def test_import_matches_a_source_note_by_citekey_or_id(vault: Path) -> None:
    write_vault(vault, {
        "notes/prml.md": "---\ntype: source\ntitle: Pattern Recognition and Machine Learning\n"
                         "citekey: bishop2006pattern\n---\n",
        "notes/strang2016.md": "---\ntype: source\ntitle: Introduction to Linear Algebra\n---\n",
    })
    result = run_kb("sources", "import", str(LIBRARY), vault=vault)
    assert "differs      bishop2006pattern (notes/prml.md)" in result.stdout
    assert "authors: the note has nothing, the .bib has Christopher M. Bishop" in result.stdout
    assert "strang2016 (notes/strang2016.md)" in result.stdout
    assert not (vault / "notes" / "bishop2006pattern.md").exists()
    assert "4 created" in result.stdout


def test_dry_run_writes_nothing(vault: Path) -> None:
    result = run_kb("sources", "import", str(LIBRARY), "--dry-run", vault=vault)
    assert "would create notes/hu2022lora.md" in result.stdout
    assert list((vault / "notes").iterdir()) == []


def test_bibtex_round_trip(vault: Path) -> None:
    """.bib → source notes → references.bib → the same entries, field for field."""
    run_kb("sources", "import", str(LIBRARY), vault=vault)
    graph = kb.open_vault(vault, use_cache=False).graph
    written = format_bibliography([n for n in graph.notes.values() if n.type == "source"])
    original, _ = parse_bibtex(LIBRARY.read_text(encoding="utf-8"), "a.bib")
    again, problems = parse_bibtex(written, "b.bib")
    assert problems == []
    fields = ("key", "entry_type", "title", "authors", "year", "kind", "url", "doi", "venue", "other")
    assert [tuple(getattr(e, f) for f in fields) for e in sorted(again, key=lambda e: e.key)] == \
           [tuple(getattr(e, f) for f in fields) for e in sorted(original, key=lambda e: e.key)]
    # and bibtexparser itself reads every entry back
    assert {e.key for e in bibtexparser.parse_string(written).entries} == GOOD_KEYS


# -- status and stalled sources -------------------------------------------------------------------
def stalled_vault(root: Path) -> Path:
    return write_vault(root, {
        "notes/slow.md": "---\ntype: source\ntitle: Slow Book\nstatus: reading\n---\n",
        "notes/fast.md": "---\ntype: source\ntitle: Fast Paper\nstatus: reading\n---\n",
        "notes/new.md": "---\ntype: source\ntitle: New Course\nstatus: reading\ndate: 2026-03-10\n---\n",
        "notes/done.md": "---\ntype: source\ntitle: Done Book\nstatus: finished\n---\n",
        "notes/s1.md": "---\nconcept: a\nsource: slow\ndate: 2026-01-05\n---\n",
        "notes/s2.md": "---\nconcept: b\nsource: slow\ndate: 2026-02-01\n---\n",
        "notes/f1.md": "---\nconcept: a\nsource: \"[[fast]]\"\ndate: 2026-03-01\n---\n",
        "notes/d1.md": "---\nconcept: c\nsource: done\ndate: 2025-01-01\n---\n",
    })


def test_stalled_sources_with_a_fixed_clock(tmp_path: Path) -> None:
    graph = kb.open_vault(stalled_vault(tmp_path), use_cache=False).graph
    today = dt.date(2026, 3, 15)
    found = {s.key: s for s in source_statuses(graph, today=today, stalled_days=30)}
    assert found["slow"].stalled and found["slow"].last_note == dt.date(2026, 2, 1)
    assert len(found["slow"].notes) == 2 and found["slow"].concepts == ["a", "b"]
    assert not found["fast"].stalled  # a note 14 days ago
    assert not found["new"].stalled  # no notes yet, but added 5 days ago
    assert not found["done"].stalled  # finished sources never stall
    # exactly 30 days is not yet stalled; 31 is
    on_day_30 = {s.key for s in source_statuses(graph, today=dt.date(2026, 3, 31)) if s.stalled}
    on_day_31 = {s.key for s in source_statuses(graph, today=dt.date(2026, 4, 1)) if s.stalled}
    assert (on_day_30, on_day_31) == ({"slow"}, {"slow", "fast"})
    strict = {s.key for s in source_statuses(graph, today=today, stalled_days=4) if s.stalled}
    assert strict == {"slow", "fast", "new"}
    # stalled first, then by status and title
    assert [s.key for s in source_statuses(graph, today=today)] == ["slow", "fast", "new", "done"]


def test_sources_command_json_and_status_filter(tmp_path: Path) -> None:
    root = stalled_vault(tmp_path)
    (root / "kb.toml").write_text("stalled_days = 100000\n")
    result = run_kb("sources", "--json", vault=root)
    assert result.exit_code == 0
    rows = {r["id"]: r for r in result.json()["sources"]}
    assert rows["slow"] == {"id": "slow", "title": "Slow Book", "path": "notes/slow.md", "kind": None,
                            "status": "reading", "citekey": "slow", "authors": [], "year": None,
                            "notes": 2, "concepts": ["a", "b"], "last_note": "2026-02-01",
                            "stalled": False}
    finished = run_kb("sources", "--status", "finished", "--json", vault=root).json()["sources"]
    assert [r["id"] for r in finished] == ["done"]
    (root / "kb.toml").write_text("stalled_days = 1\n")
    text = run_kb("sources", vault=root).stdout
    assert "reading, stalled" in text and "3 sources marked reading" in text


def test_stalled_days_must_be_positive(tmp_path: Path) -> None:
    root = stalled_vault(tmp_path)
    (root / "kb.toml").write_text("\n\nstalled_days = 0\n")
    result = run_kb("check", vault=root)
    assert result.exit_code == 1 and "kb.toml:3: error: 'stalled_days'" in result.stderr


# -- citations -----------------------------------------------------------------------------------
def test_quarto_citations_in_the_sample_articles() -> None:
    out = run_kb("article", "eigenvalues", "--stdout", vault=SAMPLE_VAULT).stdout
    front = yaml.safe_load(out.split("---\n")[1])
    assert front["bibliography"] == "references.bib"
    assert "@bishop-prml" in front["nocite"] and "@strang-linear-algebra" in front["nocite"]
    assert "*From Introduction to Linear Algebra [@strang-linear-algebra, §6.1].*" in out
    assert out.rstrip().endswith("## References\n\n::: {#refs}\n:::")


def test_quarto_article_writes_references_bib_beside_it(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "v")
    (root / "notes" / "readings" / "cite.md").write_text(
        "---\nconcept: pca\n---\nSee [[bishop-prml|Bishop]] and [[lora-paper]].\n")
    result = run_kb("article", "pca", vault=root)
    assert result.exit_code == 0
    bib = root / "articles" / "references.bib"
    assert "articles/references.bib: written" in result.stdout
    keys = {e.key for e in bibtexparser.parse_string(bib.read_text()).entries}
    assert keys == {"bishop-prml", "deep-learning-from-scratch", "fastai-course", "lora-paper",
                    "serrano-math-for-ml", "strang-linear-algebra"}
    article = (root / "articles" / "pca.md").read_text()
    assert "See Bishop [@bishop-prml] and [@lora-paper]." in article
    # a hand edit of references.bib is protected like an article's
    bib.write_text(bib.read_text() + "% mine\n")
    refused = run_kb("article", "pca", vault=root)
    assert refused.exit_code == 1 and "references.bib was edited" in refused.stderr
    assert bib.read_text().endswith("% mine\n")


def test_citekeys_that_need_braces(tmp_path: Path) -> None:
    root = write_vault(tmp_path, {
        "kb.toml": 'citations = "quarto"\n',
        "notes/Bishop PRML.md": "---\ntype: source\ntitle: PRML\n---\n",
        "notes/odd.md": "---\ntype: source\ntitle: Odd\ncitekey: \"smith2020)\"\n---\n",
        "notes/x.md": "---\ntype: concept\n---\n",
        "notes/r1.md": "---\nconcept: x\nsource: Bishop PRML\nlocator: p. 3\n---\nbody\n",
        "notes/r2.md": "---\nconcept: x\nsource: odd\n---\nbody\n",
    })
    out = run_kb("article", "x", "--stdout", vault=root).stdout
    assert "[@Bishop-PRML, p. 3]" in out and "[@{smith2020)}]" in out
