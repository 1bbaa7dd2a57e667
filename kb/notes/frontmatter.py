"""Front matter: YAML (safe, C loader when present) with field lines, validated by pydantic."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

import yaml
from annotated_types import Gt
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from kb.errors import Diagnostic
from kb.notes.model import NOTE_TYPES, NoteType, PracticeKind, ReviewResult, SourceKind, SourceStatus

try:  # the C loader is much faster (docs/performance.md); both are safe loaders
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

# Bounds on what one note's front matter can make kb do (see docs/trust.md): YAML aliases can
# make a dozen lines stand for billions of values, and nesting can be arbitrarily deep.
MAX_VALUES = 10_000  # scalars, lists and mappings, counting each alias as what it stands for
MAX_DEPTH = 32
MAX_INT_DIGITS = 40  # a longer integer is kept as its text (Python will not print 4,300+ digits)
_INT_TAG = "tag:yaml.org,2002:int"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _int_or_text(loader: Any, node: yaml.ScalarNode) -> Any:
    if len(node.value) > MAX_INT_DIGITS:
        return node.value
    return SafeConstructor.construct_yaml_int(loader, node)


def _timestamp_or_text(loader: Any, node: yaml.ScalarNode) -> Any:
    try:
        return SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):  # 2026-02-30: reported by _check_nodes, kept as text
        return node.value


class _SafeLoader(_BaseLoader):
    """PyYAML's safe loader, but a date that does not exist or a huge integer stays text."""


_SafeLoader.add_constructor(_INT_TAG, _int_or_text)
_SafeLoader.add_constructor(_TIMESTAMP_TAG, _timestamp_or_text)


def _plain(value: Any) -> Any:
    """Sets and YAML's ordered pairs as lists (sets sorted), so every value has one order on
    every run and reads back from the cache as it was."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=lambda v: (type(v).__name__, repr(v)))
    return value


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

    type: NoteType | None = None
    title: str | None = None
    concept: StrList = Field(default_factory=list)
    prerequisites: StrList = Field(default_factory=list)
    source: SingleStr = None
    locator: str | None = None
    practice: PracticeKind | None = None
    result: ReviewResult | None = None
    minutes: Annotated[float, Field(ge=0)] | None = None
    date: dt.date | None = None
    aliases: StrList = Field(default_factory=list)
    tags: StrList = Field(default_factory=list)
    order: float | None = None
    kind: SourceKind | None = None
    authors: StrList = Field(default_factory=list)
    year: int | None = None
    url: str | None = None
    status: SourceStatus | None = None
    citekey: str | None = None
    doi: str | None = None
    venue: str | None = None
    requires: StrList = Field(default_factory=list)  # modules a practice note's code needs
    timeout: Annotated[float, Gt(0)] | None = None  # seconds kb run allows a practice note


KNOWN_FIELDS: tuple[str, ...] = tuple(FrontMatter.model_fields)
SOURCE_FIELDS = ("kind", "authors", "year", "url", "status", "citekey", "doi", "venue")
PRACTICE_FIELDS = ("practice", "result", "minutes", "requires", "timeout")
# Properties other tools write that are one edit from a kb field, yet mean something else:
# never "did you mean". Names that differ from a kb field only in case (`Title`, `Status`)
# are other tools' too.
COMMON_PROPERTIES = frozenset({"author", "sources", "tag", "alias", "dates", "kinds", "years",
                               "urls", "orders", "concepts", "note", "notes", "types", "titles",
                               "state", "due", "done", "data", "time", "name", "link", "links"})
# Fields whose bad value is a warning that keeps the value as written (other tools use them
# loosely: `date: March 2021`, `order: first`); kb just does not use it. An unknown `type` is
# set aside before validation (see validate).
LENIENT_FIELDS = frozenset({"date", "order", "timeout"})


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
    """The known field an unknown one most likely meant (`prerequisite`, `concpet`), or None
    — also for names that are common properties in other tools or differ only in case."""
    lowered = name.lower()
    if lowered in KNOWN_FIELDS or lowered in COMMON_PROPERTIES:
        return None
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
    text: str, path: str, first_line: int, *, simple: bool = True
) -> tuple[RawFrontMatter | None, list[Diagnostic]]:
    """Parse front-matter YAML whose first line is file line `first_line` (1-based).
    `simple=False` always uses PyYAML, even for front matter `simple_mapping` can read."""
    if simple:
        found = simple_mapping(text, first_line)
        if found is not None:
            return found, []
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        problems = _check_nodes(node, path, first_line) if node is not None else []
        if any(d.severity == "error" for d in problems):
            return None, problems
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        return None, [_yaml_error(exc, text, path, first_line)]
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        return None, [Diagnostic(path, first_line, "error", "yaml-error",
                                 f"front matter is not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if data is None:
        return RawFrontMatter({}, {}, {}), problems
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
    data = _plain(data)
    # Keys that are not strings (`1: x`, `null: y`) are turned into strings so
    # templates and diagnostics can name them.
    clean = {str(k): v for k, v in data.items()}
    return RawFrontMatter(clean, key_lines, item_lines), problems


# PyYAML's messages, with what to do about the common ones.
_YAML_HINTS = (
    ("mapping values are not allowed", "a value holding ': ' must be quoted, "
                                       "e.g. title: \"Eigenvalues: a primer\""),
    ("found undefined alias", "a value starting with '*' must be quoted"),
    ("expected alphabetic or numeric character", "a value starting with '*' or '&' must be quoted"),
    ("that cannot start any token", "quote a value that starts with @ or `"),
    ("did not find expected ',' or ']'", "inside [ ], quote each item that holds [[, ]], ',' or ':', "
                                         "e.g. [\"[[a]]\", \"[[b]]\"]"),
    ("did not find expected key", "check the indentation of this line and the one above"),
)


def _yaml_error(exc: yaml.YAMLError, text: str, path: str, first_line: int) -> Diagnostic:
    """One diagnostic, on one line, at the line the problem is on, with a hint where one helps."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow at all
        line = first_line + text.count("\n", 0, max(exc.position, 0))
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        return Diagnostic(path, line, "error", "yaml-error",
                          f"front matter holds the control character U+{ord(char):04X}, which YAML "
                          "does not allow; remove it")
    mark = getattr(exc, "problem_mark", None)
    context = getattr(exc, "context_mark", None)
    # An unclosed bracket or quote is found only at the end of the text: point at
    # where it was opened instead.
    if context is not None and (mark is None or mark.index >= len(text.rstrip())):
        mark = context
    line = first_line + mark.line if mark is not None else first_line
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    hint = next((h for needle, h in _YAML_HINTS if needle in problem), None)
    found = getattr(exc, "problem_mark", None)
    if found is not None and 0 <= found.index < len(text) and text[found.index] == "\t":
        hint = "YAML does not allow tabs for indentation: use spaces"
    return Diagnostic(path, line, "error", "yaml-error", f"front matter is not valid YAML: {problem}"
                      + (f" (hint: {hint})" if hint else ""))


