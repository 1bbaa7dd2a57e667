"""kb.toml: a declared schema (pydantic, extra keys forbidden), and finding the vault."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from kb.errors import Diagnostic

CONFIG_NAME = "kb.toml"


class SeriesConfig(BaseModel):
    """One `[[series]]` table: an ordered run of articles."""

    model_config = ConfigDict(extra="forbid")

    title: str
    slug: str
    parts: list[str]
    description: str | None = None


class Config(BaseModel):
    """Every key is optional; see the README for what each does."""

    model_config = ConfigDict(extra="forbid")

    notes: str | None = None  # None: `notes/` if it exists, else the vault root
    articles: str = "articles"
    templates: str = "templates"
    author: str | None = None
    template: str = "article.md.j2"
    citations: Literal["plain", "quarto"] = "plain"  # quarto: [@key] + references.bib
    stalled_days: int = Field(30, ge=1)  # a `reading` source with no new note for this long
    # where `kb new` and `kb sources import` put each type of note, relative to `notes`
    folders: dict[Literal["concept", "reading", "practice", "source"], str] = {}
    series: list[SeriesConfig] = []


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


def load_config(root: Path) -> tuple[Config, list[Diagnostic]]:
    """Read kb.toml; every bad key is a diagnostic with its line, and defaults stand in."""
    path = root / CONFIG_NAME
    if not path.is_file():
        return Config(), []
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        return Config(), [Diagnostic(CONFIG_NAME, 0, "error", "config-error", f"cannot read: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = int(match.group(1)) if match else 0
        return Config(), [Diagnostic(CONFIG_NAME, line, "error", "config-error",
                                     f"not valid TOML: {exc}")]
    diagnostics: list[Diagnostic] = []
    for _ in range(len(data) + 1):
        try:
            return Config.model_validate(data), diagnostics
        except ValidationError as exc:
            bad = set()
            for err in exc.errors():
                loc = tuple(err["loc"])
                message = ("unknown key" if err["type"] == "extra_forbidden"
                           else str(err["msg"]).lower())
                dotted = ".".join(str(p) for p in loc)
                diagnostics.append(Diagnostic(CONFIG_NAME, _key_line(text, loc), "error",
                                              "config-error", f"'{dotted}': {message}"))
                bad.add(str(loc[0]))
            for key in bad:
                data.pop(key, None)
    return Config(), diagnostics  # pragma: no cover - every pass removes a bad key
