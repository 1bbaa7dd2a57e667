"""Jinja2 rendering: the vault's templates/ first, the built-in ones second; strict variables."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import jinja2

from kb.assemble import Article, citation
from kb.errors import KbError


class TemplateError(KbError):
    """A template is missing, malformed or uses an unknown variable; names file and line."""


def builtin_templates_dir() -> Path:
    """Inside an installed wheel: kb/templates; in a checkout: the repository's templates/."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise TemplateError("the built-in templates are missing from this installation of kb")


def _yaml_value(value: Any) -> str:
    """A value as YAML flow text: JSON is valid YAML, quoting and escaping included."""
    if isinstance(value, dt.date):
        return value.isoformat()
    return json.dumps(value, ensure_ascii=False, default=str)


def _wikilink(target: str) -> str:
    """`x` → `[[x]]`, the form Obsidian shows as a link in its properties view."""
    target = str(target).strip()
    return target if target.startswith("[[") else f"[[{target}]]"


def environment(vault_templates: Path | None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if vault_templates is not None and vault_templates.is_dir():
        loaders.append(jinja2.FileSystemLoader(str(vault_templates)))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates_dir())))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2", "htm.j2", "xml.j2", "html"),
                                            default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["yaml"] = _yaml_value
    env.filters["wikilink"] = _wikilink
    env.filters["cite"] = citation
    return env


def output_extension(template_name: str) -> str:
    """`article.qmd.j2` → `.qmd`; a name without an inner extension gives `.md`."""
    stem = template_name.removesuffix(".j2")
    suffix = Path(stem).suffix
    return suffix if suffix else ".md"


def _template_line(exc: BaseException, filename: str | None) -> int | None:
    """The template line a runtime error happened on, from Jinja's rewritten traceback."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if filename and tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def article_context(article: Article, *, author: str | None, today: dt.date,
                    series: dict[str, Any] | None = None, citations: str = "plain",
                    bibliography: str | None = None) -> dict[str, Any]:
    """Every variable a template sees; the README documents each one."""
    from kb.diagram import learning_path_block, learning_path_mermaid

    count = len(article.sections)
    others = count - 1
    description = (f"{article.title}, built up from {others} prerequisite concept"
                   f"{'s' * (others != 1)} in learning order." if others > 0 else article.title)
    return {
        "article": article,
        "title": article.title,
        "slug": article.slug,
        "description": description,
        "date": article.date or today,
        "author": author,
        "categories": article.categories,
        "sections": article.sections,
        "missing": article.missing,
        "exercises": article.exercises,
        "references": article.references,
        "covered_elsewhere": article.covered_elsewhere,
        "series": series,
        "citations": citations,
        "bibliography": bibliography,
        "extra": article.target.definition.extra if article.target.definition else {},
        "learning_path": learning_path_block(article),
        "learning_path_mermaid": learning_path_mermaid(article)[0],
    }


def render(env: jinja2.Environment, template_name: str, context: dict[str, Any]) -> str:
    try:
        template = env.get_template(template_name)
    except jinja2.TemplateNotFound as exc:
        raise TemplateError(f"template '{exc.name}' not found in the vault's templates/ folder "
                            "or among the built-in templates") from None
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: "
                            f"{exc.message}") from None
    try:
        return template.render(context)
    except jinja2.TemplateSyntaxError as exc:  # in a template included at render time
        raise TemplateError(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: "
                            f"{exc.message}") from None
    except jinja2.TemplateError as exc:
        line = _template_line(exc, template.filename)
        where = f"{template.filename}:{line}" if line else str(template.filename)
        raise TemplateError(f"{where}: {exc}") from None
    except Exception as exc:  # a filter or attribute error inside a user's template
        line = _template_line(exc, template.filename)
        if line is None:
            raise
        raise TemplateError(f"{template.filename}:{line}: {type(exc).__name__}: {exc}").with_traceback(
            sys.exc_info()[2]) from None
