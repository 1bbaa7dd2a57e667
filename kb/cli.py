"""The command line: parse options, call the core, print. The only module that imports click."""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from kb import __version__
from kb.errors import CycleError, Diagnostic, KbError, UnknownConceptError

F = TypeVar("F", bound=Callable[..., Any])
LEVEL_CHOICES = ("read", "exercise", "code", "project")
PROGRESS_MIN_FILES = 2000  # about a second of parsing on a 2-core machine


# -- shared options -------------------------------------------------------------------
def _remember_vault(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.ensure_object(dict)["vault"] = value


def vault_option(func: F) -> F:
    return click.option(
        "--vault", metavar="PATH", expose_value=False, callback=_remember_vault,
        type=click.Path(file_okay=False), help="The vault folder (default: $KB_VAULT, "
        "else the nearest folder up from here with kb.toml, else here).",
    )(func)


def _remember_no_cache(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(dict)["no_cache"] = True


def no_cache_option(func: F) -> F:
    return click.option("--no-cache", is_flag=True, expose_value=False, callback=_remember_no_cache,
                        help="Parse every note again; neither read nor update .kb/cache.sqlite.")(func)


def vault_options(func: F) -> F:
    return vault_option(no_cache_option(func))


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True,
                        help="Print one JSON document on stdout and nothing else there.")(func)


# -- loading and reporting ------------------------------------------------------------
def _vault_path(ctx: click.Context) -> Path:
    from kb.config import find_vault

    root = ctx.find_root()
    explicit = (root.obj or {}).get("vault") or (ctx.obj or {}).get("vault")
    path = find_vault(explicit)
    if not path.is_dir():
        raise click.UsageError(f"vault folder {path} does not exist")
    return path


def _load(ctx: click.Context, *, quiet: bool = False) -> Any:
    """Open the vault; a progress bar only on a terminal, for a long cold parse, not in --json."""
    from kb import open_vault

    options = {**(ctx.find_root().obj or {}), **(ctx.obj or {})}
    show_progress = not quiet and sys.stdout.isatty() and sys.stderr.isatty()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= PROGRESS_MIN_FILES:
            bar = click.progressbar(length=total, label="parsing notes", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    try:
        kg = open_vault(_vault_path(ctx), use_cache=not options.get("no_cache"),
                        progress=progress if show_progress else None)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    for notice in kg.vault.notices:
        click.echo(f"kb: warning: {notice}", err=True)
    return kg


def _report(diagnostics: Sequence[Diagnostic], *, everything: bool) -> None:
    """Diagnostics on stderr: all of them for `check`, errors plus a count otherwise."""
    shown = diagnostics if everything else [d for d in diagnostics if d.severity == "error"]
    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for diag in shown:
        click.echo(click.style(diag.format(), fg=colours[diag.severity]), err=True)
    if not everything:
        warnings = sum(1 for d in diagnostics if d.severity == "warning")
        if warnings:
            click.echo(f"kb: {warnings} warning{'s' * (warnings != 1)} (run 'kb check' to see them)",
                       err=True)


def _exit_status(diagnostics: Sequence[Diagnostic], strict: bool = False) -> int:
    failing = {"error", "warning"} if strict else {"error"}
    return 1 if any(d.severity in failing for d in diagnostics) else 0


def _emit_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned table; the last column is never padded."""
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c + " " * (widths[i] - _width(c)) for i, c in enumerate(cells[:-1])]
        return "  ".join([*padded, cells[-1]]).rstrip()

    head = click.style(line(headers), bold=True)
    return "\n".join([head, *(line(r) for r in rows)])


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn kb's own exceptions into a clean message and the SPEC's exit status."""
    try:
        yield
    except UnknownConceptError as exc:
        raise click.UsageError(str(exc)) from None
    except CycleError as exc:
        for diag in exc.diagnostics:
            click.echo(click.style(diag.format(), fg="red"), err=True)
        raise SystemExit(1) from None
    except KbError as exc:
        raise click.ClickException(str(exc)) from None


# -- commands -------------------------------------------------------------------------
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kb")
@vault_options
def main() -> None:
    """kb — see the concept graph of your notes, its gaps, and write articles from it.

    Notes are Markdown files with typed front matter (concept, reading, practice,
    source). Every command takes --vault PATH; query commands take --json.

    Example:

        kb gaps            # what you have read but never practiced
    """


@main.command()
@vault_options
@json_option
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.pass_context
def check(ctx: click.Context, as_json: bool, strict: bool) -> None:
    """Report every problem in the vault: bad front matter, dangling links, cycles.

    Diagnostics go to stderr as `path:line: severity: message [code]`.
    Exit status is 1 when there is an error (or, with --strict, a warning).

    Example:

        kb check --strict
    """
    kg = _load(ctx, quiet=as_json)
    if as_json:
        _emit_json({"diagnostics": [d.as_dict() for d in kg.diagnostics]})
    else:
        _report(kg.diagnostics, everything=True)
        counts = {s: sum(1 for d in kg.diagnostics if d.severity == s)
                  for s in ("error", "warning", "info")}
        summary = ", ".join(f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items())
        click.echo(f"{len(kg.notes)} notes, {len(kg.concepts)} concepts: {summary}")
    ctx.exit(_exit_status(kg.diagnostics, strict))


@main.command()
@vault_options
@json_option
@click.option("--level", "level", type=click.Choice(LEVEL_CHOICES), default="exercise",
              show_default=True, help="List concepts below this level.")
@click.pass_context
def gaps(ctx: click.Context, as_json: bool, level: str) -> None:
    """Concepts you have notes on but have not practiced to LEVEL, and concepts with no notes.

    Most depended-on first: fixing the top one unblocks the most. The default
    level, exercise, lists what was read but never practiced.

    Example:

        kb gaps --level code     # read or solved by hand, never implemented
    """
    from kb.mastery import gaps as find_gaps

    kg = _load(ctx, quiet=as_json)
    found, missing = find_gaps(kg, level)
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({
            "gaps": [{"id": g.concept.key, "title": g.concept.title, "level": g.concept.level,
                      "unblocks": g.concept.unblocks, "readings": g.concept.readings,
                      "sources": g.sources} for g in found],
            "missing": [{"id": key, "needed_by": needed} for key, needed in missing],
        })
    else:
        label = "read but never practiced" if level == "exercise" else f"below '{level}'"
        if found:
            click.echo(click.style(f"Concepts {label} ({len(found)}), most depended-on first:",
                                   bold=True))
            rows = [[g.concept.title, g.concept.level, str(g.concept.unblocks),
                     str(g.concept.readings), ", ".join(g.sources) or "-"] for g in found]
            click.echo(_table(["CONCEPT", "LEVEL", "UNBLOCKS", "READINGS", "SOURCES"], rows))
        else:
            click.echo(f"No concepts {label}.")
        if missing:
            click.echo()
            click.echo(click.style(f"Needed but never studied ({len(missing)}):", bold=True))
            rows = [[key, ", ".join(needed) or "-"] for key, needed in missing]
            click.echo(_table(["CONCEPT", "NEEDED BY"], rows))
    ctx.exit(_exit_status(kg.diagnostics))


@main.command()
@vault_options
@json_option
@click.argument("target")
@click.pass_context
def path(ctx: click.Context, as_json: bool, target: str) -> None:
    """The learning path to TARGET: its prerequisites, transitively, in learning order.

    A topological order of the prerequisite graph; ties go by the `order`
    field, then by title. TARGET resolves like a link (id, alias, any case).

    Example:

        kb path lora
    """
    from kb.mastery import find_concept, learning_path

    kg = _load(ctx, quiet=as_json)
    with _user_errors():
        concept = find_concept(kg, target)
        steps = learning_path(kg, concept)
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"target": concept.key, "steps": [
            {"id": c.key, "title": c.title, "level": c.level} for c in steps]})
    else:
        rows = [[f"{i}.", c.title, c.level, c.key] for i, c in enumerate(steps, 1)]
        click.echo(_table(["STEP", "CONCEPT", "LEVEL", "ID"], rows))
    ctx.exit(_exit_status(kg.diagnostics))