def _check_nodes(root: yaml.Node, path: str, first_line: int) -> list[Diagnostic]:
    """What the composed YAML would make kb do, before it is constructed: more values than
    MAX_VALUES once aliases are expanded, nesting deeper than MAX_DEPTH or a recursive alias
    (errors); a date that does not exist, an integer too long to use, a key written twice
    (warnings, the rest is kept)."""
    sizes: dict[int, int] = {}
    depths: dict[int, int] = {}
    diagnostics: list[Diagnostic] = []
    seen_scalars: set[int] = set()
    # Iterative post-order walk: every node once (aliases are the same node object).
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            children = _children(node)
            sizes[key] = min(1 + sum(sizes[id(c)] for c in children), MAX_VALUES + 1)
            depths[key] = 1 + max((depths[id(c)] for c in children), default=0)
            continue
        if key in sizes:
            continue
        if key in on_path:
            return [Diagnostic(path, first_line + node.start_mark.line, "error", "yaml-too-large",
                               "front matter holds a recursive alias (a value that contains "
                               "itself); kb cannot use it")]
        if isinstance(node, yaml.ScalarNode):
            sizes[key], depths[key] = 1, 0
            if key not in seen_scalars:
                seen_scalars.add(key)
                diagnostics.extend(_check_scalar(node, path, first_line))
            continue
        on_path.add(key)
        if len(on_path) > MAX_DEPTH:
            return [Diagnostic(path, first_line + node.start_mark.line, "error", "yaml-too-large",
                               f"front matter nests more than {MAX_DEPTH} levels deep; kb reads no "
                               "deeper")]
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    if sizes.get(id(root), 0) > MAX_VALUES:
        line = first_line + root.start_mark.line
        if isinstance(root, yaml.MappingNode):  # point at the field that holds the most
            biggest = max(root.value, key=lambda pair: sizes.get(id(pair[1]), 0))
            line = first_line + biggest[0].start_mark.line
        return [Diagnostic(path, line, "error", "yaml-too-large",
                           f"front matter stands for more than {MAX_VALUES:,} values once its "
                           "aliases (*name) are expanded; kb does not read it")]
    if isinstance(root, yaml.MappingNode):
        lines: dict[str, int] = {}
        for key_node, _value in root.value:
            name = str(key_node.value)
            line = first_line + key_node.start_mark.line
            if name in lines:
                diagnostics.append(Diagnostic(path, line, "warning", "duplicate-key",
                                              f"'{name}' is written twice (also on line "
                                              f"{lines[name]}); the value on this line is used"))
            lines[name] = line
    return diagnostics


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_scalar(node: yaml.ScalarNode, path: str, first_line: int) -> list[Diagnostic]:
    line = first_line + node.start_mark.line
    if node.tag == _INT_TAG and len(node.value) > MAX_INT_DIGITS:
        return [Diagnostic(path, line, "warning", "invalid-value",
                           f"an integer of {len(node.value):,} characters is kept as text")]
    if node.tag == _TIMESTAMP_TAG:
        try:
            SafeConstructor.construct_yaml_timestamp(_CONSTRUCTOR, node)
        except (ValueError, OverflowError):
            return [Diagnostic(path, line, "warning", "invalid-date",
                               f"'{node.value}' is not a date that exists; kept as text")]
    return []


