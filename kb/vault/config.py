"""kb.toml: a declared schema (validated by pydantic, extra keys forbidden), and finding the vault.

The schema is plain dataclasses so that reading a validated config back from the cache needs
no pydantic at all: importing it and building the validator is a large share of a warm run
(docs/performance.md)."""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import posixpath
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from kb.errors import Diagnostic, printable
from kb.notes.model import NOTE_TYPES, NoteType
from kb.vault.paths import NAME_MAX_BYTES, NotReadableError, is_inside, read_regular_file

if TYPE_CHECKING:  # imported for pydantic only when kb.toml is validated: see _constraints
    from annotated_types import Ge, Gt, Le, Lt

CONFIG_NAME = "kb.toml"
CONFIG_MAX_BYTES = 1 << 20  # a settings file; anything larger is not one
CONFIG_MAX_DEPTH = 16  # kb.toml's own schema nests three deep
DEFAULT_MAX_NOTE_BYTES = 8 << 20
MAX_NOTE_BYTES_CEILING = 256 << 20  # what a vault's own kb.toml may raise the limit to, at most


@dataclass
class SeriesConfig:
    """One `[[series]]` table: an ordered run of articles."""

    __pydantic_config__ = {"extra": "forbid"}

    title: str
    slug: str
    parts: list[str]
    description: str | None = None


@dataclass
class RunConfig:
    """The `[run]` table: how `kb run` executes practice code (see docs/run.md)."""

    __pydantic_config__ = {"extra": "forbid"}

    timeout: Annotated[float, Gt(0)] = 30.0  # seconds per note; a note's `timeout:` overrides
    # language → command, e.g. bash = ["bash"]; the program file is appended (or put where
    # "{file}" stands). python defaults to the interpreter kb runs on.
    languages: dict[str, list[str]] = field(default_factory=dict)
    # a pass on a day is a review (`good`), a failure an `again`, for the memory model
    counts_as_review: bool = False


@dataclass
class TypeRule:
    """`[conventions.types.TYPE]`: which notes get that type when their front matter has none."""

    __pydantic_config__ = {"extra": "forbid"}

    tags: list[str] = field(default_factory=list)  # a tag (front matter or #tag), or its nested tags
    folders: list[str] = field(default_factory=list)  # a folder inside the notes folder, at any depth
    prefixes: list[str] = field(default_factory=list)  # how the file name starts


@dataclass
class Conventions:
    """The `[conventions]` table: relations a vault already writes, mapped onto kb's fields
    (see docs/conventions.md). Keys name front-matter properties and Dataview inline fields
    (`key:: value`, `[key:: value]`) alike."""

    __pydantic_config__ = {"extra": "forbid"}

    prerequisites: list[str] = field(default_factory=list)
    concept: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    prerequisite_headings: list[str] = field(default_factory=list)  # e.g. "Prerequisites"
    # "heading": front-matter title, else the opening # heading, else the file name (kb's
    # default); "file-name": front-matter title, else the file name (as Obsidian shows it)
    title: Literal["heading", "file-name"] = "heading"
    types: dict[NoteType, TypeRule] = field(default_factory=dict)


@dataclass
class Config:
    """Every key is optional; docs/configuration.md says what each does."""

    __pydantic_config__ = {"extra": "forbid"}

    notes: str | None = None  # None: `notes/` if it exists, else the vault root
    articles: str = "articles"
    templates: str = "templates"
    author: str | None = None
    template: str = "article.md.j2"
    citations: Literal["plain", "quarto"] = "plain"  # quarto: [@key] + references.bib
    stalled_days: Annotated[int, Ge(1)] = 30  # a `reading` source with no new note for this long
    # notes-relative glob patterns (`Archive/**`, `*.excalidraw.md`) of files that are not notes
    exclude: list[str] = field(default_factory=list)
    # a larger file is reported and skipped, so one huge or endless file cannot stall kb
    max_note_bytes: Annotated[int, Ge(1), Le(MAX_NOTE_BYTES_CEILING)] = DEFAULT_MAX_NOTE_BYTES
    retention: Annotated[float, Gt(0), Lt(1)] = 0.9  # kb review: desired recall probability
    # where `kb new` and `kb sources import` put each type of note, relative to `notes`
    folders: dict[NoteType, str] = field(default_factory=dict)
    series: list[SeriesConfig] = field(default_factory=list)
    run: RunConfig = field(default_factory=RunConfig)
    conventions: Conventions = field(default_factory=Conventions)