@main.command()
@vault_options
@json_option
@click.argument("concept_name", metavar="CONCEPT")
@click.pass_context
def show(ctx: click.Context, as_json: bool, concept_name: str) -> None:
    """Everything about one CONCEPT: level, notes, sources, prerequisites, dependents.

    Example:

        kb show eigenvalues
    """
    from kb.mastery import dependents, find_concept, prerequisites

    kg = _load(ctx, quiet=as_json)
    with _user_errors():
        concept = find_concept(kg, concept_name)
    needs, needed_by = prerequisites(kg, concept), dependents(kg, concept)
    sources = kg.sources_of(concept)
    notes = [{"id": kg.key_of(n), "path": n.path, "type": n.type, "title": n.title,
              "practice": n.practice, "source": n.source.target if n.source else None,
              "locator": n.locator} for n in concept.notes]
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"id": concept.key, "title": concept.title, "level": concept.level,
                    "unblocks": concept.unblocks, "readings": concept.readings,
                    "notes": notes, "sources": sources, "prerequisites": needs,
                    "dependents": needed_by})
    else:
        click.echo(click.style(f"{concept.title}", bold=True) + f"  ({concept.key})")
        click.echo(f"level:          {concept.level}")
        click.echo(f"unblocks:       {concept.unblocks}")
        click.echo(f"prerequisites:  {', '.join(needs) or '-'}")
        click.echo(f"dependents:     {', '.join(needed_by) or '-'}")
        click.echo(f"sources:        {', '.join(sources) or '-'}")
        click.echo()
        if notes:
            rows = [[str(n["type"]) + (f" ({n['practice']})" if n["practice"] else ""),
                     str(n["title"]), str(n["path"])] for n in notes]
            click.echo(_table(["TYPE", "NOTE", "PATH"], rows))
        else:
            click.echo("No notes yet: this concept is missing.")
    ctx.exit(_exit_status(kg.diagnostics))


