"""Front matter: YAML (safe, C loader when present) with field lines, validated by pydantic."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from kb.errors import Diagnostic

try:  # the C loader is several times faster; both are safe loaders
    from yaml import CSafeLoader as _SafeLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _SafeLoader  # type: ignore[assignment]


def _flatten(value: Any) -> Any:
    """Unquoted `[[x]]` in YAML is a list inside a list: read it back as the link `x`."""
    if isinstance(value, list):
        flat: list[Any] = []
        for item in value:
            if isinstance(item, list) and all(isinstance(i, str) for i in item):
                flat.extend(item)
            else:
                flat.append(item)
        return flat
    return value


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str | int | float):
        return [str(value)]
    return _flatten(value)


def _as_single(value: Any) -> Any:
    value = _flatten(value)
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


StrList = Annotated[list[str], BeforeValidator(_as_list)]
SingleStr = Annotated[str | None, BeforeValidator(_as_single)]


class FrontMatter(BaseModel):
    """The fields kb knows; anything else is kept as extra and passed to templates."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    type: Literal["concept", "reading", "practice", "source"] | None = None
    title: str | None = None
    concept: StrList = Field(default_factory=list)
    prerequisites: StrList = Field(default_factory=list)
    source: SingleStr = None
    locator: str | None = None
    practice: Literal["exercise", "code", "project"] | None = None
    date: dt.date | None = None
    aliases: StrList = Field(default_factory=list)
    tags: StrList = Field(default_factory=list)
    order: float | None = None
    kind: Literal["book", "paper", "course", "video", "article", "other"] | None = None
    authors: StrList = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    status: Literal["to-read", "reading", "finished", "dropped"] | None = None
    citekey: str | None = None
    doi: str | None = None
    venue: str | None = None


KNOWN_FIELDS: tuple[str, ...] = tuple(FrontMatter.model_fields)


def _edit_distance_at_most_one(a: str, b: str) -> bool:
    """True when a and b differ by one insertion, deletion, substitution or swap."""
    if a == b:
        return False
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def near_miss(name: str) -> str | None:
    """The known field an unknown one most likely meant, or None."""
    lowered = name.lower()
    if lowered in KNOWN_FIELDS and lowered != name:
        return lowered
    for known in KNOWN_FIELDS:
        if _edit_distance_at_most_one(lowered, known):
            return known
    return None


class RawFrontMatter:
    """The loaded YAML mapping plus the 1-based file line of each key and list item."""

    def __init__(self, data: dict[str, Any], key_lines: dict[str, int],
                 item_lines: dict[str, list[int]]) -> None:
        self.data = data
        self.key_lines = key_lines
        self.item_lines = item_lines


def load_yaml(
    text: str, path: str, first_line: int
) -> tuple[RawFrontMatter | None, list[Diagnostic]]:
    """Parse front-matter YAML whose first line is file line `first_line` (1-based)."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        # An unclosed bracket or quote is found only at the end of the text: point at
        # where it was opened instead.
        if context is not None and (mark is None or mark.index >= len(text.rstrip())):
            mark = context
        line = first_line + mark.line if mark is not None else first_line
        problem = getattr(exc, "problem", None) or str(exc)
        return None, [Diagnostic(path, line, "error", "yaml-error",
                                 f"front matter is not valid YAML: {problem}")]
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2024-02-31
        return None, [Diagnostic(path, first_line, "error", "yaml-error",
                                 f"front matter is not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if data is None:
        return RawFrontMatter({}, {}, {}), []
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        return None, [Diagnostic(path, first_line, "error", "frontmatter-not-mapping",
                                 f"front matter must be a mapping of fields, "
                                 f"not a {type(data).__name__}")]
    key_lines: dict[str, int] = {}
    item_lines: dict[str, list[int]] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        key_lines[key] = first_line + key_node.start_mark.line
        if isinstance(value_node, yaml.SequenceNode):
            item_lines[key] = [first_line + item.start_mark.line for item in value_node.value]
    # Keys that are not strings (`1: x`, `null: y`) are turned into strings so
    # templates and diagnostics can name them.
    clean = {str(k): v for k, v in data.items()}
    return RawFrontMatter(clean, key_lines, item_lines), []


def validate(raw: RawFrontMatter, path: str) -> tuple[FrontMatter, list[Diagnostic]]:
    """Validate known fields; a bad field is reported at its line and dropped, the rest kept."""
    data = dict(raw.data)
    diagnostics: list[Diagnostic] = []
    for _ in range(len(KNOWN_FIELDS) + 1):
        try:
            model = FrontMatter.model_validate(data)
            break
        except ValidationError as exc:
            bad: set[str] = set()
            for err in exc.errors():
                field_name = str(err["loc"][0]) if err["loc"] else ""
                if field_name in bad or field_name not in data:
                    continue
                bad.add(field_name)
                diagnostics.append(Diagnostic(
                    path, raw.key_lines.get(field_name, 1), "error", "invalid-field",
                    f"field '{field_name}': {_describe(err)} (got {data[field_name]!r})",
                ))
            if not bad:  # pragma: no cover - defensive: never loop forever
                model = FrontMatter()
                break
            for field_name in bad:
                del data[field_name]
    else:  # pragma: no cover
        model = FrontMatter()
    for name in model.model_extra or {}:
        intended = near_miss(name)
        if intended is not None:
            diagnostics.append(Diagnostic(
                path, raw.key_lines.get(name, 1), "warning", "near-miss-field",
                f"unknown field '{name}': did you mean '{intended}'?",
            ))
    return model, diagnostics


def _describe(err: Any) -> str:
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}"
    return str(err["msg"]).lower()
