"""The trust boundary (SPEC §10, docs/trust.md): a vault someone else wrote can make kb do
nothing outside that vault, cannot run code, hang it or crash it, and every bad file is one
diagnostic while the rest of the vault still works. One test per case, named after it; each
checks the exit status, the diagnostic and its line, and that nothing outside the vault
changed."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import REPO, copy_sample, run_kb, write_vault

CONCEPT = "---\ntype: concept\ntitle: {title}\n---\n# {title}\n\nSee [[other]].\n"


def snapshot(folder: Path, skip: Path | None = None) -> dict[str, str]:
    """Every file, folder and symlink under `folder` (but `skip`), with a hash of its bytes."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        if skip is not None and (here == skip or skip in here.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = here / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[rel] = "dir"
    return found


@pytest.fixture
def hostile(tmp_path: Path):
    """A vault at tmp_path/vault beside tmp_path/outside (the user's other files); yields a
    function that writes the vault and the check that nothing outside it changed."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("---\ntitle: SECRET\n---\nSECRET TEXT\n")
    (outside / "templates").mkdir()
    vault = tmp_path / "vault"

    class Hostile:
        root = vault
        elsewhere = outside

        def write(self, files: dict[str, str | bytes]) -> Path:
            write_vault(vault, {"kb.toml": "", "notes/other.md": CONCEPT.format(title="Other"),
                                **files})
            self.before = snapshot(tmp_path, skip=vault)
            return vault

        def nothing_outside_changed(self) -> None:
            assert snapshot(tmp_path, skip=vault) == self.before

    return Hostile()


def kb_process(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """kb in a child process (for what could hang or must see a fresh interpreter)."""
    return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def codes(result, code: str) -> list[tuple[str, int, str]]:
    return [(d["path"], d["line"], d["severity"]) for d in result.json()["diagnostics"]
            if d["code"] == code]


# -- escape and code execution ------------------------------------------------------------------
@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read() }}",
])
def test_vault_template_cannot_run_code(hostile, payload: str) -> None:
    root = hostile.write({"templates/article.md.j2": payload + "\n",
                          "templates/note-concept.md.j2": payload + "\n"})
    for args in (["article", "other"], ["new", "concept", "Fresh"]):
        result = run_kb(*args, vault=root)
        assert result.exit_code == 1, result.stdout
        assert "sandbox" in result.stderr or "undefined" in result.stderr
    assert not (REPO / "PWNED").exists() and not Path("PWNED").exists()
    assert not (root / "articles" / "other.md").exists()
    assert sorted(p.name for p in (root / "notes").iterdir()) == ["other.md"]
    hostile.nothing_outside_changed()


@pytest.mark.parametrize("payload", [
    # a path handed to the template (an image the article copies) must not read or write files
    "{% for k, p in article.assets.items() %}{{ p.joinpath('/etc/hostname').read_text() }}"
    "{{ p.parent.joinpath('PWNED').write_text('x') }}{% endfor %}",
    # nor may the template change what kb copies into articles/ after it
    "{{ article.assets.update({'assets/stolen.txt': '{outside}/secret.md'}) or '' }}",
    "{{ 'x' * 4000000000 }}",
])
def test_template_cannot_reach_files_through_the_values_it_is_given(hostile, payload: str) -> None:
    root = hostile.write({"templates/article.md.j2": payload.replace("{outside}", str(hostile.elsewhere)),
                          "notes/img.png": "not really a png", "notes/a.md": "# A\n\n![[img.png]]\n"})
    result = run_kb("article", "a", vault=root)
    assert result.exit_code == 1
    assert "sandbox" in result.stderr
    assert not (root / "articles" / "assets" / "stolen.txt").exists()
    assert not list(root.rglob("PWNED")) and "SECRET" not in result.stdout
    hostile.nothing_outside_changed()


def test_a_template_that_never_ends_is_stopped(hostile, monkeypatch) -> None:
    import kb.render

    monkeypatch.setattr(kb.render, "TEMPLATE_SECONDS", 1)
    root = hostile.write({"templates/article.md.j2":
                          "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"})
    started = time.monotonic()
    result = run_kb("article", "other", "--stdout", vault=root)
    assert result.exit_code == 1 and "still rendering after 1 s" in result.stderr
    assert time.monotonic() - started < 30


def test_sandboxed_templates_still_do_everything_documented(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    for name in ("article.md.j2", "article.qmd.j2"):
        result = run_kb("article", "pca", "--template", name, "--stdout", vault=root)
        assert result.exit_code == 0, result.stderr
        assert "## Principal component analysis" in result.stdout or "PCA" in result.stdout


@pytest.mark.parametrize(("key", "value"), [
    ("articles", "../outside"), ("articles", "{outside}"), ("templates", "{outside}/templates"),
    ("notes", "../outside"), ("articles", "~/x"),
])
def test_kb_toml_folders_cannot_leave_the_vault(hostile, key: str, value: str) -> None:
    value = value.format(outside=hostile.elsewhere)
    root = hostile.write({"kb.toml": f"author = 'x'\n{key} = {json.dumps(value)}\n"})
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "config-error") == [("kb.toml", 2, "error")]
    assert "inside the vault" in check.json()["diagnostics"][0]["message"]
    run_kb("article", "other", vault=root)  # writes, if anywhere, into the default articles/
    listed = run_kb("list", "--json", vault=root).json()["notes"]
    assert "SECRET" not in json.dumps(listed)
    hostile.nothing_outside_changed()


def test_note_symlinked_outside_the_vault_is_not_read(hostile) -> None:
    root = hostile.write({})
    (root / "notes" / "leak.md").symlink_to(hostile.elsewhere / "secret.md")
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "outside-vault") == [("notes/leak.md", 0, "warning")]
    assert check.exit_code == 0
    result = run_kb("article", "other", "--stdout", vault=root)
    assert "SECRET" not in result.stdout
    hostile.nothing_outside_changed()


def test_symlink_inside_the_vault_is_followed(make_vault) -> None:
    root = make_vault({"notes/real/a.md": CONCEPT.format(title="A")})
    (root / "notes" / "alias.md").symlink_to(root / "notes" / "real" / "a.md")
    listed = run_kb("list", "--json", vault=root).json()["notes"]
    assert sorted(n["path"] for n in listed) == ["notes/alias.md", "notes/real/a.md"]


def test_symlinked_articles_folder_leading_outside_is_refused(hostile) -> None:
    root = hostile.write({})
    (root / "articles").symlink_to(hostile.elsewhere, target_is_directory=True)
    result = run_kb("article", "other", vault=root)
    assert result.exit_code == 1
    assert "outside the vault" in result.stderr
    hostile.nothing_outside_changed()


def test_symlinked_kb_state_folder_leading_outside_is_never_written(hostile) -> None:
    root = hostile.write({})
    (root / ".kb").symlink_to(hostile.elsewhere, target_is_directory=True)
    result = run_kb("check", vault=root)
    assert result.exit_code == 0
    assert "the cache is not used" in result.stderr
    run_kb("article", "other", vault=root)
    hostile.nothing_outside_changed()


@pytest.mark.parametrize("shape", ["fifo-journal", "link-to-a-note", "folder"])
def test_odd_files_in_the_kb_state_folder_neither_hang_nor_get_written(make_vault, shape: str) -> None:
    root = make_vault({"notes/a.md": "a\n", "README.md": "mine\n"})
    (root / ".kb").mkdir()
    if shape == "fifo-journal":
        os.mkfifo(root / ".kb" / "cache.sqlite-journal")
    elif shape == "link-to-a-note":
        (root / ".kb" / "cache.sqlite").symlink_to(root / "README.md")
    else:
        (root / ".kb" / "cache.sqlite").mkdir()
    result = kb_process("list", "--json", "--vault", str(root), timeout=60)
    assert result.returncode == 0 and "the cache is not used" in result.stderr
    assert (root / "README.md").read_text() == "mine\n"


def test_a_fifo_where_an_article_goes_is_refused_not_waited_on(make_vault) -> None:
    root = make_vault({"kb.toml": "", "notes/b.md": "# B\n"})
    (root / "articles").mkdir()
    os.mkfifo(root / "articles" / "b.md")
    result = kb_process("article", "b", "--vault", str(root), timeout=60)
    assert result.returncode == 1 and "FIFO" in result.stderr and "will not replace it" in result.stderr


def test_init_never_writes_through_a_symlinked_folder(hostile, tmp_path: Path) -> None:
    target = tmp_path / "init"
    target.mkdir()
    (hostile.elsewhere / "t").mkdir()
    (target / "templates").symlink_to(hostile.elsewhere / "t", target_is_directory=True)
    os.mkfifo(target / ".gitignore")
    before = snapshot(hostile.elsewhere)
    result = kb_process("init", str(target), timeout=60)
    assert result.returncode == 0, result.stderr
    assert "outside the vault" in result.stdout
    assert snapshot(hostile.elsewhere) == before


def test_new_note_through_a_dangling_folder_symlink_is_refused(hostile) -> None:
    root = hostile.write({"kb.toml": "[folders]\nconcept = 'concepts'\n"})
    (root / "notes" / "concepts").symlink_to(hostile.elsewhere / "not-yet", target_is_directory=True)
    result = run_kb("new", "concept", "Escape", vault=root)
    assert result.exit_code == 1 and "outside" in result.stderr
    assert not (hostile.elsewhere / "not-yet").exists()
    hostile.nothing_outside_changed()


# -- hangs and exhaustion -------------------------------------------------------------------------
def test_fifo_named_like_a_note_does_not_block(hostile) -> None:
    root = hostile.write({})
    os.mkfifo(root / "notes" / "x.md")
    result = kb_process("check", "--json", "--vault", str(root), timeout=60)
    diagnostics = json.loads(result.stdout)["diagnostics"]
    assert [(d["path"], d["code"]) for d in diagnostics] == [("notes/x.md", "not-a-file")]
    assert "FIFO" in diagnostics[0]["message"]
    hostile.nothing_outside_changed()


def test_a_file_swapped_for_a_fifo_after_the_scan_is_not_read(tmp_path: Path) -> None:
    from kb.vault.paths import NotReadableError, read_regular_file

    os.mkfifo(tmp_path / "x.md")
    with pytest.raises(NotReadableError, match="FIFO"):
        read_regular_file(str(tmp_path / "x.md"), 1000)
    (tmp_path / "big.md").write_bytes(b"x" * 2000)
    with pytest.raises(NotReadableError, match="over the limit"):
        read_regular_file(str(tmp_path / "big.md"), 1000)


def test_note_symlinked_to_dev_zero_is_not_read(hostile) -> None:
    root = hostile.write({})
    (root / "notes" / "zero.md").symlink_to("/dev/zero")
    result = kb_process("check", "--json", "--vault", str(root), timeout=60)
    assert [d["code"] for d in json.loads(result.stdout)["diagnostics"]] == ["outside-vault"]


def test_note_over_the_size_limit_is_one_diagnostic(make_vault) -> None:
    root = make_vault({"kb.toml": "max_note_bytes = 1000\n", "notes/big.md": "x" * 2000,
                       "notes/small.md": "ok\n"})
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "too-large") == [("notes/big.md", 0, "error")]
    assert [n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]] == ["small"]


BOUNDED_WORK = textwrap.dedent("""
    import resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    from kb.notes.parse import parse_note
    bomb = "---\\n" + "".join(
        f"l{i}: &l{i} [" + ", ".join([f"*l{i-1}" if i else "x"] * 10) + "]\\n" for i in range(12)
    ) + "---\\n"
    cases = {"alias bomb": bomb, "80,000 [[": "x " + "[[" * 80_000}
    for name, unit in {"[[": "[[ ", "[": "[ ", "links": "[[a]] ", "markdown links": "[a](b.md) ",
                       "emphasis": "*a [", "images": "![ ", "nested": "[a [b "}.items():
        cases[f"1 MB of {name}"] = "x " + unit * (1_000_000 // len(unit))
    for name, text in cases.items():
        start = time.process_time()
        note = parse_note("n.md", "n", text.encode())
        print(name, round(time.process_time() - start, 2), [d.code for d in note.diagnostics], sep="\t")
""")


def test_alias_bomb_and_quadratic_inputs_finish_within_bounds() -> None:
    """In a child process with 2 GB of memory and two minutes of CPU: a regression fails this
    test instead of hanging CI. Each input took a minute or gigabytes before the bounds."""
    result = subprocess.run([sys.executable, "-c", BOUNDED_WORK], capture_output=True, text=True,
                            timeout=300, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {name: (float(seconds), found) for name, seconds, found in
            (line.split("\t") for line in result.stdout.splitlines())}
    assert len(rows) == 9
    assert "yaml-too-large" in rows["alias bomb"][1]
    for name, (seconds, _found) in rows.items():
        assert seconds < 20, (name, seconds)


# -- one bad file never breaks the vault ----------------------------------------------------------
def test_file_name_that_is_not_utf8_is_one_diagnostic(make_vault) -> None:
    root = make_vault({"notes/good.md": CONCEPT.format(title="Good")})
    with open(os.path.join(os.fsencode(root / "notes"), b"bad\xff\nname.md"), "wb") as handle:
        handle.write(b"x\n")
    result = kb_process("check", "--vault", str(root))
    lines = [line for line in result.stderr.splitlines() if "dangling-link" not in line]
    assert lines == ["notes/bad\\xff\\x0aname.md: error: the name 'bad\\xff\\x0aname.md' is not valid "
                     "UTF-8; skipped (rename it) [bad-file-name]"]
    assert result.returncode == 1
    listed = kb_process("list", "--json", "--vault", str(root))
    assert [n["id"] for n in json.loads(listed.stdout)["notes"]] == ["good"]


def test_file_name_with_a_newline_cannot_forge_a_diagnostic(make_vault) -> None:
    root = make_vault({"notes/a\nnotes/b.md:1: error: forged [x].md": "[[nowhere]]\n"})
    result = run_kb("check", vault=root)
    diagnostic_lines = [ln for ln in result.stderr.splitlines() if ": warning: " in ln or ": error: " in ln]
    assert len(diagnostic_lines) == 1
    assert diagnostic_lines[0].startswith("notes/a\\x0anotes/b.md:1: error: forged [x].md:1: warning")


@pytest.mark.parametrize(("front", "code", "line"), [
    ("a: &a [*a]", "yaml-too-large", 3),
    ("x: " + "[" * 500 + "]" * 500, "yaml-too-large", 3),
    ("n: 0x" + "f" * 5000, "invalid-value", 3),
])
def test_front_matter_values_the_cache_cannot_hold(make_vault, front: str, code: str, line: int) -> None:
    root = make_vault({"notes/bad.md": f"---\ntitle: Bad\n{front}\n---\n[[good]]\n",
                       "notes/good.md": CONCEPT.format(title="Good")})
    for _ in range(2):  # cold, then warm from the cache
        check = run_kb("check", "--json", vault=root)
        severity = "error" if code == "yaml-too-large" else "warning"
        assert codes(check, code) == [("notes/bad.md", line, severity)]
        assert {n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]} == {"bad", "good"}


def test_mtime_after_2262_is_read_and_cached(make_vault) -> None:
    root = make_vault({"notes/future.md": CONCEPT.format(title="Future")})
    year_2400 = (2400 - 1970) * 365 * 86400 * 10**9
    try:
        os.utime(root / "notes" / "future.md", ns=(year_2400, year_2400))
    except OSError:
        pytest.skip("this file system cannot store that time")
    for _ in range(2):
        result = run_kb("sources", "--json", vault=root)
        assert result.exit_code == 0
        assert [n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]] == ["future"]


@pytest.mark.parametrize(("toml", "line"), [
    ("a = " + "{b = " * 500 + "1" + "}" * 500 + "\n", 0),
    ("notes = \"a\\u0000b\"\n", 1),
    ("articles = \"" + "x" * 300 + "\"\n", 1),
    ("[" + ".".join(["t"] * 500) + "]\nx = 1\n", None),
])
def test_bad_kb_toml_is_an_error_and_the_vault_still_works(make_vault, toml: str, line: int | None) -> None:
    root = make_vault({"kb.toml": toml, "notes/a.md": CONCEPT.format(title="A")})
    check = run_kb("check", "--json", vault=root)
    assert check.exit_code == 1
    found = codes(check, "config-error")
    assert found and all(severity == "error" for _, _, severity in found)
    if line is not None:
        assert found[0][1] == line
    assert [n["id"] for n in run_kb("list", "--json", vault=root).json()["notes"]] == ["a"]


# -- the cache never lies -------------------------------------------------------------------------
def test_same_size_edit_with_restored_mtime_is_seen(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: Alpha\n---\n"})
    assert run_kb("list", "--json", vault=root).json()["notes"][0]["title"] == "Alpha"
    # As if the cache had been written long after the file: no "too recent to trust" re-hash.
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'written_at'", (repr(time.time() + 100),))
    db.close()
    path = root / "notes" / "a.md"
    stat = path.stat()
    path.write_text("---\ntitle: Gamma\n---\n")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as cp -p, rsync -a, touch -d do
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert run_kb("list", "--json", vault=root).json()["notes"][0]["title"] == "Gamma"


def test_flipped_byte_in_a_cached_record_is_not_believed(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: Alpha\ntype: concept\n---\n"})
    run_kb("list", vault=root)
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    with db:
        db.execute("UPDATE notes SET record = replace(record, 'Alpha', 'Alpho')")
    db.close()
    assert run_kb("list", "--json", vault=root).json()["notes"][0]["title"] == "Alpha"


@pytest.mark.parametrize("statement", [
    "UPDATE notes SET size = 'x'", "UPDATE notes SET record = 42", "UPDATE notes SET body = NULL",
    "UPDATE meta SET value = 'garbage' WHERE key = 'written_at'",
])
def test_wrong_shaped_cache_rows_are_treated_as_absent(make_vault, statement: str) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: Alpha\n---\n[[b]]\n", "notes/b.md": "b\n"})
    cold = run_kb("list", "--json", vault=root).json()
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    with db:
        db.execute(statement)
    db.close()
    assert run_kb("list", "--json", vault=root).json() == cold


def test_wrong_shaped_generation_records_are_treated_as_absent(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    (root / ".kb").mkdir()
    for shape in ('{"articles": [1, 2]}', '{"articles": {"articles/pca.md": 5}}', "[", "null"):
        (root / ".kb" / "generated.json").write_text(shape)
        result = run_kb("article", "pca", "--stdout", vault=root)
        assert result.exit_code == 0, result.stderr


def test_yaml_sets_and_ordered_pairs_are_deterministic(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: A\nkeys: !!set {zeta, alpha, mu, beta}\n"
                                     "pairs: !!omap [b: 1, a: 2]\n---\n"})
    outputs = set()
    for seed in ("1", "2", "3"):
        result = subprocess.run([sys.executable, "-m", "kb", "graph", "--vault", str(root)],
                                capture_output=True, text=True, timeout=60, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONHASHSEED": seed})
        outputs.add(result.stdout)
    assert len(outputs) == 1
    import kb

    cold = kb.open_vault(root, use_cache=False).graph.notes["a"].extra
    warm = kb.open_vault(root).graph.notes["a"].extra
    assert cold == warm == {"keys": ["alpha", "beta", "mu", "zeta"], "pairs": [["b", 1], ["a", 2]]}


def test_graphml_with_a_control_character_is_well_formed(make_vault) -> None:
    root = make_vault({"notes/a.md": '---\ntitle: "bell\\a and esc\\e"\ntype: concept\n---\n'})
    result = run_kb("graph", "--format", "graphml", vault=root)
    assert result.exit_code == 0
    ET.fromstring(result.stdout.encode())


# -- kb never writes what it cannot read back ---------------------------------------------------
def test_sources_import_with_odd_titles_writes_readable_notes_and_stays_idempotent(tmp_path: Path) -> None:
    run_kb("init", str(tmp_path))
    bib = tmp_path / "odd.bib"
    bib.write_text("@article{odd:key/1,\n  title = {A title\n   over two lines: with a colon},\n"
                   "  author = {Doe, Jane},\n  year = {2020}\n}\n"
                   "@book{x\u00e9,\n  title = {Quotes \" and \\# and --- dashes},\n  year = {2001}\n}\n")
    first = run_kb("sources", "import", str(bib), vault=tmp_path)
    assert first.exit_code == 0, first.stderr
    check = run_kb("check", "--json", vault=tmp_path)
    assert [d for d in check.json()["diagnostics"] if d["severity"] == "error"] == []
    titles = {n["title"] for n in run_kb("list", "--json", vault=tmp_path).json()["notes"]}
    assert "A title over two lines: with a colon" in titles
    again = run_kb("sources", "import", str(bib), vault=tmp_path)
    assert "0 created" in again.stdout and "2 already in" in again.stdout


def test_editor_with_an_unbalanced_quote_is_a_warning(tmp_path: Path, monkeypatch) -> None:
    run_kb("init", str(tmp_path))
    monkeypatch.setenv("EDITOR", "vim '-c")
    monkeypatch.delenv("VISUAL", raising=False)
    result = run_kb("new", "concept", "Edited", "--edit", vault=tmp_path)
    assert result.exit_code == 0
    assert "cannot read the editor command" in result.stderr
    assert (tmp_path / "notes" / "edited.md").exists()


def test_template_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path) -> None:
    root = copy_sample(tmp_path / "vault")
    (root / "templates" / "article.md.j2").write_bytes(b"caf\xe9 {{ title }}\n")
    result = run_kb("article", "pca", "--stdout", vault=root)
    assert result.exit_code == 1
    assert "templates/article.md.j2: not valid UTF-8" in result.stderr


# -- messages a person can act on ----------------------------------------------------------------
def test_front_matter_after_a_blank_line_is_a_warning(make_vault) -> None:
    root = make_vault({"notes/a.md": "\n\n---\ntype: concept\n---\n"})
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "frontmatter-not-first") == [("notes/a.md", 3, "warning")]


def test_yaml_errors_give_a_hint(make_vault) -> None:
    root = make_vault({"notes/tab.md": "---\ntags:\n\t- x\n---\n",
                       "notes/colon.md": "---\ntitle: PCA: a primer\n---\n"})
    messages = {d["path"]: (d["line"], d["message"]) for d in
                run_kb("check", "--json", vault=root).json()["diagnostics"]}
    assert messages["notes/tab.md"][0] == 3 and "use spaces" in messages["notes/tab.md"][1]
    assert messages["notes/colon.md"][0] == 2 and "must be quoted" in messages["notes/colon.md"][1]


def test_phantom_concept_is_reported_with_the_concept_meant(make_vault) -> None:
    root = make_vault({"notes/matrix-rank.md": "---\ntype: concept\ntitle: Matrix rank\n---\n",
                       "notes/svd.md": "---\ntype: concept\nprerequisites: [matrix rank]\n---\n"})
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "phantom-concept") == [("notes/svd.md", 3, "warning")]
    assert "[[matrix-rank]]" in check.json()["diagnostics"][0]["message"]


def test_kb_toml_errors_point_at_the_line_and_suggest(make_vault) -> None:
    root = make_vault({"kb.toml": "author = 'k'\n\ncitatons = 'quarto'\n", "notes/a.md": "a\n"})
    found = run_kb("check", "--json", vault=root).json()["diagnostics"]
    assert [(d["line"], d["message"]) for d in found] == [
        (3, "'citatons': unknown key; did you mean 'citations'?")]


def test_outside_any_vault_queries_say_so_and_writers_refuse(tmp_path: Path, monkeypatch) -> None:
    write_vault(tmp_path, {"a.md": CONCEPT.format(title="A")})
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KB_VAULT", raising=False)
    listed = run_kb("list", "--json")
    assert listed.exit_code == 0 and "no kb.toml" in listed.stderr and "kb init" in listed.stderr
    assert [n["id"] for n in listed.json()["notes"]] == ["a"]
    for args in (["new", "concept", "B"], ["article", "a"], ["build"]):
        result = run_kb(*args)
        assert result.exit_code == 2 and "kb init" in result.stderr, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.md"]


def test_a_cache_left_by_an_older_kb_is_rebuilt_not_reported(make_vault) -> None:
    root = make_vault({"notes/a.md": "---\ntitle: Alpha\n---\n"})
    (root / ".kb").mkdir()
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    with db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("CREATE TABLE notes (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
                   "digest TEXT, rel TEXT, record TEXT, body TEXT)")
        db.execute("INSERT INTO meta VALUES ('version', '0.0.1/1/1')")
    db.close()
    first = run_kb("list", "--json", vault=root)
    assert first.json()["notes"][0]["title"] == "Alpha"
    assert "cache" not in first.stderr
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    assert db.execute("SELECT count(*) FROM notes").fetchone() == (1,)
    db.close()


def test_obsidian_template_folders_and_exclude_globs_are_not_notes(make_vault) -> None:
    root = make_vault({
        "kb.toml": 'notes = "."\nexclude = ["Archive/**", "*.excalidraw.md"]\n',
        ".obsidian/templates.json": '{"folder": "Templates"}',
        ".obsidian/plugins/templater-obsidian/data.json": '{"templates_folder": "Meta/Templater"}',
        "Templates/daily.md": "---\ndate: {{date}}\n---\n[[{{title}}]]\n",
        "Meta/Templater/t.md": "<% tp.date.now() %> [[<% tp.file.title %>]]\n",
        "Meta/real.md": "[[Note]]\n",
        "Archive/old.md": "[[gone]]\n",
        "drawing.excalidraw.md": "[[x]]\n",
        "Note.md": "n\n",
    })
    check = run_kb("check", "--json", vault=root)
    assert check.exit_code == 0 and check.json()["diagnostics"] == []
    listed = sorted(n["path"] for n in run_kb("list", "--json", vault=root).json()["notes"])
    assert listed == ["Meta/real.md", "Note.md"]


def test_a_cache_that_came_with_the_vault_is_not_believed(make_vault) -> None:
    """Whoever wrote the vault knows its bytes, so a record with the right content hash and
    checksum proves nothing: only a row made from this very file (inode, ctime) is used."""
    from kb.vault.cache import checksum

    root = make_vault({"notes/a.md": "---\ntitle: Alpha\n---\n"})
    run_kb("list", vault=root)
    db = sqlite3.connect(root / ".kb" / "cache.sqlite")
    with db:
        record, body = db.execute("SELECT record, body FROM notes").fetchone()
        forged = record.replace("Alpha", "FORGED")
        db.execute("UPDATE notes SET record = ?, checksum = ?, ino = ino + 1",
                   (forged, checksum(forged, body)))
        memo = json.loads(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
        memo["config"]["max_note_bytes"] = "huge"
        memo["stamp"] = [1, 2, 3, 4]
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(memo),))
    db.close()
    result = run_kb("list", "--json", vault=root)
    assert result.exit_code == 0, result.stderr
    assert result.json()["notes"][0]["title"] == "Alpha"


def test_titles_cannot_drive_the_terminal(make_vault) -> None:
    root = make_vault({"notes/e.md": "# Evil \x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b[31mRED\n"})
    for args in (["list"], ["gaps"], ["show", "e"]):
        result = run_kb(*args, vault=root)
        assert "\x1b]" not in result.stdout and "\x1b[2J" not in result.stdout, args
        assert "\\x1b]52" in result.stdout, args


def test_python_m_kb_runs_no_module_from_the_current_folder(make_vault) -> None:
    root = make_vault({"notes/a.md": "a\n", "yaml.py": "open('RAN', 'w').write('x')\n"})
    result = subprocess.run([sys.executable, "-m", "kb", "check", "--vault", str(root)],
                            capture_output=True, text=True, timeout=60, cwd=root)
    assert result.returncode == 0, result.stderr
    assert not (root / "RAN").exists()


def test_a_vault_cannot_lift_the_note_size_ceiling(make_vault) -> None:
    root = make_vault({"kb.toml": "max_note_bytes = 1000000000000\n", "notes/a.md": "a\n"})
    check = run_kb("check", "--json", vault=root)
    assert codes(check, "config-error") == [("kb.toml", 1, "error")]


ARTICLE_WORK = textwrap.dedent("""
    import os, resource, sys, time
    resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31))
    resource.setrlimit(resource.RLIMIT_CPU, (120, 120))
    from pathlib import Path
    from click.testing import CliRunner
    from kb.cli import main
    root = Path(sys.argv[1])
    cases = {
        "deep quote markers": "\\n\\n".join(['>   ' * 19 + 'x [[a]]'] * 300),
        "a long line of links": "[[x]] " * 16000,
        "a long line of embeds": "![[a]] " * 8000,
        "nested callouts": "\\n".join('>' * i + ' [!note]' for i in range(1, 600)),
    }
    for i in range(9):  # nine notes, each embedding the next ten times
        (root / "notes" / f"n{i}.md").write_text("\\n\\n".join([f"![[n{i + 1}]]"] * 10) + "\\n")
    (root / "notes" / "n9.md").write_text("leaf\\n")
    cases["embeds of embeds"] = None
    for name, body in cases.items():
        target = "n0"
        if body is not None:
            target = "x" + str(len(os.listdir(root / "notes")))
            (root / "notes" / f"{target}.md").write_text(body + "\\n")
        start = time.process_time()
        result = CliRunner().invoke(main, ["article", target, "--stdout", "--vault", str(root)])
        print(name, round(time.process_time() - start, 2), result.exit_code, sep="\\t")
""")


def test_article_work_is_bounded_whatever_the_notes_hold(tmp_path: Path) -> None:
    """Shapes that took a minute or more, or a billion embeds, in `kb article` (not in check)."""
    root = write_vault(tmp_path / "vault", {"kb.toml": "", "notes/a.md": "# A\n"})
    result = subprocess.run([sys.executable, "-c", ARTICLE_WORK, str(root)], capture_output=True,
                            text=True, timeout=600, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert len(rows) == 5
    for name, seconds, status in rows:
        assert status == "0" and float(seconds) < 20, (name, seconds, status)
