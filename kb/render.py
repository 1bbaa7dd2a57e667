"""Jinja2 rendering: the vault's templates/ first, the built-in ones second; strict variables.

A vault's templates are data from whoever wrote the vault, so they run in Jinja2's sandbox:
every documented template feature works, but a template cannot reach Python internals
(`''.__class__.__mro__`, `cycler.__init__.__globals__`) to run code. Template files are read
only from inside the templates folder (no symlink out of it), as UTF-8."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import signal
import sys
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2.loaders import split_template_path

from kb.articles.assemble import Article, citation
from kb.errors import KbError, printable
from kb.vault.paths import NotReadableError, is_inside, read_regular_file

TEMPLATE_MAX_BYTES = 1 << 20


class TemplateError(KbError):
    """A template is missing, malformed or uses an unknown variable; names file and line."""


def builtin_templates_dir() -> Path:
    """Inside an installed wheel: kb/templates; in a checkout: the repository's templates/."""
    package = Path(__file__).resolve().parent
    for candidate in (package / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise TemplateError("the built-in templates are missing from this installation of kb")


# Characters JSON leaves as they are but YAML reads as line breaks or refuses: escaped.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _yaml_value(value: Any) -> str:
    """A value as YAML flow text: JSON is valid YAML, quoting and escaping included (with
    the few characters YAML reads differently escaped too)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    text = json.dumps(value, ensure_ascii=False, default=str)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _wikilink(target: str) -> str:
    """`x` → `[[x]]`, the form Obsidian shows as a link in its properties view."""
    target = str(target).strip()
    return target if target.startswith("[[") else f"[[{target}]]"


class VaultTemplateLoader(jinja2.BaseLoader):
    """Templates from a vault's folder: regular UTF-8 files inside it, nothing a symlink or a
    `..` leads to elsewhere. What cannot be read is an error naming the file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()

    def get_source(self, environment: jinja2.Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        path = os.path.join(self.folder, *split_template_path(template))
        if not os.path.lexists(path):
            raise jinja2.TemplateNotFound(template)
        shown = f"templates/{printable(template)}"
        if not is_inside(path, self.folder):
            raise TemplateError(f"{shown} is a symlink to a place outside the templates folder; "
                                "not read")
        try:
            data = read_regular_file(path, TEMPLATE_MAX_BYTES)
            mtime = os.path.getmtime(path)
        except NotReadableError as exc:
            raise TemplateError(f"{shown}: {exc}") from None
        except OSError as exc:
            raise TemplateError(f"{shown}: cannot read: {exc.strerror or exc}") from None
        try:
            source = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise TemplateError(f"{shown}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
                                f"{exc.start}); save it as UTF-8") from None
        return source, path, lambda: os.path.isfile(path) and os.path.getmtime(path) == mtime


# Values a template may hold but never look into or call anything on: a path can read and
# write files (`p.write_text`), a file or module can do anything.
_OPAQUE = (PurePath, os.PathLike, io.IOBase, types.ModuleType, type)
TEMPLATE_SECONDS = 60  # a template that renders longer than this is stopped
MAX_TEMPLATE_STRING = 16 << 20  # `"x" * 4000000000` would take all memory


class KbSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """Jinja2's sandbox, immutable (a template cannot change the lists and dicts kb hands it,
    such as the images an article copies), with paths, files, modules and classes opaque,
    and repetition of a string bounded. Rendering itself is bounded in time by `render`."""

    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _OPAQUE) or isinstance(value, _OPAQUE):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and right > 100:
            raise jinja2.sandbox.SecurityError("a power above 100 is not computed in a template")
        if operator == "*":
            for text, times in ((left, right), (right, left)):
                if isinstance(text, str | list) and isinstance(times, int) and \
                        len(text) * times > MAX_TEMPLATE_STRING:
                    raise jinja2.sandbox.SecurityError("a repetition larger than 16 MiB is not "
                                                       "computed in a template")
        return super().call_binop(context, operator, left, right)


def environment(vault_templates: Path | None) -> jinja2.Environment:
    """The template environment: the vault's templates first, the built-in ones second, all
    rendered in Jinja2's sandbox."""
    loaders: list[jinja2.BaseLoader] = []
    if vault_templates is not None and vault_templates.is_dir():
        loaders.append(VaultTemplateLoader(vault_templates))
    loaders.append(jinja2.FileSystemLoader(str(builtin_templates_dir())))
    env = KbSandbox(
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
    """Every variable a template sees; docs/publishing.md ("Templates") documents each one."""
    from kb.graph.diagram import learning_path_block, learning_path_mermaid

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


class _TemplateTimeout(Exception):
    """Raised inside a render that ran past its time."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Stop the block after `seconds` of wall time (an alarm signal: main thread, POSIX)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: Any) -> None:
        raise _TemplateTimeout

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


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
        with _time_limit(TEMPLATE_SECONDS):
            return template.render(context)
    except _TemplateTimeout:
        raise TemplateError(f"{template.filename}: still rendering after {TEMPLATE_SECONDS} s; "
                            "stopped (a loop that never ends?)") from None
    except jinja2.TemplateSyntaxError as exc:  # in a template included at render time
        raise TemplateError(f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: "
                            f"{exc.message}") from None
    except jinja2.sandbox.SecurityError as exc:
        line = _template_line(exc, template.filename)
        where = f"{template.filename}:{line}" if line else str(template.filename)
        raise TemplateError(f"{where}: the template tried something templates may not do "
                            f"(kb renders them in a sandbox): {exc}") from None
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