def locate_vault(explicit: str | os.PathLike[str] | None, cwd: Path | None = None
                 ) -> tuple[Path, bool]:
    """`--vault`, else `$KB_VAULT`, else the nearest folder up from cwd with kb.toml, else cwd;
    and whether the vault was named or found by its kb.toml — False when kb fell back to the
    current folder."""
    if explicit:
        return Path(explicit).expanduser().resolve(), True
    env = os.environ.get("KB_VAULT")
    if env:
        return Path(env).expanduser().resolve(), True
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder, True
    return here, False


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
    if len(loc) > 1 and loc[-1] == "[key]":  # pydantic's place for a bad dict key
        loc = loc[:-1]
    key = str(loc[-1]) if not isinstance(loc[-1], int) else str(loc[0])
    pattern = re.compile(rf"\s*[\"']?{re.escape(key)}[\"']?\s*=")
    for number in range(start, len(lines)):
        if pattern.match(lines[number]):
            return number + 1
    # a table named by the key, e.g. [conventions.types.concepts]
    header = re.compile(rf"\s*\[[^\]]*\b{re.escape(key)}[\"']?\s*\]")
    for number in range(start, len(lines)):
        if header.match(lines[number]):
            return number + 1
    return start + 1 if start else 1


def read_config_text(root: Path) -> tuple[str | None, Diagnostic | None]:
    """kb.toml's text (None when there is none), or why it cannot be read. A kb.toml that is
    a symlink out of the vault, a FIFO or huge is not read."""
    path = root / CONFIG_NAME
    if not os.path.lexists(path):
        return None, None
    if not is_inside(path, root):
        return None, Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                "kb.toml is a symlink to a file outside the vault; not read")
    try:
        return read_regular_file(str(path), CONFIG_MAX_BYTES).decode("utf-8-sig"), None
    except NotReadableError as exc:
        return None, Diagnostic(CONFIG_NAME, 0, "error", "config-error", f"not read: {exc}")
    except UnicodeDecodeError as exc:
        return None, Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                f"not valid UTF-8 (byte offset {exc.start})")
    except OSError as exc:
        return None, Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                f"cannot read: {exc.strerror or exc}")


