"""Commands for practice and memory: `kb run`, `kb review` (and `kb review done`), `kb plan`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import click

from kb.notes.model import PRACTICE_KINDS, REVIEW_RESULTS

if TYPE_CHECKING:
    from kb.notes.model import PracticeKind, ReviewResult

from kb.cli.common import (
    ProgressBar,
    current_day,
    emit_json,
    exit_status,
    json_option,
    load_session,
    main,
    memory_fields,
    on_terminal,
    percent,
    report_diagnostics,
    shown_path,
    table,
    user_errors,
    vault_options,
)

RUN_OUTPUT_LINES = 20  # lines of a failing note's output shown under its diagnostic


@main.command()
@vault_options
@json_option
@click.argument("targets", metavar="[TARGET]...", nargs=-1)
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Seconds each note may run (default: [run] timeout in kb.toml, 30); a note's "
                   "own `timeout:` still wins.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), metavar="N",
              help="Notes run at once (default: one per core).")
@click.option("--force", is_flag=True, help="Run notes again even if unchanged since they passed.")
@click.pass_context
def run(ctx: click.Context, as_json: bool, targets: tuple[str, ...], timeout: float | None,
        jobs: int | None, force: bool) -> None:
    """Run the code in practice notes and report what fails, at the note's line.

    Runs every practice note, or those the TARGETs name (a note, or a concept:
    all practice notes about it). Each note runs in a fresh process, its
    Python blocks in order in one interpreter (as in a notebook), in a fresh
    temporary folder, with a timeout; notes run in parallel. A block whose
    fence says `python notest` is skipped; a note listing `requires: [numpy]`
    is skipped, with the reason, where a module is missing. Results are kept
    in .kb/runs.json: an unchanged note that passed is not run again.

    This runs the vault's code with your rights: only run it on notes you trust.
    Exit status 1 when a note fails or times out.

    Example:

        kb run pca --timeout 60
    """
    import time

    from kb.learning.run import RunSettings, run_practice

    session = load_session(ctx, quiet=as_json)
    kg = session.graph
    settings = RunSettings.from_config(session.config.run, timeout=timeout, jobs=jobs, force=force,
                                       today=current_day())
    progress = ProgressBar("running notes", 2)
    started = time.monotonic()
    try:
        with user_errors():
            results, notices = run_practice(session, targets, settings,
                                            progress if not as_json and on_terminal() else None)
    except KeyboardInterrupt:
        progress.close()
        click.echo("kb: interrupted; every note's process was stopped", err=True)
        raise SystemExit(130) from None
    progress.close()
    elapsed = time.monotonic() - started
    for notice in notices:
        click.echo(f"kb: warning: {notice}", err=True)
    report_diagnostics(kg.diagnostics, everything=False)
    failing = [r for r in results if r.status in ("failed", "timeout")]
    if as_json:
        emit_json({"runs": [r.as_dict() for r in results]})
    else:
        for result in failing:
            diag = result.diagnostic()
            assert diag is not None
            click.echo(click.style(diag.format(), fg="red"), err=True)
            shown = result.output.rstrip("\n").split("\n")[-RUN_OUTPUT_LINES:] if result.output else []
            for line in shown:
                click.echo(f"    {line}", err=True)
        for result in results:
            if result.output_note:
                click.echo(f"{result.path}: note: {result.output_note}", err=True)
        if results:
            rows = []
            for r in results:
                status = {"passed": "green", "skipped": "yellow"}.get(r.status, "red")
                detail = ("unchanged since it passed" if r.cached
                          else f"line {r.line}: {r.message}" if r.status in ("failed", "timeout")
                          else r.message)
                rows.append([click.style(r.status, fg=status), r.path,
                             "-" if r.cached or r.status == "skipped" else f"{r.seconds:.2f} s",
                             detail or "-"])
            click.echo(table(["STATUS", "NOTE", "TIME", "DETAIL"], rows))
            counts = {s: sum(1 for r in results if r.status == s)
                      for s in ("passed", "failed", "timeout", "skipped")}
            cached = sum(1 for r in results if r.cached)
            parts = [f"{counts['passed']} passed" + (f" ({cached} unchanged, not rerun)" if cached else ""),
                     f"{counts['failed']} failed", f"{counts['timeout']} timed out",
                     f"{counts['skipped']} skipped"]
            click.echo(f"{len(results)} practice note{'s' * (len(results) != 1)}: "
                       f"{', '.join(parts)} in {elapsed:.2f} s")
        else:
            click.echo("No practice note with code to run.")
    ctx.exit(1 if failing else exit_status(kg.diagnostics))




@main.group(invoke_without_command=True)
@vault_options
@json_option
@click.option("--on", "on_date", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="The day to ask about (default today); a past day replays only the reviews "
                   "up to it.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N", help="Show at most N concepts.")
@click.pass_context
def review(ctx: click.Context, as_json: bool, on_date: Any, limit: int | None) -> None:
    """What you are forgetting: practiced concepts due or fading on a day.

    Each practice note is a review of its concepts on its `date`, rated by its
    `result` (again, hard, good, easy; default good); reading is not review.
    Memory is replayed with FSRS from the notes on every run; practicing a
    concept also gives its prerequisites implicit credit. A concept is fading
    when its predicted recall is below `retention` (kb.toml, default 0.9).
    Most valuable first: lowest recall times most depended on. See
    docs/memory.md for the model.

    Example:

        kb review --on 2026-11-24
        kb review done backpropagation --result hard --minutes 20
    """
    if ctx.invoked_subcommand is not None:
        return
    from kb.learning.memory import fading

    today = current_day()
    on = on_date.date() if on_date else today
    session = load_session(ctx, quiet=as_json)
    kg = session.graph
    retention = session.config.retention
    memory = session.memory(today, as_of=on)
    now = memory if on >= today else session.memory(today)
    found = fading(kg, memory, on)
    shown = found[:limit] if limit else found
    diagnostics = [*kg.diagnostics, *memory.diagnostics]
    report_diagnostics(kg.diagnostics, everything=False)
    for diag in memory.diagnostics:
        click.echo(click.style(diag.format(), fg="yellow"), err=True)
    if as_json:
        rows = []
        for item in shown:
            key = item.concept.key
            fields = memory_fields(memory, key, on, today)
            fields["recall_today"] = memory_fields(now, key, today, today)["recall_today"]
            rows.append({"id": key, "title": item.concept.title, "level": item.concept.level,
                         "unblocks": item.concept.unblocks, **fields,
                         "value": round(item.value, 4)})
        emit_json({"on": on.isoformat(), "today": today.isoformat(), "retention": retention,
                    "review": rows, "more": len(found) - len(shown)})
    else:
        day = "today" if on == today else on.isoformat()
        if shown:
            click.echo(click.style(f"Due or fading {day} (recall below {retention:.0%}), "
                                   f"{len(found)} concept{'s' * (len(found) != 1)}, "
                                   "most valuable first:", bold=True))
            headers = ["CONCEPT", "RECALL", *(["TODAY"] if on != today else []), "STABILITY",
                       "LAST PRACTICE", "REVIEWS", "DUE", "UNBLOCKS"]
            rows_text = []
            for item in shown:
                state, key = item.memory, item.concept.key
                credits = f" +{len(state.credits)} implicit" if state.credits else ""
                rows_text.append([
                    item.concept.title, percent(item.recall),
                    *([percent(now.recall(key, today))] if on != today else []),
                    f"{state.stability:.1f} d", state.last_practice.isoformat(),
                    f"{len(state.reviews)}{credits}", state.due.isoformat(),
                    str(item.concept.unblocks)])
            click.echo(table(headers, rows_text))
            if len(found) > len(shown):
                click.echo(f"… and {len(found) - len(shown)} more (--limit)")
        else:
            practiced = len(memory.concepts)
            click.echo(f"Nothing due or fading {day}: {practiced} practiced concept"
                       f"{'s' * (practiced != 1)}, each recalled at {retention:.0%} or better.")
    ctx.exit(exit_status(diagnostics))


@review.command(name="done")
@vault_options
@click.argument("concept_name", metavar="CONCEPT")
@click.option("--result", type=click.Choice(REVIEW_RESULTS), default="good",
              show_default=True, help="How it went: again (could not recall), hard, good, easy.")
@click.option("--date", "day", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="When you practiced (default today); never after today.")
@click.option("--minutes", type=click.FloatRange(min=0), metavar="M", help="How long it took.")
@click.option("--practice", type=click.Choice(PRACTICE_KINDS), default="exercise",
              show_default=True, help="Solved by hand, implemented, or applied.")
@click.pass_context
def review_done(ctx: click.Context, concept_name: str, result: str, day: Any, minutes: float | None,
                practice: str) -> None:
    """Record a review of CONCEPT: writes a small practice note and prints its path.

    The note (type practice, the concept, result, minutes, date, tag review)
    comes from the template note-review.md.j2 and goes where practice notes go
    ([folders] in kb.toml); an existing note is never overwritten. It is a
    plain file in your vault and in git: open it to write down what you did,
    delete it to take the review back.

    Example:

        kb review done eigenvalues --result hard --minutes 25
    """
    from kb.notes.authoring import record_review

    today = current_day()
    when = day.date() if day else today
    if when > today:
        raise click.UsageError(f"--date {when.isoformat()} is after today ({today.isoformat()}); "
                               "a review is recorded once it happened")
    with user_errors():
        session = load_session(ctx, quiet=True, writes=True)
        recorded = record_review(session, concept_name, result=cast("ReviewResult", result),
                                 day=when, practice=cast("PracticeKind", practice),
                                 minutes=minutes, today=today)
    click.echo(shown_path(recorded.path))
    if recorded.earlier:
        click.echo(f"kb: note: {recorded.earlier} already records a review of {recorded.concept} "
                   f"on {when.isoformat()}; only a day's first review counts", err=True)
    memory = load_session(ctx, quiet=True).memory(today)
    state = memory.concepts.get(recorded.concept)
    if state is not None:
        recall = memory.recall(recorded.concept, today)
        click.echo(f"{recorded.title}: recall {percent(recall)} today, stability "
                   f"{state.stability:.1f} days, next due {state.due.isoformat()}", err=True)


# -- plans: kb plan -------------------------------------------------------------------------
@main.command()
@vault_options
@json_option
@click.argument("targets", metavar="TARGET...", nargs=-1, required=True)
@click.option("--by", "by_date", metavar="DATE", type=click.DateTime(["%Y-%m-%d"]),
              help="The exam day: plan every day from today to the day before. Without it: "
                   "today's session.")
@click.option("--minutes-per-day", type=click.IntRange(min=1), metavar="M",
              help="Time a day (default 120 minutes).")
@click.option("--hours-per-day", type=click.FloatRange(min=0, min_open=True), metavar="H",
              help="Time a day in hours (instead of --minutes-per-day).")
@click.option("--days-off", "days_off", metavar="DATE", multiple=True,
              type=click.DateTime(["%Y-%m-%d"]), help="A day with no study (repeat for several).")
@click.option("--format", "fmt", type=click.Choice(["table", "md", "ics"]), default="table",
              show_default=True, help="md pastes into a note; ics imports into a calendar.")
@click.pass_context
def plan(ctx: click.Context, as_json: bool, targets: tuple[str, ...], by_date: Any,
         minutes_per_day: int | None, hours_per_day: float | None, days_off: tuple[Any, ...],
         fmt: str) -> None:
    """A day-by-day plan from today to an exam: what to learn, practice and review.

    TARGET is a concept, a series slug from kb.toml or a tag (#tag); the plan
    covers the targets and all their prerequisites, each classed at the exam
    day: solid (recall at least `retention`), fading (one review, placed as
    late as still useful), read only (practice), missing (study and
    practice). Prerequisites come first, subjects are interleaved, the last
    day is kept for mixed review. Minutes come from your own practice notes'
    `minutes` (defaults otherwise), shown as ranges. What does not fit is
    dropped by least value per minute and listed. See docs/plan.md.

    Example:

        kb plan lora bayes-theorem --by 2026-12-01 --hours-per-day 2
        kb plan lora --by 2026-12-01 --format ics > plan.ics
    """
    import datetime as dt

    from kb.learning.plan import PlanError, make_plan, make_session, resolve_targets

    if minutes_per_day is not None and hours_per_day is not None:
        raise click.UsageError("give --minutes-per-day or --hours-per-day, not both")
    budget = minutes_per_day if minutes_per_day is not None else (
        round(hours_per_day * 60) if hours_per_day is not None else 120)
    if budget < 1:
        raise click.UsageError("--hours-per-day is less than a minute")
    today = current_day()
    by = by_date.date() if by_date else None
    if by is not None and by <= today:
        raise click.UsageError(f"--by {by.isoformat()} is not after today ({today.isoformat()})")
    session = load_session(ctx, quiet=as_json or fmt != "table")
    kg = session.graph
    memory = session.memory(today)
    with user_errors():
        keys = resolve_targets(kg, targets, session.config.series)
        try:
            result = (make_plan(kg, memory, keys, today=today, by=by, minutes_per_day=budget,
                                days_off=[d.date() for d in days_off]) if by is not None else
                      make_session(kg, memory, keys, today=today, minutes_per_day=budget))
        except PlanError as exc:
            raise click.UsageError(str(exc)) from None
    report_diagnostics(kg.diagnostics, everything=False)
    _print_plan(result, as_json, fmt, dt.datetime.now(dt.UTC))
    ctx.exit(exit_status(kg.diagnostics))


def _print_plan(result: Any, as_json: bool, fmt: str, stamp: Any) -> None:
    from kb.learning.plan import CLASSES, item_text, minutes_range, to_ics, to_json, to_markdown

    if as_json:
        emit_json(to_json(result))
        return
    if fmt == "md":
        click.echo(to_markdown(result), nl=False)
        return
    if fmt == "ics":
        click.echo(to_ics(result, stamp=stamp), nl=False)
        return
    when = f"by {result.by.isoformat()}" if result.by else f"today, {result.today.isoformat()}"
    counts = ", ".join(f"{sum(1 for v in result.classes.values() if v == c)} {c}" for c in CLASSES)
    click.echo(click.style(f"Plan for {', '.join(result.targets)} {when}: {len(result.classes)} "
                           f"concepts ({counts}), {result.minutes_per_day} min a day", bold=True))
    for day in result.days:
        click.echo()
        head = f"{day.day.strftime('%a')} {day.day.isoformat()}"
        if day.items:
            click.echo(click.style(f"{head}  about {day.minutes} min", bold=True))
            click.echo(table(["TODO", "MINUTES", "ID"],
                              [[item_text(i), minutes_range(i), i.concept] for i in day.items]))
        elif day.mixed_review:
            click.echo(click.style(f"{head}  mixed review", bold=True))
            click.echo("  " + ", ".join(day.mixed_review))
        else:
            click.echo(click.style(f"{head}  nothing planned", bold=True))
    if result.dropped:
        click.echo()
        click.echo(click.style(f"Does not fit ({len(result.dropped)}):", bold=True))
        click.echo(table(["TODO", "MINUTES", "WHY"],
                          [[item_text(i), minutes_range(i), why] for i, why in result.dropped]))
    for note in result.notes:
        click.echo(f"kb: note: {note}", err=True)
