"""Commands that read the graph: `kb check`, `kb gaps`, `kb path`, `kb show`, `kb list`,
`kb graph`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from kb.errors import (
    Diagnostic,
    printable,
)
from kb.notes.model import NOTE_TYPES

if TYPE_CHECKING:
    from kb.notes.model import Level
    from kb.session import Session

from kb.cli.common import (
    CHECK_SUMMARY_ABOVE,
    GAPS_SHOWN,
    LEVEL_CHOICES,
    LINKERS_SHOWN,
    current_day,
    emit_json,
    exit_status,
    json_option,
    load_session,
    main,
    memory_fields,
    percent,
    report_diagnostics,
    table,
    user_errors,
    vault_options,
)


@main.command()
@vault_options
@json_option
@click.option("--strict", is_flag=True, help="Fail (exit 1) on warnings too.")
@click.option("--summary", is_flag=True,
              help="Group diagnostics by code: a count and a few examples each.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Every diagnostic, even when there are more than {CHECK_SUMMARY_ABOVE}.")
@click.pass_context
def check(ctx: click.Context, as_json: bool, strict: bool, summary: bool, show_all: bool) -> None:
    """Report every problem in the vault: bad front matter, dangling links, cycles.

    Diagnostics go to stderr as `path:line: severity: message [code]`.
    Exit status is 1 when there is an error (or, with --strict, a warning).
    More than a few hundred are grouped by code (as --summary does);
    --all lists every one.

    Example:

        kb check --strict
    """
    if summary and show_all:
        raise click.UsageError("--summary and --all contradict each other; give one")
    session = load_session(ctx, quiet=as_json)
    # Imported after loading: they import networkx, which loading imports while workers parse.
    from kb.graph.signals import summarize

    kg = session.graph
    diagnostics = sorted([*kg.diagnostics, *session.review_diagnostics(current_day())],
                         key=Diagnostic.sort_key)
    if as_json:
        data: dict[str, Any] = {"diagnostics": [d.as_dict() for d in diagnostics]}
        if summary:
            data["summary"] = [{"code": g.code, "severity": g.severity, "count": g.count,
                                "examples": [d.as_dict() for d in g.examples]}
                               for g in summarize(diagnostics)]
        emit_json(data)
    else:
        if summary or (len(diagnostics) > CHECK_SUMMARY_ABOVE and not show_all):
            _report_summary(diagnostics, told=summary)
        else:
            report_diagnostics(diagnostics, everything=True)
        counts = {s: sum(1 for d in diagnostics if d.severity == s)
                  for s in ("error", "warning", "info")}
        totals = ", ".join(f"{n} {s}{'s' * (n != 1)}" for s, n in counts.items())
        click.echo(f"{len(kg.notes)} notes, {len(kg.concepts)} concepts: {totals}")
    ctx.exit(exit_status(diagnostics, strict, cycles_fail=True))


def _report_summary(diagnostics: Sequence[Diagnostic], *, told: bool) -> None:
    """Diagnostics grouped by code on stderr: count, severity, the first few of each."""
    from kb.graph.signals import summarize

    colours = {"error": "red", "warning": "yellow", "info": "cyan"}
    for group in summarize(list(diagnostics)):
        click.echo(click.style(f"{group.severity} [{group.code}]: {group.count}",
                               fg=colours.get(group.severity), bold=True), err=True)
        for diag in group.examples:
            click.echo(f"  {diag.format()}", err=True)
        if group.count > len(group.examples):
            click.echo(f"  … and {group.count - len(group.examples)} more", err=True)
    if not told:
        click.echo(f"kb: {len(diagnostics)} diagnostics, grouped by code; `kb check --all` lists "
                   "every one (`kb check --json` too)", err=True)


def _run_state_dict(state: Any) -> dict[str, Any]:
    return {"status": state.state, "line": state.line, "message": state.message, "ran": state.ran,
            "last_status": state.last_status}


def _run_state_text(state: Any, path: str) -> str:
    where = f"{path}:{state.line}" if state.line else path
    return {"passed": "passed",
            "failed": f"failed at {where}: {state.message}",
            "timeout": f"timed out at {where}",
            "skipped": f"skipped: {state.message}",
            "changed": f"changed since its last run ({state.last_status}); run `kb run` again",
            "never-ran": "never ran (kb run)"}[state.state]


@main.command()
@vault_options
@json_option
@click.option("--level", "level", type=click.Choice(LEVEL_CHOICES), default="exercise",
              show_default=True, help="List concepts below this level.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Every row: not only the first {GAPS_SHOWN} notes linked but never written "
                   "(nor of the gaps, in a vault without practice notes).")
@click.pass_context
def gaps(ctx: click.Context, as_json: bool, level: str, show_all: bool) -> None:
    """Concepts you have notes on but have not practiced to LEVEL, and concepts with no notes.

    Most depended-on first: fixing the top one unblocks the most. The default
    level, exercise, lists what was read but never practiced. Then the notes
    your links point to that were never written, the most linked first.

    Example:

        kb gaps --level code     # read or solved by hand, never implemented
    """
    session = load_session(ctx, quiet=as_json)
    kg = session.graph
    print_gaps(session, level, as_json, show_all=show_all)
    ctx.exit(exit_status(kg.diagnostics))


def print_gaps(session: Session, level: str, as_json: bool, *, report: bool = True,
                show_all: bool = False) -> None:
    """What `kb gaps` prints, for a vault already loaded (kb build shows it too)."""
    from kb.graph.reports import gaps_report

    kg = session.graph
    result = gaps_report(session, cast("Level", level), today=current_day(),
                         all_unwritten=as_json or show_all)
    found, missing, unwritten, faded, runs = (result.gaps, result.missing, result.unwritten,
                                              result.fading, result.runs)
    memory, practice_notes = result.memory, result.practice_notes
    if report:
        report_diagnostics(kg.diagnostics, everything=False)
    if as_json:
        data: dict[str, Any] = {
            "gaps": [{"id": g.concept.key, "title": g.concept.title, "level": g.concept.level,
                      "unblocks": g.concept.unblocks, "readings": g.concept.readings,
                      "sources": g.sources} for g in found],
            "missing": [{"id": key, "needed_by": needed} for key, needed in missing],
            "fading": [{"id": f.concept.key, "title": f.concept.title, "level": f.concept.level,
                        "unblocks": f.concept.unblocks, "recall": round(f.recall, 4),
                        "last_practice": f.memory.last_practice.isoformat(),
                        "due": f.memory.due.isoformat()} for f in faded],
            "practice_notes": practice_notes,
            "unwritten": [{"id": u.name, "links": u.links, "notes": u.notes,
                           "linked_from": [{"path": p, "line": line} for p, line in u.linked_from]}
                          for u in unwritten],
        }
        if level in ("code", "project"):
            data["code_runs"] = [{"concept": concept, "note": kg.key_of(note), "path": note.path,
                                  **_run_state_dict(state)} for concept, note, state in runs]
        emit_json(data)
    else:
        label = "read but never practiced" if level == "exercise" else f"below '{level}'"
        shown_gaps = found
        if not practice_notes and kg.notes:
            click.echo("No practice notes in this vault (type: practice, or a [conventions] type "
                       "rule in kb.toml): every concept with a note counts as read, never practiced.")
            if not show_all:
                shown_gaps = found[:GAPS_SHOWN]
        if found:
            click.echo(click.style(f"Concepts {label} ({len(found)}), most depended-on first:",
                                   bold=True))
            rows = [[g.concept.title, g.concept.level, str(g.concept.unblocks),
                     str(g.concept.readings), ", ".join(g.sources) or "-"] for g in shown_gaps]
            click.echo(table(["CONCEPT", "LEVEL", "UNBLOCKS", "READINGS", "SOURCES"], rows))
            if len(shown_gaps) < len(found):
                click.echo(f"… and {len(found) - len(shown_gaps)} more (kb gaps --all lists every one)")
        else:
            click.echo(f"No concepts {label}.")
        if missing:
            click.echo()
            click.echo(click.style(f"Needed but never studied ({len(missing)}):", bold=True))
            rows = [[key, ", ".join(needed) or "-"] for key, needed in missing]
            click.echo(table(["CONCEPT", "NEEDED BY"], rows))
        if unwritten:
            click.echo()
            click.echo(click.style(f"Linked but never written ({len(unwritten)}), most linked first:",
                                   bold=True))
            shown = unwritten if show_all else unwritten[:GAPS_SHOWN]
            click.echo(table(["NOTE", "LINKS", "LINKED FROM"], [
                [u.name, str(u.links), _linked_from(u.linked_from)] for u in shown]))
            if len(shown) < len(unwritten):
                click.echo(f"… and {len(unwritten) - len(shown)} more (kb gaps --all lists every one)")
        if faded:
            click.echo()
            click.echo(click.style(f"Practiced but fading: recall below {memory.retention:.0%} "
                                   f"today ({len(faded)}; kb review says when each is due):", bold=True))
            rows = [[f.concept.title, percent(f.recall), f.memory.last_practice.isoformat(),
                     str(f.concept.unblocks)] for f in faded]
            click.echo(table(["CONCEPT", "RECALL", "LAST PRACTICE", "UNBLOCKS"], rows))
        if runs:
            passing = sum(1 for _c, _n, state in runs if state.state == "passed")
            click.echo()
            click.echo(click.style(f"Code practice ({len(runs)}): {passing} passed when last run", bold=True)
                       + ("." if passing == len(runs) else "; the others:"))
            rows = [[concept or "-", note.path, _run_state_text(state, note.path)]
                    for concept, note, state in runs if state.state != "passed"]
            if rows:
                click.echo(table(["CONCEPT", "NOTE", "RUN"], rows))


def _linked_from(sites: Sequence[tuple[str, int]]) -> str:
    """`a.md:3, b.md:7, c.md:1 (+4 more)`: the first linking places, by path."""
    shown = ", ".join(f"{path}:{line}" for path, line in sites[:LINKERS_SHOWN])
    return shown + (f" (+{len(sites) - LINKERS_SHOWN} more)" if len(sites) > LINKERS_SHOWN else "")


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
    from kb.graph.mastery import find_concept, learning_steps

    session = load_session(ctx, quiet=as_json)
    kg = session.graph
    with user_errors():
        concept = find_concept(kg, target)
        steps = learning_steps(kg, concept)
    report_diagnostics(kg.diagnostics, everything=False)
    if as_json:
        emit_json({"target": concept.key, "steps": [
            {"id": c.key, "title": c.title, "level": c.level,
             **({"cycle": [m.key for m in step]} if len(step) > 1 else {})}
            for step in steps for c in step]})
    else:
        rows = [[f"{number}." if index == 0 else "", c.title, c.level, c.key]
                for number, step in enumerate(steps, 1) for index, c in enumerate(step)]
        click.echo(table(["STEP", "CONCEPT", "LEVEL", "ID"], rows))
    ctx.exit(exit_status(kg.diagnostics))


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
    from kb.graph.mastery import dependents, find_concept, prerequisites
    from kb.graph.reports import code_runs

    session = load_session(ctx, quiet=as_json)
    kg = session.graph
    with user_errors():
        concept = find_concept(kg, concept_name)
    today = current_day()
    memory = session.memory(today)
    remembered = memory_fields(memory, concept.key, today, today)
    needs, needed_by = prerequisites(kg, concept), dependents(kg, concept)
    sources = kg.sources_of(concept)
    states = code_runs(session, concept.notes)
    notes = [{"id": kg.key_of(n), "path": n.path, "type": n.type, "title": n.title,
              "practice": n.practice, "source": n.source.target if n.source else None,
              "locator": n.locator,
              "run": _run_state_dict(states[n.path]) if n.path in states else None}
             for n in concept.notes]
    report_diagnostics(kg.diagnostics, everything=False)
    if as_json:
        emit_json({"id": concept.key, "title": concept.title, "level": concept.level,
                    "unblocks": concept.unblocks, "readings": concept.readings,
                    "notes": notes, "sources": sources, "prerequisites": needs,
                    "dependents": needed_by, "memory": remembered})
    else:
        click.echo(click.style(printable(concept.title), bold=True) + f"  ({printable(concept.key)})")
        click.echo(f"level:          {concept.level}")
        click.echo(f"unblocks:       {concept.unblocks}")
        click.echo(f"prerequisites:  {', '.join(needs) or '-'}")
        click.echo(f"dependents:     {', '.join(needed_by) or '-'}")
        click.echo(f"sources:        {', '.join(sources) or '-'}")
        if remembered["last_practice"] is None:
            click.echo("memory:         never practiced (no dated practice note)")
        else:
            fading_now = remembered["recall"] < memory.retention
            click.echo(f"recall today:   {percent(remembered['recall'])}"
                       + (f" (fading: below {memory.retention:.0%})" if fading_now else ""))
            credits = f", +{remembered['credits']} implicit" if remembered["credits"] else ""
            click.echo(f"stability:      {remembered['stability']:.1f} days "
                       f"({remembered['reviews']} review{'s' * (remembered['reviews'] != 1)}{credits}, "
                       f"last {remembered['last_practice']})")
            click.echo(f"due:            {remembered['due']}")
        click.echo()
        if notes:
            rows = [[str(n["type"]) + (f" ({n['practice']})" if n["practice"] else ""),
                     str(n["title"]), str(n["path"])] for n in notes]
            click.echo(table(["TYPE", "NOTE", "PATH"], rows))
            if states:
                click.echo()
                click.echo("code practice, as `kb run` last left it:")
                for path, state in sorted(states.items()):
                    if state.state in ("failed", "timeout") and state.line:
                        click.echo(f"  {path}:{state.line}: {state.state}: {state.message}")
                    else:
                        click.echo(f"  {path}: {_run_state_text(state, path)}")
        else:
            click.echo("No notes yet: this concept is missing.")
    ctx.exit(exit_status(kg.diagnostics))


@main.command(name="list")
@vault_options
@json_option
@click.option("--type", "note_type", type=click.Choice(NOTE_TYPES),
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
    from kb.graph.mastery import find_concept
    from kb.graph.resolve import normalize

    session = load_session(ctx, quiet=as_json)
    kg = session.graph
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
        with user_errors():
            concept = find_concept(kg, concept_name)
        selected = [(k, n) for k, n in selected if concept.key in about.get(id(n), [])]
    selected.sort(key=lambda kn: kn[1].path)
    report_diagnostics(kg.diagnostics, everything=False)
    if as_json:
        emit_json({"notes": [{"id": k, "path": n.path, "type": n.type, "title": n.title,
                               "concepts": sorted(about.get(id(n), []), key=normalize)}
                              for k, n in selected]})
    else:
        rows = [[k, n.type, n.title, ", ".join(sorted(about.get(id(n), []), key=normalize)) or "-"]
                for k, n in selected]
        click.echo(table(["ID", "TYPE", "TITLE", "CONCEPTS"], rows) if rows else "No notes match.")
    ctx.exit(exit_status(kg.diagnostics))


def _write_output(path: Path, text: str) -> None:
    """A file named on the command line: written atomically, with a new file's permissions."""
    from kb.vault.write import atomic_write

    atomic_write(path, text)
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)  # the temporary file was private; the output need not be