def _depth(value: Any, limit: int) -> int:
    """How deep tables and arrays nest in `value`, counting no further than `limit` + 1."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        if level > limit:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest


def path_problem(value: str) -> str | None:
    """Why a folder named in kb.toml cannot be used, or None: it must be a relative path that
    stays inside the vault (checked again against symlinks when it is used)."""
    if not value.strip():
        return "is empty"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return "holds a control character"
    normal = value.replace("\\", "/")
    if normal.startswith("/") or re.match(r"[A-Za-z]:", normal) or normal.startswith("~"):
        return "must be a folder inside the vault, not an absolute path"
    parts = posixpath.normpath(normal).split("/")
    if parts[0] == "..":
        return "must be a folder inside the vault; its '..' leads outside"
    if any(len(part.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES for part in parts):
        return f"has a folder name longer than {NAME_MAX_BYTES} bytes"
    return None


def _shown(value: object) -> str:
    text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "…"


def _check_paths(config: Config, text: str) -> list[Diagnostic]:
    """Every folder in the config that would leave the vault: an error, and the default instead."""
    diagnostics = []
    defaults = Config()
    for key in ("notes", "articles", "templates"):
        value = getattr(config, key)
        problem = (None if value is None and key == "notes" else
                   path_problem(value) if isinstance(value, str) else "must be text")
        if problem:
            diagnostics.append(Diagnostic(CONFIG_NAME, _key_line(text, (key,)), "error", "config-error",
                                          f"'{key}' {problem} (got {printable(repr(value))}); "
                                          f"using the default"))
            setattr(config, key, getattr(defaults, key))
    for note_type, folder in list(config.folders.items()):
        problem = ("must be text" if not isinstance(folder, str) else
                   path_problem(folder) if folder.strip() not in ("", ".") else None)
        if problem:
            diagnostics.append(Diagnostic(CONFIG_NAME, _key_line(text, ("folders", note_type)), "error",
                                          "config-error", f"'folders.{note_type}' {problem} "
                                          f"(got {_shown(folder)}); using the notes folder"))
            del config.folders[note_type]
    return diagnostics


# The settings whose type is text (`str` or `str | None`), read off the schema: a value that
# is text is valid as it is.
PLAIN_TEXT_KEYS = frozenset(f.name for f in dataclasses.fields(Config) if f.type in ("str", "str | None"))


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
    except RecursionError:
        return Config(), [Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                     "nested too deeply to be kb's settings; ignored")]
    if _depth(data, CONFIG_MAX_DEPTH) > CONFIG_MAX_DEPTH:
        return Config(), [Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                     f"tables or arrays nest more than {CONFIG_MAX_DEPTH} deep; "
                                     "kb's settings never do; ignored")]
    if all(key in PLAIN_TEXT_KEYS and isinstance(value, str) for key, value in data.items()):
        # Only text settings, as text (`notes = "."`, a minimal kb.toml): what pydantic would
        # return, without building its validator for the whole schema.
        config = Config(**data)
        return config, _check_paths(config, text)
    from pydantic import TypeAdapter, ValidationError

    _constraints()
    validator = TypeAdapter(Config)
    diagnostics: list[Diagnostic] = []
    for _ in range(len(data) + 1):
        try:
            config = validator.validate_python(data)
            return config, diagnostics + _check_paths(config, text)
        except ValidationError as exc:
            bad = set()
            for err in exc.errors():
                loc = tuple(err["loc"])
                unknown = err["type"] in ("extra_forbidden", "unexpected_keyword_argument")
                message = _unknown_key(loc) if unknown else str(err["msg"]).lower()
                dotted = printable(".".join(str(p) for p in loc))
                diagnostics.append(Diagnostic(CONFIG_NAME, _key_line(text, loc), "error",
                                              "config-error", f"'{dotted}': {message}"))
                bad.add(str(loc[0]))
            for key in bad:
                data.pop(key, None)
        except (RecursionError, ValueError, TypeError) as exc:  # values pydantic cannot even read
            return Config(), [*diagnostics, Diagnostic(CONFIG_NAME, 0, "error", "config-error",
                                                       f"cannot be read as kb's settings: {exc}")]
    return Config(), diagnostics  # pragma: no cover - every pass removes a bad key


def _constraints() -> None:
    """Put the constraint types the schema's annotations name (`Annotated[int, Ge(1)]`) where
    pydantic looks them up: this module's namespace. A warm run reads kb.toml from its memo and
    never validates it, so it does not import them."""
    import annotated_types

    globals().update(Ge=annotated_types.Ge, Gt=annotated_types.Gt, Le=annotated_types.Le,
                     Lt=annotated_types.Lt)


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """'unknown key', with the key it most likely meant."""
    fields: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Config))
    if len(loc) >= 3 and loc[0] == "series":
        fields = tuple(f.name for f in dataclasses.fields(SeriesConfig))
    elif len(loc) >= 4 and loc[0] == "conventions" and loc[1] == "types":
        fields = tuple(f.name for f in dataclasses.fields(TypeRule))
    elif len(loc) >= 2 and loc[0] == "conventions":
        fields = tuple(f.name for f in dataclasses.fields(Conventions))
    elif len(loc) >= 2 and loc[0] == "folders":
        fields = NOTE_TYPES
    close = difflib.get_close_matches(str(loc[-1]).lower(), fields, n=1, cutoff=0.6)
    return f"unknown key; did you mean '{close[0]}'?" if close else \
        f"unknown key (known: {', '.join(fields)})"


def load_config(root: Path, memo: str | None = None
                ) -> tuple[Config, list[Diagnostic], str | None]:
    """Read and validate kb.toml, or take it from `memo` (see config_memo) when the memo was
    made from its very text — no pydantic then. The third value is a new memo to keep, or
    None when `memo` still holds (or the file could not be read)."""
    text, problem = read_config_text(root)
    if problem is not None:
        return Config(), [problem], None
    stamp = _config_stamp(root)
    remembered = config_from_memo(memo, text, stamp) if memo is not None else None
    if remembered is not None:
        return *remembered, None
    config, diagnostics = parse_config(text)
    return config, diagnostics, config_memo(text, config, diagnostics, stamp)


def _config_stamp(root: Path) -> list[int] | None:
    """kb.toml's size, mtime, ctime and inode: a memo made on this machine from this very
    file. A memo in a `.kb/` that came with someone else's vault cannot match it, so a forged
    memo is never taken instead of validating kb.toml."""
    try:
        info = os.stat(root / CONFIG_NAME)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]


def config_memo(text: str | None, config: Config, diagnostics: list[Diagnostic],
                stamp: list[int] | None = None) -> str:
    """What validating kb.toml's `text` gave, as JSON, to be kept in the cache."""
    return json.dumps({"text": text, "stamp": stamp, "config": dataclasses.asdict(config),
                       "diagnostics": [dataclasses.astuple(d) for d in diagnostics]},
                      ensure_ascii=False)


def config_from_memo(memo: str, text: str | None, stamp: list[int] | None = None
                     ) -> tuple[Config, list[Diagnostic]] | None:
    """The config and diagnostics a memo holds, if it was made from exactly this `text`;
    None when it was not, or is not a memo at all."""
    try:
        data = json.loads(memo)
        if data["text"] != text or data.get("stamp") != stamp:
            return None
        values = dict(data["config"])
        values["series"] = [SeriesConfig(**s) for s in values["series"]]
        if "run" in values:
            values["run"] = RunConfig(**values["run"])
        if "conventions" in values:
            conventions = dict(values["conventions"])
            conventions["types"] = {name: TypeRule(**rule)
                                    for name, rule in conventions.get("types", {}).items()}
            values["conventions"] = Conventions(**conventions)
        config = Config(**values)
        diagnostics = [Diagnostic(*d) for d in data["diagnostics"]]
    except (ValueError, KeyError, TypeError):
        return None
    # The memo lives in .kb/, which a vault may bring along: its folders are checked again.
    return config, diagnostics + _check_paths(config, text or "")