@main.command(name="list")
@vault_options
@json_option
@click.option("--type", "note_type", type=click.Choice(["concept", "reading", "practice", "source"]),
              help="Only notes of this type.")
@click.option("--tag", help="Only notes with this tag.")
@click.option("--concept", "concept_name", metavar="C", help="Only notes about concept C.")
@click.pass_context
def list_notes(ctx: click.Context, as_json: bool, note_type: str | None, tag: str | None,
               concept_name: str | None) -> None:
    """List notes, optionally filtered by type, tag or concept.

    Example:

        kb list --type practice --concept pca
    """
    from kb.mastery import find_concept
    from kb.resolve import normalize

    kg = _load(ctx, quiet=as_json)
    about: dict[int, list[str]] = {}
    for key, concept in kg.concepts.items():
        for note in concept.notes:
            about.setdefault(id(note), []).append(key)
    selected = list(kg.notes.items())
    if note_type:
        selected = [(k, n) for k, n in selected if n.type == note_type]
    if tag:
        wanted = normalize(tag.lstrip("#"))
        selected = [(k, n) for k, n in selected
                    if any(normalize(t) == wanted or normalize(t).startswith(wanted + "/")
                           for t in n.tags)]
    if concept_name:
        with _user_errors():
            concept = find_concept(kg, concept_name)
        selected = [(k, n) for k, n in selected if concept.key in about.get(id(n), [])]
    selected.sort(key=lambda kn: kn[1].path)
    _report(kg.diagnostics, everything=False)
    if as_json:
        _emit_json({"notes": [{"id": k, "path": n.path, "type": n.type, "title": n.title,
                               "concepts": sorted(about.get(id(n), []), key=normalize)}
                              for k, n in selected]})
    else:
        rows = [[k, n.type, n.title, ", ".join(sorted(about.get(id(n), []), key=normalize)) or "-"]
                for k, n in selected]
        click.echo(_table(["ID", "TYPE", "TITLE", "CONCEPTS"], rows) if rows else "No notes match.")
    ctx.exit(_exit_status(kg.diagnostics))


@main.command()
@vault_options
@click.option("--format", "fmt", type=click.Choice(["json", "graphml", "dot", "mermaid"]),
              default="json", show_default=True, help="Output format.")