# -- the common case without PyYAML -----------------------------------------------------
# Most front matter is a handful of `key: value` lines and lists. Reading those directly is
# much cheaper than PyYAML's loader, whose constructor runs in Python even with the C parser
# (docs/performance.md has the numbers). Anything else — nesting, multi-line or escaped strings,
# anchors, tags, comments after values, duplicate keys, tabs — returns None and goes to
# PyYAML. Scalars are typed by PyYAML's own resolver and constructors, so `yes`, `1_000`,
# `2024-01-05` or `~` mean what they mean to PyYAML; tests compare both on random input.
_RESOLVERS = Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = SafeConstructor()
_SCALAR_TAGS = frozenset("tag:yaml.org,2002:" + name
                         for name in ("null", "bool", "int", "float", "timestamp"))
# Tabs, carriage returns, characters YAML rejects or reads as line breaks, document markers.
_NOT_SIMPLE_TEXT = re.compile(
    "[^\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd"
    "\U00010000-\U0010ffff]|^(?:---|\\.\\.\\.|%)", re.MULTILINE)
_KEY_LINE = re.compile(r"([^\W\d][\w-]*(?: [\w-]+)*):(?: +(.*?))? *")
_ITEM_LINE = re.compile(r"( *)- +(.*?) *")
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


class _NotSimple(Exception):
    """Raised inside simple_mapping when PyYAML has to decide."""


def _scalar(raw: str) -> Any:
    if not raw:  # `[, a]`: let PyYAML say what it makes of it
        raise _NotSimple
    first = raw[0]
    if first == '"':
        inner = raw[1:-1]
        if len(raw) < 2 or raw[-1] != '"' or '"' in inner or "\\" in inner:
            raise _NotSimple
        return inner
    if first == "'":
        inner = raw[1:-1]
        if len(raw) < 2 or raw[-1] != "'" or "'" in inner.replace("''", ""):
            raise _NotSimple
        return inner.replace("''", "'")
    if first in _INDICATORS or ": " in raw or " #" in raw or raw[-1] == ":":
        raise _NotSimple
    for tag, pattern in _RESOLVERS.get(first, ()):
        if pattern.match(raw):
            if tag not in _SCALAR_TAGS or (tag == _INT_TAG and len(raw) > MAX_INT_DIGITS):
                raise _NotSimple
            try:
                return _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, raw))
            except (ValueError, TypeError, OverflowError):  # PyYAML reports it
                raise _NotSimple from None
    return raw


def _flow_sequence(inner: str) -> list[Any]:
    """`a, "[[b]]", 'c'` (the inside of `[...]` on one line) → its items."""
    items: list[Any] = []
    pos, end = 0, len(inner)
    while True:
        while pos < end and inner[pos] == " ":
            pos += 1
        if pos == end:
            if items:  # a trailing comma
                raise _NotSimple
            return items
        quote = inner[pos]
        if quote in "\"'":
            close = inner.find(quote, pos + 1)
            while quote == "'" and close >= 0 and inner.startswith("''", close):
                close = inner.find(quote, close + 2)
            if close < 0:
                raise _NotSimple
            items.append(_scalar(inner[pos : close + 1]))
            pos = close + 1
        else:
            comma = inner.find(",", pos)
            stop = end if comma < 0 else comma
            raw = inner[pos:stop].rstrip(" ")
            if any(char in raw for char in "[]{}:#\"'"):
                raise _NotSimple
            items.append(_scalar(raw))
            pos = stop
        while pos < end and inner[pos] == " ":
            pos += 1
        if pos == end:
            return items
        if inner[pos] != ",":
            raise _NotSimple
        pos += 1


