"""Issue 11, items 4-5: kb.toml's [conventions], kb init in an existing vault, and signal on
any vault (gaps without practice notes, check --summary). Every test runs kb on a small vault
written under tmp_path."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kb.notes.parse import parse_note
from kb.vault.config import load_config
from tests.conftest import run_kb, write_vault


def _show(vault: Path, concept: str) -> dict:
    result = run_kb("show", concept, "--json", vault=vault)
    assert result.exit_code == 0, result.stderr
    return result.json()


def _types(vault: Path) -> dict[str, str]:
    return {n["id"]: n["type"] for n in run_kb("list", "--json", vault=vault).json()["notes"]}


# -- inline fields: where they are and are not ---------------------------------------------------
FIELDS_NOTE = """\
# Note

prerequisites:: [[Matrices]], [[Vectors]]
Prose with [topic:: [[Eigen]]] inline and (from:: [[Book]]) in parentheses.

- up:: [[Parent]]
- **Depends On**:: [[Deps]]

> [!note] A callout
> related:: [[Related]]

| key | value |
|-----|-------|
| [up:: [[InTable]]] | plain:: [[NotAField]] |

`code:: [[InCode]]` and $math:: x$ and %% hidden:: [[InComment]] %%

```
fenced:: [[InFence]]
```

    indented:: [[InIndent]]

<!-- html:: [[InHtml]] -->