GRAPH_FORMATS = ("json", "graphml", "dot", "mermaid", "html")  # kb.graph.export.FORMATS + the page


@main.command()
@vault_options
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS),
              default="json", show_default=True, help="Output format.")
@click.option("--concepts-only", is_flag=True,
              help="Only concepts and prerequisite edges (html: no note titles or paths).")
@click.option("--focus", metavar="CONCEPT",
              help="Only CONCEPT, its prerequisites and its dependents (with their notes).")
@click.option("--depth", type=click.IntRange(min=0), metavar="N",
              help="With --focus: at most N prerequisite steps each way.")
@click.option("--output", "-o", "output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write to FILE instead of stdout.")
@click.pass_context
def graph(ctx: click.Context, fmt: str, concepts_only: bool, focus: str | None, depth: int | None,
          output: str | None) -> None:
    """Print the graph: concepts, notes, sources and their edges.

    json is networkx node-link data (nodes, edges); graphml opens in Gephi or
    yEd; dot renders with Graphviz; mermaid pastes into Markdown; html is one
    self-contained page (no network) to explore in a browser: concepts in
    layers by prerequisite depth, coloured by level, with search, a panel of
    notes, the learning path of a selection and filters kept in the URL.

    Example:

    \b
        kb graph --format mermaid --concepts-only
        kb graph --format html --output map.html --focus lora --depth 3
    """
    from kb.graph.export import concepts_only as only_concepts
    from kb.graph.export import export, focus_subgraph

    if depth is not None and focus is None:
        raise click.UsageError("--depth needs --focus CONCEPT")
    session = load_session(ctx)
    kg = session.graph
    report_diagnostics(kg.diagnostics, everything=False)
    with user_errors():
        centre = None
        if focus is not None:
            from kb.graph.mastery import find_concept

            centre = find_concept(kg, focus)
        today = current_day()
        memory = session.memory(today)
        if fmt == "html":
            from kb.graph.page import TEMPLATE, page_context, relative_link_base
            from kb.render import environment, render

            recall = {key: memory.recall(key, today) or 0.0 for key in memory.concepts}
            context = page_context(kg, focus=centre, depth=depth, concepts_only=concepts_only,
                                   vault_root=session.root,
                                   link_base=relative_link_base(Path(output) if output else None),
                                   recall=recall, retention=memory.retention)
            text = render(environment(session.vault.templates_dir), TEMPLATE, context)
        else:
            # a copy: the memory added below belongs to this printout, not to the loaded graph
            selected = kg.graph.copy()
            if centre is not None:
                from kb.graph.page import neighbourhood

                selected = focus_subgraph(selected, neighbourhood(kg, centre, depth))
            for key, state in memory.concepts.items():  # practiced concepts carry their memory
                node = f"concept:{key}"
                if node in selected:
                    selected.nodes[node].update(recall=round(memory.recall(key, today) or 0.0, 4),
                                                stability=round(state.stability, 2),
                                                due=state.due.isoformat())
            text = export(only_concepts(selected) if concepts_only else selected, fmt)
        if output:
            try:
                _write_output(Path(output), text)
            except OSError as exc:
                raise click.ClickException(f"cannot write {output}: {exc}") from None
            click.echo(f"kb: wrote {output}", err=True)
        else:
            click.echo(text, nl=False)
    ctx.exit(exit_status(kg.diagnostics))
