"""`kb init`: lay out a new vault. Creates what is missing, never touches what exists."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kb.render import builtin_templates_dir
from kb.vault.config import CONFIG_NAME
from kb.vault.paths import NotReadableError, is_inside, read_regular_file

# Every key with its default; docs/configuration.md says the same.
DEFAULT_CONFIG = """\
# kb.toml — this vault's settings. Every key is optional: the values shown are the defaults,
# and a commented-out key shows its form. kb's docs/configuration.md explains each.

# Where notes live, searched recursively. Without this key: notes/ if it exists, else the
# vault root (a plain Obsidian vault).
notes = "notes"

# Where `kb article` and `kb build` write drafts.
articles = "articles"

# Your templates; a file here overrides the built-in template of the same name.
templates = "templates"

# Written into each article's front matter.
# author = "Your Name"

# The article template: article.md.j2 (Markdown for Quarto or Astro) or article.qmd.j2.
template = "article.md.j2"

# How articles cite sources: "plain" (a References section) or "quarto" ([@citekey] in the
# text, a references.bib beside the article and `bibliography:` in its front matter).
citations = "plain"

# A source with `status: reading` and no new note for this many days is flagged as stalled.
stalled_days = 30

# A .md file larger than this many bytes is reported and skipped, so that one huge or endless
# file cannot stall kb (see docs/trust.md).
max_note_bytes = 8388608

# kb review: a concept is due when its predicted recall falls below this probability.
retention = 0.9

# Where `kb new` and `kb sources import` put each type of note, inside the notes folder.
# Without an entry: the notes folder itself.
[folders]
# concept = "concepts"
# reading = "readings"
# practice = "practice"
# source = "sources"

# `kb run` executes the code blocks of practice notes (docs/run.md). It runs your own code
# with your rights: never `kb run` a vault you do not trust.
[run]
timeout = 30              # seconds per note; a note's own `timeout:` overrides it
counts_as_review = false  # true: a pass is a review (good) and a failure an `again`
# Languages besides Python, each a command to which the program file is appended:
# languages = { bash = ["bash"], r = ["Rscript"] }

# Relations your notes already write, mapped onto kb's fields (docs/conventions.md): which
# front-matter keys and Dataview inline fields (key:: value) mean prerequisites, concept or
# source; headings whose links are prerequisites; types from tags, folders or name prefixes.
[conventions]
# prerequisites = ["up", "depends-on"]
# concept = ["topic"]
# source = ["from"]
# prerequisite_headings = ["Prerequisites"]
# title = "file-name"      # titles from file names, as Obsidian shows them (default: "heading")
# [conventions.types.concept]
# tags = ["concept"]
# folders = ["Concepts"]
# prefixes = ["c-"]

# A series is an ordered run of articles, written by `kb build`; one [[series]] per series.
# [[series]]
# title = "Math Level Up for DL"
# slug = "math-level-up"
# parts = ["eigenvalues", "pca", "lora"]
# description = "The linear algebra behind PCA and LoRA."
"""

GITIGNORE = """\
# kb's own state (cache, generation records): safe to delete, never worth committing
.kb/
"""


# The concept map's page (kb graph --format html) is code more than a template: a copy in the
# vault would override every later fix to it. Copy it yourself to change it (docs/graph.md).
NOT_COPIED = frozenset({"graph.html.j2", "_graph.css.j2", "_graph.js.j2"})


@dataclass
class InitReport:
    created: list[str] = field(default_factory=list)  # vault-relative, folders end in /
    kept: list[tuple[str, str]] = field(default_factory=list)  # (path, why it was left alone)
    found: list[str] = field(default_factory=list)  # what kb saw in an existing vault, and chose


def _create_file(path: Path, text: str) -> bool:
    """Write a new file; False if something is already there (it is left as it is)."""
    try:
        with open(path, "x", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except FileExistsError:
        return False
    return True


def init_vault(root: Path) -> InitReport:
    """Create kb.toml, notes/, articles/, templates/ (with the built-in templates) and a
    .gitignore for .kb/ under root. Anything that exists is left alone and reported.

    In a folder that already holds notes (an Obsidian vault, say) without a notes/ folder,
    the notes stay where they are: kb.toml says `notes = "."` and no empty notes/ is made
    (it would hide every note), and its [conventions] are suggested from what the notes
    already write (see kb.vault.layout)."""
    from kb.vault.layout import config_for, survey

    report = InitReport()
    root.mkdir(parents=True, exist_ok=True)
    layout = survey(root)
    config_exists = os.path.lexists(root / CONFIG_NAME)
    config_text = DEFAULT_CONFIG
    folders = ["notes", "articles", "templates"]
    if layout.markdown_files or layout.obsidian:
        report.found.extend(layout.findings())
    if layout.notes_at_root:
        folders.remove("notes")
    if layout.markdown_files and not config_exists:
        config_text = config_for(layout, DEFAULT_CONFIG)
    elif layout.markdown_files:
        report.found.append("kb.toml exists: none of this is written into it")

    def file(name: str, text: str) -> None:
        if _create_file(root / name, text):
            report.created.append(name)
        else:
            report.kept.append((name, "exists"))

    # Obsidian's own `Templates/` (its template notes) is not kb's: on a case-insensitive disk
    # kb's templates would land in it, on any disk two folders would differ only in case.
    names = {entry.name for entry in root.iterdir()}
    for index, folder in enumerate(folders):
        clash = folder not in names and any(n.lower() == folder for n in names)
        if clash and not config_exists and folder != "notes":
            other = next(n for n in sorted(names) if n.lower() == folder)
            folders[index] = f"kb-{folder}"
            config_text = config_text.replace(f'\n{folder} = "{folder}"\n',
                                              f'\n{folder} = "kb-{folder}"  # not {other}/, '
                                              "which is the vault's own\n", 1)
            report.found.append(f"a folder {other}/ that is not kb's: kb's {folder} go to kb-{folder}/")
    file(CONFIG_NAME, config_text)
    for folder in folders:
        path = root / folder
        if os.path.lexists(path) and not is_inside(path, root):
            report.kept.append((folder + "/", "a symlink to a place outside the vault; kb writes "
                                              "nothing there"))
        elif path.is_dir():
            report.kept.append((folder + "/", "exists"))
        elif path.exists():
            report.kept.append((folder + "/", "a file of that name exists"))
        else:
            path.mkdir()
            report.created.append(folder + "/")
    templates_folder = next(f for f in folders if f.endswith("templates"))
    templates = root / templates_folder
    if templates.is_dir() and is_inside(templates, root):
        for builtin in sorted(builtin_templates_dir().glob("*.j2")):
            if builtin.name not in NOT_COPIED:
                file(f"{templates_folder}/{builtin.name}", builtin.read_text(encoding="utf-8"))

    gitignore = root / ".gitignore"
    if _create_file(gitignore, GITIGNORE):
        report.created.append(".gitignore")
    else:
        try:
            text = read_regular_file(str(gitignore), 1 << 20).decode("utf-8")
            lines = {ln.strip() for ln in text.splitlines()}
        except (OSError, UnicodeDecodeError, NotReadableError):
            lines = set()
        has_kb = lines & {".kb", ".kb/", "/.kb", "/.kb/"}
        report.kept.append((".gitignore", "exists" if has_kb else
                            "exists; add a line `.kb/` to keep kb's cache out of git"))
    return report
