"""The commands, end to end through click's CliRunner, on the sample vault and mini-vaults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kb.cli import main

from .conftest import SAMPLE_VAULT, run_kb


# -- the sample vault tells the user's story ------------------------------------------
def test_sample_vault_checks_clean() -> None:
    result = run_kb("check", "--json", vault=SAMPLE_VAULT)
    assert result.exit_code == 0
    diagnostics = result.json()["diagnostics"]
    assert [d for d in diagnostics if d["severity"] == "error"] == []
    notes = run_kb("list", "--json", vault=SAMPLE_VAULT).json()["notes"]
    assert len(notes) >= 30
    arabic = [n for n in notes if any("\u0600" <= ch <= "\u06ff" for ch in n["title"])]
    assert len(arabic) >= 2


def test_gaps_json_shape_and_eigenvalues_on_top() -> None:
    result = run_kb("gaps", "--json", vault=SAMPLE_VAULT)
    assert result.exit_code == 0
    data = result.json()
    assert set(data) == {"gaps", "missing", "fading", "practice_notes", "unwritten"}
    first = data["gaps"][0]
    assert set(first) == {"id", "title", "level", "unblocks", "readings", "sources"}
    assert first["id"] == "eigenvalues" and first["level"] == "read"
    assert first["readings"] >= 3 and len(first["sources"]) >= 3
    unblocks = [g["unblocks"] for g in data["gaps"]]
    assert unblocks == sorted(unblocks, reverse=True)
    assert all(g["level"] == "read" for g in data["gaps"])
    missing = {m["id"]: m["needed_by"] for m in data["missing"]}
    assert missing["lagrange-multipliers"] == ["pca"]
    for m in data["missing"]:
        assert set(m) == {"id", "needed_by"}


def test_gaps_level_code_adds_exercised_concepts() -> None:
    default = {g["id"] for g in run_kb("gaps", "--json", vault=SAMPLE_VAULT).json()["gaps"]}
    below_code = run_kb("gaps", "--json", "--level", "code", vault=SAMPLE_VAULT).json()["gaps"]
    ids = {g["id"] for g in below_code}
    assert default < ids
    assert "determinant" in ids and "determinant" not in default
    assert {g["level"] for g in below_code} <= {"read", "exercise"}


def test_gaps_human_output_is_a_table() -> None:
    result = run_kb("gaps", vault=SAMPLE_VAULT)
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("CONCEPT"))
    assert header.split() == ["CONCEPT", "LEVEL", "UNBLOCKS", "READINGS", "SOURCES"]
    assert "Eigenvalues and eigenvectors" in lines[lines.index(header) + 1]
    assert "\x1b[" not in result.stdout  # no colour when not a terminal


def test_path_is_a_topological_learning_order() -> None:
    data = run_kb("path", "lora", "--json", vault=SAMPLE_VAULT).json()
    assert data["target"] == "lora"
    steps = [s["id"] for s in data["steps"]]
    assert steps[-1] == "lora"
    for before, after in [("vectors", "matrices"), ("determinant", "eigenvalues"),
                          ("eigenvalues", "svd"), ("svd", "low-rank-factorization"),
                          ("backpropagation", "fine-tuning"), ("attention", "lora")]:
        assert steps.index(before) < steps.index(after)
    assert "pca" not in steps
    assert {s["level"] for s in data["steps"] if s["id"] == "attention"} == {"missing"}


def test_concept_names_resolve_like_links() -> None:
    by_alias = run_kb("path", "LoRA", "--json", vault=SAMPLE_VAULT).json()
    by_id = run_kb("path", "lora", "--json", vault=SAMPLE_VAULT).json()
    assert by_alias == by_id
    shown = run_kb("show", "القيم الذاتية", "--json", vault=SAMPLE_VAULT).json()
    assert shown["id"] == "eigenvalues"


def test_show_lists_notes_sources_and_neighbours() -> None:
    data = run_kb("show", "eigenvectors", "--json", vault=SAMPLE_VAULT).json()
    assert data["level"] == "read" and data["unblocks"] == 4
    assert data["prerequisites"] == ["determinant", "matrix-multiplication"]
    assert set(data["dependents"]) == {"pca", "svd"}
    assert "bishop-prml" in data["sources"]
    assert {n["type"] for n in data["notes"]} == {"concept", "reading"}


def test_unknown_concept_is_a_usage_error_with_suggestions() -> None:
    result = run_kb("show", "eigenvalue", vault=SAMPLE_VAULT)
    assert result.exit_code == 2
    assert "eigenvalues" in result.stderr


def test_list_filters() -> None:
    practice = run_kb("list", "--type", "practice", "--json", vault=SAMPLE_VAULT).json()["notes"]
    assert practice and all(n["type"] == "practice" for n in practice)
    assert set(practice[0]) == {"id", "path", "type", "title", "concepts"}
    arabic = run_kb("list", "--tag", "arabic", "--json", vault=SAMPLE_VAULT).json()["notes"]
    assert len(arabic) == 2
    about_pca = run_kb("list", "--concept", "PCA", "--json", vault=SAMPLE_VAULT).json()["notes"]
    assert {n["id"] for n in about_pca} == {"pca", "pca-prml-ch12", "pca-from-scratch-numpy"}
    assert all("pca" in n["concepts"] for n in about_pca)


@pytest.mark.parametrize("fmt", ["json", "graphml", "dot", "mermaid"])
def test_graph_formats(fmt: str) -> None:
    result = run_kb("graph", "--format", fmt, vault=SAMPLE_VAULT)
    assert result.exit_code == 0
    out = result.stdout
    if fmt == "json":
        data = json.loads(out)
        kinds = {n["kind"] for n in data["nodes"]}
        assert kinds == {"concept", "note", "source"}
        edge_kinds = {e["kind"] for e in data["edges"]}
        assert edge_kinds == {"prerequisite", "about", "from", "link"}
    elif fmt == "graphml":
        assert out.startswith("<?xml") and "concept:eigenvalues" in out
    elif fmt == "dot":
        assert out.startswith("digraph") and '"concept:determinant" -> "concept:eigenvalues"' in out
    else:
        assert out.startswith("flowchart LR") and "-->|prerequisite|" in out


def test_graph_concepts_only() -> None:
    data = json.loads(run_kb("graph", "--concepts-only", vault=SAMPLE_VAULT).stdout)
    assert {n["kind"] for n in data["nodes"]} == {"concept"}
    assert {e["kind"] for e in data["edges"]} == {"prerequisite"}


def test_output_is_identical_on_every_run() -> None:
    first = run_kb("graph", "--format", "dot", vault=SAMPLE_VAULT).stdout
    assert first == run_kb("graph", "--format", "dot", vault=SAMPLE_VAULT).stdout


# -- vault discovery and config -------------------------------------------------------
def test_vault_found_like_git(make_vault, monkeypatch) -> None:
    root = make_vault({"kb.toml": 'notes = "n"\n', "n/deep/a.md": "---\ntype: concept\n---\n"})
    monkeypatch.chdir(root / "n" / "deep")
    monkeypatch.delenv("KB_VAULT", raising=False)
    assert [n["id"] for n in run_kb("list", "--json").json()["notes"]] == ["a"]
    elsewhere = make_vault({"other/kb.toml": "", "other/notes/b.md": "x\n"}) / "other"
    monkeypatch.setenv("KB_VAULT", str(elsewhere))
    assert [n["id"] for n in run_kb("list", "--json").json()["notes"]] == ["b"]
    # --vault beats $KB_VAULT, before or after the command name
    assert [n["id"] for n in run_kb("--vault", str(root), "list", "--json").json()["notes"]] == ["a"]


def test_plain_obsidian_vault_without_config(make_vault) -> None:
    root = make_vault({"a.md": "[[b]]\n", "b.md": "x\n", ".obsidian/x.md": "[[zzz]]\n",
                       "articles/draft.md": "[[qqq]]\n"})
    result = run_kb("check", "--json", vault=root)
    assert result.exit_code == 0 and result.json()["diagnostics"] == []
    ids = [n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]]
    assert ids == ["a", "b"]


def test_symlink_loop_does_not_hang(make_vault) -> None:
    root = make_vault({"notes/a.md": "[[b]]\n", "notes/sub/b.md": "x\n"})
    (root / "notes/sub/loop").symlink_to(root / "notes", target_is_directory=True)
    ids = [n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]]
    assert ids == ["a", "b"]


def test_config_errors_name_every_bad_key_and_line(make_vault) -> None:
    root = make_vault({
        "kb.toml": 'notes = "notes"\nauthr = "K"\narticles = 3\n\n[[series]]\ntitle = "S"\n'
                   'slug = "s"\nparts = "eigenvalues"\ncolour = "red"\n',
        "notes/a.md": "x\n",
    })
    result = run_kb("check", "--json", vault=root)
    assert result.exit_code == 1
    found = {(d["line"], d["message"].split("'")[1]) for d in result.json()["diagnostics"]
             if d["code"] == "config-error"}
    assert found == {(2, "authr"), (3, "articles"), (8, "series.0.parts"), (9, "series.0.colour")}
    assert run_kb("list", "--json", vault=root).json()["notes"][0]["id"] == "a"


def test_invalid_toml_names_the_line(make_vault) -> None:
    root = make_vault({"kb.toml": 'notes = "notes"\nauthor = \n', "notes/a.md": "x\n"})
    diagnostics = run_kb("check", "--json", vault=root).json()["diagnostics"]
    assert [(d["path"], d["line"], d["code"]) for d in diagnostics] == [("kb.toml", 2, "config-error")]


# -- bad input: one mini-vault per case ----------------------------------------------
GOOD = "---\ntype: concept\n---\n# Good\n"
BAD_INPUTS = {
    "bad-yaml": ("---\ntitle: [oops\n---\n", "yaml-error", 2, "error"),
    "not-mapping": ("---\njust a string\n---\n", "frontmatter-not-mapping", 2, "error"),
    "wrong-type": ("---\ntype: practice\npractice: sometimes\n---\n", "invalid-field", 3, "error"),
    "loose-order": ("---\ntype: concept\norder: first\n---\n", "invalid-field", 3, "warning"),
    "impossible-date": ("---\ntype: concept\ntitle: T\ntags: [a]\n\n\ndate: 2026-02-30\n---\n",
                        "invalid-date", 7, "warning"),
    "duplicate-key": ("---\ntitle: A\ntitle: B\n---\n", "duplicate-key", 3, "warning"),
    "control-character": ("---\ntitle: ok\nlocator: a\x01b\n---\n", "yaml-error", 3, "error"),
    "alias-bomb": ("---\na: &a [x, x, x, x, x, x, x, x, x, x]\n"
                   "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                   "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                   "d: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n---\n", "yaml-too-large", 5, "error"),
    "deep-nesting": ("---\nx: " + "[" * 100 + "]" * 100 + "\n---\n", "yaml-too-large", 2, "error"),
    "near-miss": ("---\nprerequisite: [good]\n---\n", "near-miss-field", 2, "warning"),
    "non-utf8": (b"ok\n\xff\xfe broken\n", "encoding", 2, "error"),
    "binary": (b"\x00\x01\x02\x03binary", "binary-file", 0, "error"),
    "empty": ("", "empty-note", 0, "warning"),
    "dangling": ("x\n\n[[nowhere]]\n", "dangling-link", 3, "warning"),
    "unclosed": ("---\ntype: concept\n", "frontmatter-unclosed", 1, "error"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_reported_and_the_rest_still_loads(make_vault, case: str) -> None:
    text, code, line, severity = BAD_INPUTS[case]
    root = make_vault({"notes/good.md": GOOD, f"notes/{case}.md": text})
    result = run_kb("check", "--json", vault=root)
    hits = [d for d in result.json()["diagnostics"] if d["code"] == code]
    assert [(d["path"], d["line"], d["severity"]) for d in hits] == [(f"notes/{case}.md", line, severity)]
    assert result.exit_code == (1 if severity == "error" else 0)
    human = run_kb("check", vault=root)
    assert f"notes/{case}.md" in human.stderr and f"{severity}:" in human.stderr
    ids = {n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]}
    assert "good" in ids


def test_strict_fails_on_warnings(make_vault) -> None:
    root = make_vault({"notes/a.md": "[[nowhere]]\n"})
    assert run_kb("check", vault=root).exit_code == 0
    strict = run_kb("check", "--strict", vault=root)
    assert strict.exit_code == 1
    assert "notes/a.md:1: warning: link 'nowhere' points to no note or file" in strict.stderr


def test_cycle_fails_check_but_path_answers_with_the_cycle_as_one_step(make_vault) -> None:
    root = make_vault({
        "notes/a.md": "---\ntype: concept\nprerequisites: [b, base]\n---\n",
        "notes/b.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
        "notes/base.md": "---\ntype: concept\n---\n",
        "notes/top.md": "---\ntype: concept\nprerequisites: [a]\n---\n",
    })
    check = run_kb("check", vault=root)
    assert check.exit_code == 1 and "cycle" in check.stderr
    assert "notes/a.md:3" in check.stderr and "notes/b.md:3" in check.stderr
    path = run_kb("path", "top", "--json", vault=root)
    assert path.exit_code == 0
    steps = path.json()["steps"]
    assert [s["id"] for s in steps] == ["base", "a", "b", "top"]
    assert [s.get("cycle") for s in steps] == [None, ["a", "b"], ["a", "b"], None]
    assert "prerequisite cycle a → b → a" in path.stderr and "error" not in path.stderr
    table = run_kb("path", "top", vault=root).stdout.splitlines()
    assert [line.split()[0] for line in table[1:]] == ["1.", "2.", "b", "3."]  # a and b: one step


def test_json_mode_prints_only_json_on_stdout(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: [bad\n---\n", "notes/b.md": "[[zzz]]\n"})
    for command in (["check"], ["gaps"], ["list"], ["path", "b"], ["show", "b"]):
        result = run_kb(*command, "--json", vault=root)
        json.loads(result.stdout)
        assert result.exit_code == 1


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run_kb("gaps", "--level", "expert", vault=tmp_path).exit_code == 2
    assert run_kb("graph", "--format", "png", vault=tmp_path).exit_code == 2
    assert run_kb("list", vault=tmp_path / "does-not-exist").exit_code == 2


def test_every_command_has_help_with_an_example() -> None:
    commands = [([name], command) for name, command in main.commands.items()]
    commands += [([name, sub], c) for name, group in main.commands.items()
                 for sub, c in getattr(group, "commands", {}).items()]
    assert len(commands) > len(main.commands)  # subcommands were found
    for names, command in commands:
        assert command.help and "Example" in command.help, names
        result = run_kb(*names, "--help")
        # every command works on a vault, except init, which makes one in DIR
        assert result.exit_code == 0 and ("--vault" in result.stdout or names == ["init"]), names


def test_version() -> None:
    from kb import __version__

    assert __version__ in run_kb("--version").stdout


def test_an_unknown_command_is_a_usage_error_naming_it() -> None:
    result = run_kb("gapz")
    assert result.exit_code == 2
    assert "No such command 'gapz'" in result.stderr and result.stdout == ""


def test_gaps_table_aligns_wide_characters(make_vault) -> None:
    # CJK characters take two terminal columns: the next column must still line up.
    vault = make_vault({
        "notes/a.md": "---\ntype: concept\ntitle: 线性代数\n---\n",
        "notes/b.md": "---\ntype: concept\ntitle: Linear algebra basics\n---\n",
        "notes/c.md": "---\ntype: concept\ntitle: Émile\n---\n",
    })
    lines = run_kb("gaps", vault=vault).stdout.splitlines()
    header = next(line for line in lines if line.startswith("CONCEPT"))
    rows = [line for line in lines[lines.index(header) + 1:] if line.strip()][:3]
    assert len(rows) == 3

    def column_of_level(line: str) -> int:
        before = line[: line.index("read")]
        return sum(2 if "\u4e00" <= ch <= "\u9fff" else 1 for ch in before)

    assert {column_of_level(row) for row in rows} == {header.index("LEVEL")}


@pytest.mark.parametrize("text", [
    'notes = "notes"\n', 'notes = "."\nauthor = "Ann Lee"\n', 'articles = "../out"\n',
    'templates = "/etc"\n', 'template = ""\nnotes = "a\\u0000b"\n', 'author = "x"\nnotes = 3\n',
    'notes = "n"\ncitations = "quarto"\n', 'notez = "n"\n', "",
])
def test_a_kb_toml_of_text_settings_reads_as_pydantic_reads_it(text: str, monkeypatch) -> None:
    """A kb.toml holding only text settings skips pydantic: same settings, same diagnostics."""
    import kb.vault.config as config_module

    fast = config_module.parse_config(text)
    monkeypatch.setattr(config_module, "PLAIN_TEXT_KEYS", frozenset())
    assert config_module.parse_config(text) == fast