def simple_mapping(text: str, first_line: int) -> RawFrontMatter | None:
    """Front matter of plain `key: value`, `key: [a, b]` and `key:` + `- item` lines, read
    without PyYAML to the same result; None for anything else."""
    if not text or _NOT_SIMPLE_TEXT.search(text):
        return None
    data: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    item_lines: dict[str, list[int]] = {}
    open_key: str | None = None  # a key without a value: list items may follow
    indent = -1
    try:
        for index, line in enumerate(text.split("\n")):
            stripped = line.lstrip(" ")
            if not stripped or stripped[0] == "#":
                continue
            if line[0] != " " and line[0] != "-":
                match = _KEY_LINE.fullmatch(line)
                if match is None:
                    return None
                key, raw = match.groups()
                if key in data or _scalar(key) != key:
                    return None
                key_lines[key] = first_line + index
                open_key, indent = None, -1
                if not raw:
                    data[key] = None
                    open_key = key
                elif raw[0] == "[" and raw[-1] == "]":
                    data[key] = _flow_sequence(raw[1:-1])
                    item_lines[key] = [first_line + index] * len(data[key])
                else:
                    data[key] = _scalar(raw)
                continue
            item = _ITEM_LINE.fullmatch(line)
            if item is None or open_key is None or not item.group(2):
                return None
            if indent < 0:
                indent = len(item.group(1))
                data[open_key], item_lines[open_key] = [], []
            elif len(item.group(1)) != indent:
                return None
            data[open_key].append(_scalar(item.group(2)))
            item_lines[open_key].append(first_line + index)
    except _NotSimple:
        return None
    return RawFrontMatter(data, key_lines, item_lines) if data else None


def validate(raw: RawFrontMatter, path: str) -> tuple[FrontMatter, list[Diagnostic]]:
    """Validate known fields; a bad field is reported at its line and dropped, the rest kept."""
    data = dict(raw.data)
    diagnostics: list[Diagnostic] = []
    kept: dict[str, Any] = {}  # values of kb's fields that are not usable, kept as written
    # Fields that are kb's only on one type of note are ordinary properties on the others
    # (`status: Next`, `year: 2021-2022` on a project note; `result:` on a reading note).
    note_type = data.get("type")
    for fields, owner in ((SOURCE_FIELDS, "source"), (PRACTICE_FIELDS, "practice")):
        if note_type != owner:
            for name in fields:
                if name in data:
                    kept[name] = data.pop(name)
    if note_type is not None and not (isinstance(note_type, str) and note_type in NOTE_TYPES):
        kept["type"] = data.pop("type")  # reported once per value for the vault (kb.graph.concepts)
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
                lenient = field_name in LENIENT_FIELDS
                diagnostics.append(Diagnostic(
                    path, raw.key_lines.get(field_name, 1), "warning" if lenient else "error",
                    "invalid-field", f"field '{field_name}': {_describe(err)} "
                    f"(got {_shown(data[field_name])})" + ("; kept as written" if lenient else ""),
                ))
            if not bad:  # pragma: no cover - defensive: never loop forever
                model = FrontMatter()
                break
            for field_name in bad:
                value = data.pop(field_name)
                if field_name in LENIENT_FIELDS:
                    kept[field_name] = value
        except (ValueError, TypeError, OverflowError, RecursionError):  # pragma: no cover
            model = FrontMatter()
            break
    else:  # pragma: no cover
        model = FrontMatter()
    if kept and model.__pydantic_extra__ is not None:
        model.__pydantic_extra__.update(kept)
    for name in model.model_extra or {}:
        if name in kept:
            continue
        intended = near_miss(name)
        if intended is not None:
            diagnostics.append(Diagnostic(
                path, raw.key_lines.get(name, 1), "warning", "near-miss-field",
                f"unknown field '{name}': did you mean '{intended}'?",
            ))
    return model, diagnostics


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _describe(err: Any) -> str:
    if err["type"] == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}"
    return str(err["msg"]).lower()
