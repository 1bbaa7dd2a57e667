"""Plant known one-line bugs in a copy of kb, one at a time, and see whether the tests notice.

    python bench/mutants.py              # every mutant, on the working tree's files
    python bench/mutants.py --ref HEAD~3 # on a commit's files (its tests too): a score to compare
    python bench/mutants.py dot-hash     # only the mutants whose name contains "dot-hash"

Each mutant replaces one exact piece of text in one file (it must occur exactly once, or the
mutant is reported as stale and must be updated) and runs the tests that guard that code; a
mutant is *killed* when they fail, *survived* when they pass. Exit status 1 if any survived.
Nothing is changed in the checkout: the files are copied to a temporary folder first.
Add a mutant whenever a bug slips through the tests and a test is written for it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]


PLANTED = "tests/test_planted_bugs.py"  # run for every mutant: one test per bug that slipped by
SEEDS = "tests/test_graph_page.py::test_exports_do_not_depend_on_the_hash_seed"

MUTANTS = [
    # -- bugs a review planted that once slipped through -----------------------------------------
    Mutant("article-written-in-place", "kb/vault/write.py",
           "    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f\".{path.name}.\", suffix=TEMP_SUFFIX)",
           "    fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), str(path)",
           ("tests/test_write.py",)),
    Mutant("new-claims-with-replace", "kb/vault/write.py",
           "                os.link(tmp, target)",
           "                os.replace(tmp, target)",
           ("tests/test_write.py", "tests/test_capture.py")),
    Mutant("same-link-twice-on-a-line", "kb/notes/markdown.py",
           '    return {"nl": lines, "col": pos - line_start, "literal": literal, "occurrence": occurrence}',
           '    return {"nl": lines, "col": pos - line_start, "literal": literal, "occurrence": 0}',
           ("tests/test_markdown.py", "tests/test_links.py", "tests/test_parse.py",
            "tests/test_articles.py")),
    Mutant("cache-drops-locator", "kb/vault/cache.py",
           '_PLAIN_FIELDS = ("type", "title", "locator", "practice",',
           '_PLAIN_FIELDS = ("type", "title", "practice",',
           ("tests/test_cache.py",)),
    Mutant("no-trailing-path-links", "kb/graph/resolve.py",
           '        return [n for n in self.by_id.get(base, []) if normalize(n.rel).endswith(suffix)',
           '        return [n for n in self.by_id.get(base, []) if False',
           ("tests/test_links.py", "tests/test_graph.py", "tests/test_parse.py")),
    Mutant("md-link-query-kept", "kb/notes/markdown.py",
           '    path = unquote(path.partition("?")[0]).strip()',
           "    path = unquote(path).strip()",
           ("tests/test_links.py", "tests/test_markdown.py", "tests/test_parse.py")),
    Mutant("no-self-prerequisite-warning", "kb/graph/concepts.py",
           "                    if before == concept:",
           "                    if before == concept and False:",
           ("tests/test_graph.py", "tests/test_cli.py")),
    Mutant("missing-list-order", "kb/graph/mastery.py",
           "    missing.sort(key=lambda m: (-len(m[1]), normalize(m[0])))",
           "    missing.sort(key=lambda m: normalize(m[0]))",
           ("tests/test_graph.py", "tests/test_cli.py")),
    Mutant("unblocks-inside-a-cycle", "kb/graph/concepts.py",
           "        if len(members[scc]) > 1:",
           "        if len(members[scc]) > 99:",
           ("tests/test_graph.py", "tests/test_cli.py")),
    Mutant("dot-ordered-by-hash", "kb/graph/export.py",
           "    for node in sorted(graph):\n        data = graph.nodes[node]\n        shape",
           "    for node in sorted(graph, key=hash):\n        data = graph.nodes[node]\n        shape",
           ("tests/test_graph.py", "tests/test_cli.py", SEEDS)),
    Mutant("json-ordered-by-hash", "kb/graph/export.py",
           "    for node in sorted(graph):\n        ordered.add_node(",
           "    for node in sorted(graph, key=hash):\n        ordered.add_node(",
           ("tests/test_graph.py", "tests/test_cli.py", SEEDS)),
    # -- more of the same kind: each is a plausible slip -------------------------------------------
    Mutant("gap-limit-inclusive", "kb/graph/mastery.py",
           "        if c.notes and LEVEL_RANK[c.level] < limit",
           "        if c.notes and LEVEL_RANK[c.level] <= limit",
           ("tests/test_cli.py", "tests/test_graph.py")),
    Mutant("level-keeps-first", "kb/graph/concepts.py",
           "        if LEVEL_RANK[level] > LEVEL_RANK[best]:",
           "        if LEVEL_RANK[level] > LEVEL_RANK[best] and best == 'missing':",
           ("tests/test_cli.py", "tests/test_graph.py")),
    Mutant("same-folder-preference", "kb/graph/resolve.py",
           "            if same_folder:",
           "            if same_folder and False:",
           ("tests/test_links.py", "tests/test_graph.py", "tests/test_parse.py")),
    Mutant("alias-link-unannounced", "kb/graph/concepts.py",
           '        elif found.kind == "note" and found.via_alias:',
           '        elif found.kind == "note" and found.via_alias and False:',
           ("tests/test_links.py", "tests/test_graph.py", "tests/test_cli.py")),
    Mutant("wikilink-across-lines", "kb/notes/markdown.py",
           "    if 0 <= newline < end or 0 <= opening <= end - 2:",
           "    if 0 <= opening <= end - 2:",
           ("tests/test_markdown.py", "tests/test_links.py", "tests/test_parse.py")),
    Mutant("escaped-pipe-not-split", "kb/notes/markdown.py",
           '    inner = inner.replace("\\\\|", "|")',
           "    inner = inner",
           ("tests/test_markdown.py", "tests/test_links.py", "tests/test_parse.py")),
    Mutant("cache-key-ignores-libraries", "kb/vault/load.py",
           "    return f\"{__version__}/{PARSER_VERSION}/{RECORD_FORMAT}/{library_versions()}\"",
           "    return f\"{__version__}/{PARSER_VERSION}/{RECORD_FORMAT}\"",
           ("tests/test_cache.py",)),
    Mutant("cache-link-occurrence-dropped", "kb/vault/cache.py",
           "    row = [link.target, link.line, link.kind, link.label, link.fragment, link.literal, "
           "link.occurrence]",
           "    row = [link.target, link.line, link.kind, link.label, link.fragment, link.literal]",
           ("tests/test_cache.py",)),
    Mutant("dispatch-unknown-rule-dropped", "kb/notes/markdown.py",
           "    anywhere = [rule for rule in every if rule not in starts]",
           "    anywhere = every[-1:]",
           ("tests/test_markdown.py",)),
    Mutant("diagnostic-sort-by-code", "kb/errors.py",
           "        return (self.path, self.line, SEVERITY_RANK[self.severity], self.code, self.message)",
           "        return (self.path, self.code, self.line, SEVERITY_RANK[self.severity], self.message)",
           ("tests/test_cli.py", "tests/test_graph.py", "tests/test_frontmatter.py")),
    Mutant("documented-output-drifts", "kb/cli/query.py",
           'click.style(f"Needed but never studied ({len(missing)}):", bold=True)',
           'click.style(f"Needed, never studied ({len(missing)}):", bold=True)',
           ("tests/test_docs.py",)),
    Mutant("path-order-ignores-order-field", "kb/graph/mastery.py",
           "    return (order is None, order or 0.0, normalize(concept.title), concept.key)",
           "    return (False, 0.0, normalize(concept.title), concept.key)",
           ("tests/test_cli.py", "tests/test_graph.py", "tests/test_articles.py")),
    # -- guards added while reshaping the package (issue 18) --------------------------------------
    Mutant("counts-as-review-ignored", "kb/session.py",
           "        if self.config.run.counts_as_review:",
           "        if False:",
           ("tests/test_run.py", "tests/test_memory.py")),
    Mutant("import-outcomes-told-at-the-end", "kb/notes/authoring.py",
           "        if on_line is not None:\n            on_line(line)",
           "        pass",
           ("tests/test_library.py", "tests/test_sources.py")),
    Mutant("new-note-despite-config-errors", "kb/notes/authoring.py",
           "    check_text_values(asked)\n    refuse_on_config_errors(session)",
           "    check_text_values(asked)",
           ("tests/test_library.py", "tests/test_capture.py", "tests/test_cli.py")),
    Mutant("blockquote-dispatched-on-wrong-character", "kb/notes/markdown.py",
           '"blockquote": ">"',
           '"blockquote": "|"',
           ("tests/test_commonmark.py",)),
    Mutant("run-outranks-a-notes-rating", "kb/learning/memory.py",
           "key=lambda r: (r.implicit, r.ran, -r.weight,",
           "key=lambda r: (r.implicit, -r.weight,",
           ("tests/test_run.py", "tests/test_memory.py")),
    Mutant("second-review-of-a-day-counts", "kb/learning/memory.py",
           "_recorded_order(r.path),",
           "r.path,",
           ("tests/test_library.py", "tests/test_memory.py")),
    Mutant("emphasis-dispatched-without-underscore", "kb/notes/markdown.py",
           '"emphasis": "*_"',
           '"emphasis": "*"',
           ("tests/test_markdown.py", "tests/test_commonmark.py")),
]


def copy_tree(ref: str | None, dest: Path) -> None:
    """The repository's tracked files (with the working tree's edits, or as of `ref`)."""
    if ref is None:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                               cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
        for name in filter(None, files):
            source = REPO / os.fsdecode(name)
            if source.is_file():
                target = dest / os.fsdecode(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)


def run_tests(tree: Path, tests: tuple[str, ...]) -> bool:
    """True when the tests pass. The copy comes first on the import path, so its kb is tested."""
    present = [t for t in tests if (tree / t.partition("::")[0]).exists()]
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                             "-m", "not slow and not browser", *present],
                            cwd=tree, env=env, capture_output=True, text=True)
    return result.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only mutants whose name contains one of these")
    parser.add_argument("--ref", help="test a commit's files instead of the working tree")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.names or any(n in m.name for n in args.names)]
    killed, survived, stale = [], [], []
    with tempfile.TemporaryDirectory(prefix="kb-mutants-") as tmp:
        tree = Path(tmp)
        copy_tree(args.ref, tree)
        if not run_tests(tree, (PLANTED, *sorted({t for m in chosen for t in m.tests}))):
            print("the tests fail without any mutant: fix them first", file=sys.stderr)
            return 2
        for mutant in chosen:
            path = tree / mutant.path
            original = path.read_text(encoding="utf-8")
            if original.count(mutant.before) != 1:
                stale.append(mutant.name)
                print(f"stale     {mutant.name} ({mutant.path} no longer holds its text once)")
                continue
            path.write_text(original.replace(mutant.before, mutant.after), encoding="utf-8")
            started = time.perf_counter()
            try:
                passed = run_tests(tree, (PLANTED, *mutant.tests))
            finally:
                path.write_text(original, encoding="utf-8")
            (survived if passed else killed).append(mutant.name)
            print(f"{'SURVIVED' if passed else 'killed  '}  {mutant.name} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    tried = len(killed) + len(survived)
    print(f"\n{len(killed)}/{tried} killed, {len(survived)} survived"
          + (f", {len(stale)} stale" if stale else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
