"""Commands that write articles: `kb article`, `kb build`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from kb.session import Session

from kb.cli.common import (
    current_day,
    exit_status,
    load_session,
    main,
    report_diagnostics,
    user_errors,
    vault_options,
)
from kb.cli.query import print_gaps


def _write_rendered(session: Session, rendered: list[Any], force: bool) -> int:
    """Write each article and the images it shows, saying what happened to each; a refused
    hand edit is an error (exit 1). Returns how many were refused."""
    from kb.articles.drafts import ArticleWriter

    writer = ArticleWriter(session, force=force)
    refused = 0
    for item in rendered:
        if item.article is not None:
            report_diagnostics(item.article.diagnostics, everything=True)
        written = writer.write(item)
        for path in written.copied:
            click.echo(f"{path}: copied")
        if written.refused is not None:
            click.echo(click.style(f"kb: error: {written.refused}", fg="red"), err=True)
            refused += 1
            continue
        note = {"written": "written", "unchanged": "unchanged",
                "replaced-edit": "written (your edit was replaced: --force)"}[str(written.outcome)]
        click.echo(f"{written.path}: {note}")
    if writer.problem:
        click.echo(f"kb: warning: {writer.problem}", err=True)
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
    from kb.articles.drafts import render_article

    session = load_session(ctx, writes=not to_stdout)
    kg = session.graph
    report_diagnostics(kg.diagnostics, everything=False)
    with user_errors():
        rendered = render_article(session, target, template=template, today=current_day())
        if to_stdout:
            if rendered[0].article is not None:
                report_diagnostics(rendered[0].article.diagnostics, everything=True)
            click.echo(rendered[0].text, nl=False)
            refused = 0
        else:
            refused = _write_rendered(session, rendered, force)
    ctx.exit(1 if refused else exit_status(kg.diagnostics))


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
    from kb.articles.drafts import check_series_folders, render_series

    session = load_session(ctx, writes=True)
    kg = session.graph
    report_diagnostics(kg.diagnostics, everything=False)
    series_list = session.config.series
    refused = 0
    with user_errors():
        check_series_folders(series_list)
        # Everything is rendered before anything is written: a bad template or note in the
        # last series leaves the articles folder as it was.
        rendered = [render_series(session, series, template=template,
                                   today=current_day()) for series in series_list]
        for items in rendered:
            refused += _write_rendered(session, items, force)
    if not series_list:
        click.echo("No [[series]] in kb.toml: nothing to build (see docs/publishing.md, `kb build`).")
    click.echo()
    print_gaps(session, "exercise", as_json=False, report=False)
    ctx.exit(1 if refused else exit_status(kg.diagnostics))