## up:: [[InHeading]]
"""


def test_inline_fields_in_lists_tables_callouts_with_lines_and_never_in_code() -> None:
    note = parse_note("n.md", "n", FIELDS_NOTE.encode())
    found = {(f.key, f.line, f.targets) for f in note.inline_fields}
    assert found == {
        ("prerequisites", 3, ("Matrices", "Vectors")),
        ("topic", 4, ("Eigen",)),
        ("from", 4, ("Book",)),
        ("up", 6, ("Parent",)),
        ("Depends On", 7, ("Deps",)),
        ("related", 10, ("Related",)),
        ("up", 14, ("InTable",)),  # a bracketed field in a cell; `plain::` in a cell is not one
    }
    keys = {f.key for f in note.inline_fields}
    assert not keys & {"code", "math", "hidden", "fenced", "indented", "html", "plain"}
    # the values' links are still links
    assert {"Matrices", "Parent", "InTable", "NotAField"} <= {link.target for link in note.links}


def test_inline_field_values_without_links_and_bare_words() -> None:
    # as in Dataview, a line-form key is whatever precedes `::` from the line's start
    note = parse_note("n.md", "n", b"status:: done\nword: not a field\nA sentence with:: yes.\n"
                                   b"x [k: v] and text:: mid-line (y:: [z]\n")
    assert [(f.key, f.value) for f in note.inline_fields] == [("status", "done"),
                                                              ("A sentence with", "yes.")]


def test_tags_in_the_body_not_in_code() -> None:
    note = parse_note("n.md", "n", b"A #concept and #ml/deep and C#sharp, #123, `#code`.\n")
    assert note.inline_tags == ["concept", "ml/deep"]


def test_many_unclosed_bracket_fields_stay_fast() -> None:
    import time

    # unclosed, closed and nested fields on one 100-240 KB line: each is linear (a quadratic
    # parse of any of them takes tens of seconds to minutes)
    for text in ("[k:: " * 20000, "[k:: [[x]]] " * 20000, "[k:: " * 5000 + "[[x]]" + "]" * 5000):
        start = time.perf_counter()
        note = parse_note("n.md", "n", (text + "\n").encode())
        assert time.perf_counter() - start < 8, text[:20]
        # nested values are cut, not each a copy of the rest of the line (62 MB here)
        assert sum(len(f.value) for f in note.inline_fields) <= 5000 * 1000


# -- each convention kind -------------------------------------------------------------------------
def test_front_matter_keys_and_inline_fields_map_to_prerequisites(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "kb.toml": '[conventions]\nprerequisites = ["up", "Depends On"]\n',
        "eigen.md": '---\nup: "[[Matrices]]"\n---\nText.\n\ndepends on:: [[Vectors]]\n',
        "Matrices.md": "Matrices.\n",
        "Vectors.md": "Vectors.\n",
    })
    shown = _show(vault, "eigen")
    assert shown["prerequisites"] == ["Matrices", "Vectors"]
    steps = [s["id"] for s in run_kb("path", "eigen", "--json", vault=vault).json()["steps"]]
    assert steps[-1] == "eigen" and set(steps[:2]) == {"Matrices", "Vectors"}
    # without the convention, `up:` is an ordinary property
    (vault / "kb.toml").write_text("")
    assert _show(vault, "eigen")["prerequisites"] == []


def test_kb_own_field_names_work_as_inline_fields_without_configuration(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "pca.md": "PCA.\n\n- prerequisites:: [[eigen]], [[variance]]\n",
        "eigen.md": "Eigen.\n",
    })
    assert _show(vault, "pca")["prerequisites"] == ["eigen", "variance"]
    check = run_kb("check", "--json", vault=vault).json()["diagnostics"]
    assert ("pca.md", 3) in {(d["path"], d["line"]) for d in check if d["code"] == "dangling-link"}


def test_concept_and_source_conventions(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "kb.toml": '[conventions]\nconcept = ["topic"]\nsource = ["from"]\n'
                   '[conventions.types.source]\nfolders = ["Books"]\n',
        "reading.md": '---\ntopic: "[[Eigen]]"\n---\nRead it.\n\n[from:: [[Strang]]]\n',
        "Books/Strang.md": "A book.\n",
        "Eigen.md": "Eigen.\n",
    })
    shown = _show(vault, "Eigen")
    assert sorted(n["id"] for n in shown["notes"]) == ["Eigen", "reading"]
    assert shown["sources"] == ["Strang"]
    assert next(n for n in shown["notes"] if n["id"] == "reading")["source"] == "Strang"


def test_prerequisite_heading_takes_the_links_of_its_section_only(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "kb.toml": '[conventions]\nprerequisite_headings = ["Prerequisites"]\n',
        "lora.md": "# LoRA\n\n[[intro]] before.\n\n## Prerequisites:\n- [[svd]]\n- [[rank]]\n\n"
                   "### Details\n[[deep]]\n\n## See also\n[[related]]\n",
    })
    assert _show(vault, "lora")["prerequisites"] == ["deep", "rank", "svd"]


def test_type_from_tags_folders_and_prefixes_and_front_matter_wins(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "kb.toml": '[conventions.types.concept]\ntags = ["concept"]\n'
                   '[conventions.types.practice]\nfolders = ["Exercises"]\n'
                   '[conventions.types.source]\nprefixes = ["@"]\n',
        "tagged.md": "Body with #concept/math in it.\n",
        "fm-tagged.md": "---\ntags: [Concept]\n---\nx\n",
        "Exercises/Week 1/ex1.md": "Solved.\n",
        "@strang.md": "A book.\n",
        "explicit.md": "---\ntype: reading\ntags: [concept]\n---\nx\n",
        "plain.md": "x\n",
    })
    assert _types(vault) == {"tagged": "concept", "fm-tagged": "concept", "ex1": "practice",
                             "@strang": "source", "explicit": "reading", "plain": "reading"}
    gaps = run_kb("gaps", "--json", vault=vault).json()
    assert gaps["practice_notes"] == 1


def test_title_from_the_file_name(tmp_path: Path) -> None:
    files = {"Linear Maps.md": "# A section heading\n", "titled.md": "---\ntitle: Mine\n---\n# H\n"}
    vault = write_vault(tmp_path, files)
    titles = {n["id"]: n["title"] for n in run_kb("list", "--json", vault=vault).json()["notes"]}
    assert titles == {"Linear Maps": "A section heading", "titled": "Mine"}
    (vault / "kb.toml").write_text('[conventions]\ntitle = "file-name"\n')
    titles = {n["id"]: n["title"] for n in run_kb("list", "--json", vault=vault).json()["notes"]}
    assert titles == {"Linear Maps": "Linear Maps", "titled": "Mine"}


def test_changing_conventions_needs_no_reparse(tmp_path: Path) -> None:
    import kb

    vault = write_vault(tmp_path, {"a.md": '---\nup: "[[b]]"\n---\n', "b.md": "b\n"})
    assert kb.open_vault(vault).graph.concepts["a"] is not None
    (vault / "kb.toml").write_text('[conventions]\nprerequisites = ["up"]\n'
                                   '[conventions.types.concept]\nprefixes = ["b"]\n')
    session = kb.open_vault(vault)
    graph = session.graph
    assert session.vault.parsed == 0
    assert ("b", "a") in graph.prerequisite_sites and graph.prerequisite_sites["b", "a"] == [("a.md", 2)]
    # the validated kb.toml is remembered in the cache, [conventions] and its type rules too
    again = kb.open_vault(vault)
    assert again.vault.config == session.vault.config
    assert again.graph.notes["b"].type == "concept"
    assert again.graph.prerequisite_sites == graph.prerequisite_sites


def test_bad_conventions_are_config_errors_with_their_line(tmp_path: Path) -> None:
    write_vault(tmp_path, {"kb.toml": '[conventions]\nprerequisite = ["up"]\n'
                                      '[conventions.types.concepts]\ntags = ["x"]\n'})
    _config, problems, _memo = load_config(tmp_path)
    messages = [(d.line, d.message) for d in problems]
    assert (2, "'conventions.prerequisite': unknown key; did you mean 'prerequisites'?") in messages
    assert any(line == 3 and "conventions.types.concepts" in m for line, m in messages)
    assert run_kb("check", vault=tmp_path).exit_code == 1


# -- kb init in an existing vault -----------------------------------------------------------------
def test_init_in_an_obsidian_vault_keeps_notes_at_the_root_and_suggests_conventions(
        tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        ".obsidian/app.json": "{}",
        "Home.md": "# Home\n",
        "ML/attention.md": '---\nup: "[[Home]]"\nprereqs: ["[[softmax]]"]\ntags: [concept]\n---\n',
        "ML/softmax.md": '---\nup: "[[Home]]"\nprereqs: ["[[exp]]"]\ntags: [concept]\n---\n'
                         "## Prerequisites\n- [[exp]]\n",
        "ML/exp.md": "related:: [[softmax]]\n\n## Prerequisites\n[[Home]]\n",
        "Books/Bishop.md": "related:: [[attention]]\n",
        "Books/Murphy.md": "A book.\n",
    })
    before = {p: p.read_bytes() for p in vault.rglob("*") if p.is_file()}
    result = run_kb("init", str(vault))
    assert result.exit_code == 0, result.stderr
    assert "found        an Obsidian vault (.obsidian/)" in result.stdout
    assert 'notes = "."' in result.stdout and "created      notes/" not in result.stdout
    assert not (vault / "notes").exists()
    chosen = next(line for line in result.stdout.splitlines() if "conventions (" in line)
    assert "prerequisites from 'prereqs'" in chosen and "type concept from tag #concept" in chosen
    assert "type source from folder Books/" in chosen
    assert "not chosen: related (2 notes), up (2 notes)" in result.stdout
    for path, data in before.items():
        assert path.read_bytes() == data  # nothing overwritten
    config = tomllib.loads((vault / "kb.toml").read_text())
    assert config["notes"] == "."
    assert config["conventions"]["prerequisites"] == ["prereqs"]
    assert config["conventions"]["prerequisite_headings"] == ["Prerequisites"]
    assert config["conventions"]["types"] == {"concept": {"tags": ["concept"]},
                                              "source": {"folders": ["Books"]}}
    assert "#   related (2), up (2)" in (vault / "kb.toml").read_text()
    _config, problems, _memo = load_config(vault)
    assert problems == []
    # kb now reads every note where it was, with the chosen conventions
    assert _types(vault) == {"Home": "reading", "attention": "concept", "softmax": "concept",
                             "exp": "reading", "Bishop": "source", "Murphy": "source"}
    assert _show(vault, "attention")["prerequisites"] == ["softmax"]
    assert _show(vault, "exp")["prerequisites"] == ["Home"]
    again = run_kb("init", str(vault))
    assert "left alone   kb.toml (exists)" in again.stdout and "nothing to do" in again.stdout


def test_init_in_a_vault_with_a_notes_folder_keeps_the_default(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {"notes/a.md": "a\n"})
    result = run_kb("init", str(vault))
    assert "1 Markdown notes in notes/" in result.stdout
    assert tomllib.loads((vault / "kb.toml").read_text())["notes"] == "notes"


@pytest.mark.parametrize("files", [{}, {".obsidian/app.json": "{}"}])
def test_init_in_an_empty_folder_makes_notes(tmp_path: Path, files: dict[str, str]) -> None:
    vault = write_vault(tmp_path, files)
    result = run_kb("init", str(vault))
    assert "created      notes/" in result.stdout
    assert ("Obsidian" in result.stdout) == bool(files)


# -- signal on a plain vault ----------------------------------------------------------------------
def test_gaps_on_a_plain_vault_lists_notes_linked_but_never_written(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {
        "a.md": "See [[Ghost]] and [[Ghost|again]], [[Other]].\n",
        "sub/b.md": "---\nup: \"[[ghost]]\"\n---\n![[Ghost]]\n",
        "c.md": "[[Other]] [[a]] [[picture.png]]\n",
        "picture.png": b"\x89PNG",
    })
    result = run_kb("gaps", "--json", vault=vault)
    data = result.json()
    assert {"gaps", "missing", "fading"} <= set(data)
    assert data["practice_notes"] == 0
    unwritten = [(u["id"], u["links"], u["notes"]) for u in data["unwritten"]]
    assert unwritten == [("Ghost", 4, 2), ("Other", 2, 2)]
    assert data["unwritten"][0]["linked_from"] == [{"path": "a.md", "line": 1},
                                                    {"path": "sub/b.md", "line": 2},
                                                    {"path": "sub/b.md", "line": 4}]
    text = run_kb("gaps", vault=vault).stdout
    assert "No practice notes in this vault" in text
    assert "Linked but never written (2), most linked first:" in text
    assert "Ghost  4      a.md:1, sub/b.md:2, sub/b.md:4" in text


def test_gaps_without_practice_notes_shows_the_first_twenty(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {f"n{i:02}.md": f"[[missing{i:02}]]\n" for i in range(25)})
    text = run_kb("gaps", vault=vault).stdout
    assert "… and 5 more (kb gaps --all lists every one)" in text
    assert text.count("\nn") == 20 and text.count("\nmissing") == 20
    full = run_kb("gaps", "--all", vault=vault).stdout
    assert "more (kb gaps" not in full and full.count("\nmissing") == 25


def test_check_summary_groups_by_code(tmp_path: Path) -> None:
    files = {f"n{i:03}.md": f"[[gone{i}]]\n" for i in range(250)}
    files["bad.md"] = "---\ntype: [oops\n---\n"
    vault = write_vault(tmp_path, files)
    summary = run_kb("check", "--summary", vault=vault)
    lines = summary.stderr.splitlines()
    assert lines[0].startswith("error [") and "warning [dangling-link]: 250" in lines
    at = lines.index("warning [dangling-link]: 250")
    assert lines[at + 1] == "  n000.md:1: warning: link 'gone0' points to no note or file [dangling-link]"
    assert lines[at + 4] == "  … and 247 more"
    assert summary.exit_code == 1
    # above 200 diagnostics, plain `kb check` groups too, and says how to see all
    plain = run_kb("check", vault=vault)
    assert "warning [dangling-link]: 250" in plain.stderr and "kb check --all" in plain.stderr
    every = run_kb("check", "--all", vault=vault)
    assert every.stderr.count("[dangling-link]") == 250
    data = run_kb("check", "--json", "--summary", vault=vault).json()
    assert len(data["diagnostics"]) >= 251
    group = next(g for g in data["summary"] if g["code"] == "dangling-link")
    assert group["count"] == 250 and len(group["examples"]) == 3
    assert run_kb("check", "--summary", "--all", vault=vault).exit_code == 2


def test_check_below_the_threshold_lists_every_diagnostic(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {"a.md": "[[x]] [[y]]\n"})
    result = run_kb("check", vault=vault)
    assert result.stderr.count("[dangling-link]") == 2 and "grouped" not in result.stderr


def test_init_beside_obsidians_own_templates_folder_uses_kb_templates(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {"Templates/Daily.md": "{{date}}\n", "a.md": "a\n"})
    result = run_kb("init", str(vault))
    assert "kb's templates go to kb-templates/" in result.stdout
    assert sorted(p.name for p in vault.iterdir()) == [".gitignore", "Templates", "a.md", "articles",
                                                        "kb-templates", "kb.toml"]
    assert [p.name for p in (vault / "Templates").iterdir()] == ["Daily.md"]
    assert (vault / "kb-templates" / "article.md.j2").is_file()
    config, problems, _memo = load_config(vault)
    assert problems == [] and config.templates == "kb-templates" and config.notes == "."


def test_init_with_a_kb_toml_of_its_own_writes_no_suggestion_and_hides_no_note(tmp_path: Path) -> None:
    vault = write_vault(tmp_path, {"kb.toml": 'author = "Me"\n', "Templates/t.md": "x\n",
                                   "a.md": '---\nprereqs: ["[[b]]"]\n---\n',
                                   "b.md": '---\nprereqs: ["[[a]]"]\n---\n'})
    result = run_kb("init", str(vault))
    assert "kb.toml exists: none of this is written into it" in result.stdout
    assert (vault / "kb.toml").read_text() == 'author = "Me"\n'
    assert not (vault / "notes").exists() and not (vault / "kb-templates").exists()
    assert {n["id"] for n in run_kb("list", "--json", vault=vault).json()["notes"]} >= {"a", "b"}
