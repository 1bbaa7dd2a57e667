"""kb.toml: a declared schema (validated by pydantic, extra keys forbidden), and finding the vault.

The schema is plain dataclasses so that reading a validated config back from the cache needs
no pydantic at all: importing it and building the validator is a tenth of a warm run."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from annotated_types import Ge, Gt, Lt  # what pydantic reads constraints from; cheap to import

from kb.errors import Diagnostic

CONFIG_NAME = "kb.toml"


@dataclass
class SeriesConfig:
    """One `[[series]]` table: an ordered run of articles."""

    __pydantic_config__ = {"extra": "forbid"}

    title: str
    slug: str
    parts: list[str]
    description: str | None = None


@dataclass
class Config:
    """Every key is optional; see the README for what each does."""

    __pydantic_config__ = {"extra": "forbid"}

    notes: str | None = None  # None: `notes/` if it exists, else the vault root
    articles: str = "articles"
    templates: str = "templates"
    author: str | None = None
    template: str = "article.md.j2"
    citations: Literal["plain", "quarto"] = "plain"  # quarto: [@key] + references.bib
    stalled_days: Annotated[int, Ge(1)] = 30  # a `reading` source with no new note for this long
    retention: Annotated[float, Gt(0), Lt(1)] = 0.9  # kb review: desired recall probability
    # where `kb new` and `kb sources import` put each type of note, relative to `notes`
    folders: dict[Literal["concept", "reading", "practice", "source"], str] = field(default_factory=dict)
    series: list[SeriesConfig] = field(default_factory=list)


def find_vault(explicit: str | os.PathLike[str] | None, cwd: Path | None = None) -> Path:
    """`--vault`, else `$KB_VAULT`, else the nearest folder up from cwd with kb.toml, else cwd."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("KB_VAULT")
    if env:
        return Path(env).expanduser().resolve()
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return here


def _key_line(text: str, loc: tuple[Any, ...]) -> int:
    """The 1-based line a key (e.g. ('series', 1, 'parts')) is written on in kb.toml."""
    lines = text.splitlines()
    start = 0
    if len(loc) >= 2 and isinstance(loc[1], int):
        table, index = str(loc[0]), loc[1]
        headers = [i for i, ln in enumerate(lines) if re.match(rf"\s*\[\[\s*{re.escape(table)}\s*\]\]", ln)]
        if index < len(headers):
            start = headers[index]
            if len(loc) == 2:
                return start + 1
    key = str(loc[-1]) if not isinstance(loc[-1], int) else str(loc[0])
    pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number in range(start, len(lines)):
        if pattern.match(lines[number]):
            return number + 1
    return start + 1 if start else 1


def read_config_text(root: Path) -> tuple[str | None, Diagnostic | None]:
    """kb.toml's text (None when there is none), or why it cannot be read."""
    path = root / CONFIG_NAME
    if not path.is_file():
        return None, None
    try:
        return path.read_text(encoding="utf-8-sig"), None
    except (OSError, UnicodeDecodeError) as exc:
        return None, Diagnostic(CONFIG_NAME, 0, "error", "config-error", f"cannot read: {exc}")


def parse_config(text: str | None) -> tuple[Config, list[Diagnostic]]:
    """Validate kb.toml's text; every bad key is a diagnostic with its line, and defaults stand in."""
    if text is None:
        return Config(), []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else 0
        return Config(), [Diagnostic(CONFIG_NAME, line, "error", "config-error",
                                     f"not valid TOML: {exc}")]
    from pydantic import TypeAdapter, ValidationError

    validator = TypeAdapter(Config)
    diagnostics: list[Diagnostic] = []
    for _ in range(len(data) + 1):
        try:
            return validator.validate_python(data), diagnostics
        except ValidationError as exc:
            bad = set()
            for err in exc.errors():
                loc = tuple(err["loc"])
                message = ("unknown key" if err["type"] in ("extra_forbidden", "unexpected_keyword_argument")
                           else str(err["msg"]).lower())
                dotted = ".".join(str(p) for p in loc)
                diagnostics.append(Diagnostic(CONFIG_NAME, _key_line(text, loc), "error",
                                              "config-error", f"'{dotted}': {message}"))
                bad.add(str(loc[0]))
            for key in bad:
                data.pop(key, None)
    return Config(), diagnostics  # pragma: no cover - every pass removes a bad key


def load_config(root: Path, memo: str | None = None
                ) -> tuple[Config, list[Diagnostic], str | None]:
    """Read and validate kb.toml, or take it from `memo` (see config_memo) when the memo was
    made from its very text — no pydantic then. The third value is a new memo to keep, or
    None when `memo` still holds (or the file could not be read)."""
    text, problem = read_config_text(root)
    if problem is not None:
        return Config(), [problem], None
    remembered = config_from_memo(memo, text) if memo is not None else None
    if remembered is not None:
        return *remembered, None
    config, diagnostics = parse_config(text)
    return config, diagnostics, config_memo(text, config, diagnostics)


def config_memo(text: str | None, config: Config, diagnostics: list[Diagnostic]) -> str:
    """What validating kb.toml's `text` gave, as JSON, to be kept in the cache."""
    return json.dumps({"text": text, "config": dataclasses.asdict(config),
                       "diagnostics": [dataclasses.astuple(d) for d in diagnostics]},
                      ensure_ascii=False)


def config_from_memo(memo: str, text: str | None) -> tuple[Config, list[Diagnostic]] | None:
    """The config and diagnostics a memo holds, if it was made from exactly this `text`;
    None when it was not, or is not a memo at all."""
    try:
        data = json.loads(memo)
        if data["text"] != text:
            return None
        values = dict(data["config"])
        values["series"] = [SeriesConfig(**s) for s in values["series"]]
        return Config(**values), [Diagnostic(*d) for d in data["diagnostics"]]
    except (ValueError, KeyError, TypeError):
        return None