@click.option("--concepts-only", is_flag=True, help="Only concepts and prerequisite edges.")
@click.pass_context
def graph(ctx: click.Context, fmt: str, concepts_only: bool) -> None:
    """Print the graph: concepts, notes, sources and their edges.

    json is networkx node-link data (nodes, edges); graphml opens in Gephi or
    yEd; dot renders with Graphviz; mermaid pastes into Markdown.

    Example:

        kb graph --format mermaid --concepts-only
    """
    from kb.export import concepts_only as only_concepts
    from kb.export import export

    kg = _load(ctx)
    _report(kg.diagnostics, everything=False)
    selected = only_concepts(kg.graph) if concepts_only else kg.graph
    click.echo(export(selected, fmt), nl=False)
    ctx.exit(_exit_status(kg.diagnostics))


def _write_rendered(kg: Any, rendered: list[Any], force: bool) -> int:
    """Write each article; report what happened; a refused hand edit is an error (exit 1)."""
    from kb.write import EditedArticleError, Records, write_article

    vault = kg.vault
    records = Records.load(vault.root)
    refused = 0
    for item in rendered:
        try:
            path, outcome = write_article(vault.root, vault.articles_dir, item.relative, item.text,
                                          records, force=force)
        except EditedArticleError as exc:
            click.echo(click.style(f"kb: error: {exc}", fg="red"), err=True)
            refused += 1
            continue
        shown = vault.relpath(path)
        note = {"written": "written", "unchanged": "unchanged",
                "replaced-edit": "written (your edit was replaced: --force)"}[outcome]
        click.echo(f"{shown}: {note}")
    try:
        records.save()
    except OSError as exc:
        click.echo(f"kb: warning: could not record generated articles in .kb/: {exc}", err=True)
    return refused


@main.command()
@vault_options
@click.argument("target")
@click.option("--template", "template", metavar="T",
              help="Template name, looked up in the vault's templates/ then the built-ins "
                   "(article.md.j2, article.qmd.j2). Default: `template` in kb.toml.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print the article instead of writing it.")
@click.option("--force", is_flag=True, help="Overwrite an article even if it was edited by hand.")
@click.pass_context
def article(ctx: click.Context, target: str, template: str | None, to_stdout: bool, force: bool) -> None:
    """Write a draft article on TARGET: it and its prerequisites, in learning order.

    Each concept with notes becomes a section: its concept note, its reading notes
    (by source and locator), then its practice notes. Sources become References;
    prerequisites with no notes are listed as not yet covered. The draft goes to
    articles/<target>.md (or .qmd); an article you edited by hand is never
    overwritten unless you pass --force.

    Example:

        kb article pca --template article.qmd.j2
    """
    from kb.articles import render_article

    kg = _load(ctx)
    _report(kg.diagnostics, everything=False)
    with _user_errors():
        rendered = render_article(kg, kg.vault.config, kg.vault.templates_dir, target,
                                  template=template)
        if to_stdout:
            click.echo(rendered.text, nl=False)
            refused = 0
        else:
            refused = _write_rendered(kg, [rendered], force)
    ctx.exit(1 if refused else _exit_status(kg.diagnostics))


@main.command()
@vault_options
@click.option("--template", "template", metavar="T", help="Template for every part.")
@click.option("--force", is_flag=True, help="Overwrite articles even if edited by hand.")
@click.pass_context
def build(ctx: click.Context, template: str | None, force: bool) -> None:
    """Render every [[series]] in kb.toml, then show the gaps.

    Part N covers only the concepts no earlier part covered and links back to the
    part that did. Parts go to articles/<series slug>/NN-<part>.md.

    Example:

        kb build
    """
    from kb.articles import render_series

    kg = _load(ctx)
    _report(kg.diagnostics, everything=False)
    series_list = kg.vault.config.series
    refused = 0
    with _user_errors():
        for series in series_list:
            rendered = render_series(kg, kg.vault.config, kg.vault.templates_dir, series,
                                     template=template)
            refused += _write_rendered(kg, rendered, force)
    if not series_list:
        click.echo("No [[series]] in kb.toml: nothing to build (see README, Series).")
    click.echo()
    ctx.invoke(gaps, as_json=False, level="exercise")
    ctx.exit(1 if refused else _exit_status(kg.diagnostics))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
