"""`kb plan`: from today to a date, day by day — what to learn, practice and review, and what
does not fit. Pure: takes the graph and the memory (kb.learning.memory), returns a Plan; the CLI prints
it as a table, Markdown, JSON or an iCalendar file (`to_ics`, standard library only).

The algorithm, its defaults and a worked example are in docs/plan.md."""

from __future__ import annotations

import datetime as dt
import heapq
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from kb.errors import KbError, UnknownConceptError
from kb.graph.mastery import closest, find_concept
from kb.graph.resolve import normalize

if TYPE_CHECKING:
    from kb.graph.concepts import KnowledgeGraph
    from kb.learning.memory import Memory

CLASSES = ("solid", "fading", "read", "missing")  # a concept's state on the target date
KIND_OF_CLASS = {"fading": "review", "read": "practice", "missing": "learn"}
# Minutes when the learner's own notes say nothing: (planned, low, high). `learn` is study
# plus a first practice.
DEFAULT_MINUTES: dict[str, tuple[int, int, int]] = {
    "review": (20, 15, 30), "practice": (45, 30, 60), "study": (60, 45, 90)}
MIN_HISTORY = 3  # own practice notes with `minutes` needed before they replace the defaults


class PlanError(KbError):
    """A plan that cannot be made as asked (a date in the past, no day to work)."""


@dataclass(frozen=True)
class Item:
    """One thing to do for one concept: review it, practice it, or learn it (study + practice)."""

    concept: str
    title: str
    kind: str  # review | practice | learn
    status: str  # fading | read | missing
    minutes: int  # what the plan counts
    low: int  # the honest range around it
    high: int
    value: int  # how many targets depend on it (itself included)
    subject: str  # the concept's first tag, for interleaving


@dataclass
class Day:
    day: dt.date
    items: list[Item] = field(default_factory=list)
    mixed_review: list[str] = field(default_factory=list)  # the last day: everything, mixed

    @property
    def minutes(self) -> int:
        return sum(i.minutes for i in self.items)


@dataclass
class Plan:
    targets: list[str]
    today: dt.date
    by: dt.date | None  # None: today's session only
    minutes_per_day: int
    classes: dict[str, str]  # concept → solid | fading | read | missing, at `by`
    recall: dict[str, float | None]  # concept → predicted recall at `by`
    days: list[Day]
    dropped: list[tuple[Item, str]]
    notes: list[str] = field(default_factory=list)  # what the learner should know (cycles …)

    @property
    def items(self) -> list[Item]:
        return [i for d in self.days for i in d.items]


# -- targets ------------------------------------------------------------------------------------
def resolve_targets(kg: KnowledgeGraph, names: Sequence[str], series: Iterable[Any] = ()) -> list[str]:
    """Concept keys for TARGET names: a concept (as `kb show` finds it), a series slug from
    kb.toml (its parts), or a tag (`#tag` or `tag`: every concept with a note so tagged)."""
    found: list[str] = []
    by_slug = {normalize(s.slug): s for s in series}
    tagged: dict[str, list[str]] = {}
    for key, concept in kg.concepts.items():
        for note in concept.notes:
            for tag in note.tags:
                tagged.setdefault(normalize(tag), []).append(key)
    for name in names:
        keys: list[str]
        try:
            keys = [find_concept(kg, name.lstrip("#")).key] if not name.startswith("#") else []
        except UnknownConceptError:
            keys = []
        if not keys and normalize(name) in by_slug:
            keys = [find_concept(kg, part).key for part in by_slug[normalize(name)].parts]
        if not keys and normalize(name.lstrip("#")) in tagged:
            keys = sorted(set(tagged[normalize(name.lstrip("#"))]), key=normalize)
        if not keys:
            names_known = {normalize(c.key): c.key for c in kg.concepts.values()}
            names_known.update({normalize(c.title): c.key for c in kg.concepts.values()})
            names_known.update({t: f"#{t}" for t in tagged})
            names_known.update({s: by_slug[s].slug for s in by_slug})
            raise UnknownConceptError(name, closest(name, names_known))
        found.extend(k for k in keys if k not in found)
    return found


# -- costs ----------------------------------------------------------------------------------------
def _round5(minutes: float) -> int:
    return max(5, int(5 * round(minutes / 5)))


def _estimate(samples: list[float], default: tuple[int, int, int]) -> tuple[int, int, int]:
    """(planned, low, high) minutes: the median of the learner's own and its quartiles, once
    there are MIN_HISTORY of them; else the default."""
    if len(samples) < MIN_HISTORY:
        return default
    quartiles = statistics.quantiles(samples, n=4, method="inclusive")
    return _round5(statistics.median(samples)), _round5(quartiles[0]), _round5(quartiles[2])


def costs(kg: KnowledgeGraph, memory: Memory) -> dict[str, tuple[int, int, int]]:
    """Minutes per kind of item, from the `minutes` of the learner's practice notes: a concept's
    first dated practice is a *practice*, every later one a *review*; study has no record, so
    its default stands. `learn` is study plus practice."""
    by_path = {n.path: n for n in kg.notes.values()}
    samples: dict[str, list[float]] = {"review": [], "practice": []}
    counted: set[tuple[str, str]] = set()
    for state in memory.concepts.values():
        for index, review in enumerate(state.reviews):
            note = by_path.get(review.path)
            kind = "practice" if index == 0 else "review"
            if note is not None and note.minutes is not None and (kind, note.path) not in counted:
                counted.add((kind, note.path))
                samples[kind].append(float(note.minutes))
    reviewing = _estimate(samples["review"], DEFAULT_MINUTES["review"])
    practice = _estimate(samples["practice"], DEFAULT_MINUTES["practice"])
    study = DEFAULT_MINUTES["study"]
    learn = (study[0] + practice[0], study[1] + practice[1], study[2] + practice[2])
    return {"review": reviewing, "practice": practice, "learn": learn}


# -- classing -------------------------------------------------------------------------------------
def class_at(kg: KnowledgeGraph, memory: Memory, key: str, on: dt.date) -> str:
    """solid (recall on `on` at least the retention), fading (practiced, recall below it — or
    practiced with no dated note, so kb cannot tell), read (notes, never practiced), missing."""
    concept = kg.concepts[key]
    recall = memory.recall(key, on)
    if recall is not None:
        return "solid" if recall >= memory.retention else "fading"
    if concept.level in ("exercise", "code", "project"):
        return "fading"
    return "read" if concept.notes else "missing"


# -- the plan -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reach:
    """Every concept's transitive prerequisites and dependents in the planned DAG (plain sets:
    networkx's transitive closure is a graph of every pair, far slower to build)."""

    ancestors: dict[str, set[str]]
    descendants: dict[str, set[str]]

    @classmethod
    def of(cls, dag: nx.DiGraph) -> Reach:
        ancestors: dict[str, set[str]] = {}
        for key in nx.topological_sort(dag):
            found: set[str] = set()
            for before in dag.predecessors(key):
                found |= ancestors[before]
                found.add(before)
            ancestors[key] = found
        descendants: dict[str, set[str]] = {key: set() for key in ancestors}
        for key, before in ancestors.items():
            for b in before:
                descendants[b].add(key)
        return cls(ancestors, descendants)


def _work_days(today: dt.date, by: dt.date, days_off: Iterable[dt.date]) -> list[dt.date]:
    off = set(days_off)
    return [today + dt.timedelta(days=n) for n in range((by - today).days)
            if today + dt.timedelta(days=n) not in off]


def _order(items: dict[str, Item], reach: Reach) -> list[str]:
    """Learning order from the outer fringe inward, subjects interleaved: repeatedly take, of
    the items whose prerequisites are all placed, one from a subject other than the last
    one's, the most valuable first (then title). `reach` holds the transitive closure of the
    prerequisite DAG: an item waits for every item it needs, even through concepts that are
    not in the plan (solid ones)."""
    waiting = {k: sum(1 for a in reach.ancestors[k] if a in items) for k in items}
    ready = [k for k, n in waiting.items() if n == 0]
    order: list[str] = []
    last_subject = None
    while ready:
        ready.sort(key=lambda k: (items[k].subject == last_subject, -items[k].value,
                                  normalize(items[k].title), k))
        key = ready.pop(0)
        order.append(key)
        last_subject = items[key].subject
        for after in sorted(reach.descendants[key], key=normalize):
            if after in waiting:
                waiting[after] -= 1
                if waiting[after] == 0:
                    ready.append(after)
    return order


def _pack(items: dict[str, Item], order: list[str], reach: Reach, days: int, budget: int
          ) -> tuple[list[list[str]], list[str]]:
    """Day indexes for every item, or the items that did not fit. Learning and practice go
    forward, as early as their prerequisites allow; reviews backward, as late as possible but
    never after something that builds on them nor before what they build on. `order` is a
    learning order of (at least) the items."""
    used = [0] * days
    placed: dict[str, int] = {}
    schedule: list[list[str]] = [[] for _ in range(days)]
    failed: list[str] = []
    order = [k for k in order if k in items]
    position = {k: n for n, k in enumerate(order)}
    for key in (k for k in order if items[k].kind != "review"):
        earliest = max((placed[a] for a in reach.ancestors[key] if a in placed), default=0)
        day = next((d for d in range(earliest, days) if used[d] + items[key].minutes <= budget), None)
        if day is None:
            failed.append(key)
            continue
        placed[key] = day
        used[day] += items[key].minutes
    # dependents first, so that each review knows the day of everything built on it
    for key in reversed([k for k in order if items[k].kind == "review"]):
        latest = min((placed[d] for d in reach.descendants[key] if d in placed), default=days - 1)
        earliest = max((placed[a] for a in reach.ancestors[key] if a in placed), default=0)
        day = next((d for d in range(latest, earliest - 1, -1)
                    if used[d] + items[key].minutes <= budget), None)
        if day is None:
            failed.append(key)
            continue
        placed[key] = day
        used[day] += items[key].minutes
    for key, day in placed.items():
        schedule[day].append(key)
    for keys in schedule:
        keys.sort(key=lambda k: position[k])  # within a day, prerequisites first
    return schedule, failed


class _Dropper:
    """Hands out what to drop next: the least value per minute among what may go — reviews,
    and the ends of chains (items nothing left in the plan builds on; a fading concept is
    still known, so a review blocks nothing)."""

    def __init__(self, items: dict[str, Item], reach: Reach) -> None:
        self.items, self.reach = items, reach
        self.blocking = {k: sum(1 for d in reach.descendants[k]
                                if d in items and items[d].kind != "review") for k in items}
        self.heap: list[tuple[float, int, str, str]] = []
        for key in items:
            if items[key].kind == "review" or self.blocking[key] == 0:
                self._push(key)

    def _push(self, key: str) -> None:
        item = self.items[key]
        heapq.heappush(self.heap, (item.value / item.minutes, -item.minutes, normalize(item.title), key))

    def pop(self) -> Item:
        while True:
            key = heapq.heappop(self.heap)[3]
            if key in self.items:
                break
        item = self.items.pop(key)
        if item.kind != "review":
            for before in self.reach.ancestors[key]:
                if before in self.items:
                    self.blocking[before] -= 1
                    if self.blocking[before] == 0 and self.items[before].kind != "review":
                        self._push(before)
        return item


def _why(item: Item, needed: int, days: int, budget: int) -> str:
    return (f"least value per minute: {item.value} target{'s' * (item.value != 1)} "
            f"need{'s' * (item.value == 1)} it, about {item.minutes} min; {needed} min of work "
            f"do not fit in {days} day{'s' * (days != 1)} of {budget} min")


def make_plan(kg: KnowledgeGraph, memory: Memory, targets: Sequence[str], *, today: dt.date,
              by: dt.date, minutes_per_day: int, days_off: Iterable[dt.date] = ()) -> Plan:
    """The plan from `today` to the day before `by` (the exam day), `minutes_per_day` a day."""
    if by <= today:
        raise PlanError(f"--by {by.isoformat()} is not after today ({today.isoformat()})")
    if minutes_per_day <= 0:
        raise PlanError("the minutes per day must be more than 0")
    dates = _work_days(today, by, days_off)
    if not dates:
        raise PlanError(f"no day to work between {today.isoformat()} and {by.isoformat()} "
                        "(every one is a day off)")
    prereqs, wanted, notes = _wanted(kg, targets)
    reach = Reach.of(prereqs)
    classes = {k: class_at(kg, memory, k, by) for k in wanted}
    recall = {k: memory.recall(k, by) for k in wanted}
    items = _items(kg, reach, targets, wanted, classes, costs(kg, memory))
    mixed = len(dates) >= 2  # the last day is kept for mixed review when there are two or more
    work = dates[:-1] if mixed else dates
    dropped: list[tuple[Item, str]] = []
    for key, item in list(items.items()):
        if item.minutes > minutes_per_day:
            del items[key]
            dropped.append((item, f"needs about {item.minutes} min, more than a day's "
                                  f"{minutes_per_day}"))
    _drop_dependents(items, reach, dropped)
    needed = total = sum(i.minutes for i in items.values())
    order = _order(items, reach)  # what is left of a learning order is one still
    dropper = _Dropper(items, reach)
    while total > len(work) * minutes_per_day:  # cannot fit, whatever the days look like
        victim = dropper.pop()
        total -= victim.minutes
        dropped.append((victim, _why(victim, needed, len(work), minutes_per_day)))
    while True:  # fits in total; drop more where the days' shapes leave no room: as many as
        # failed to fit, then pack again (one at a time would pack hundreds of times)
        schedule, failed = _pack(items, order, reach, len(work), minutes_per_day)
        if not failed:
            break
        for _ in failed:
            victim = dropper.pop()
            dropped.append((victim, _why(victim, needed, len(work), minutes_per_day)))
    days = [Day(d, [items[k] for k in keys]) for d, keys in zip(work, schedule, strict=True)]
    if mixed:
        practiced = [k for k in wanted if classes[k] != "missing" or k in items]
        days.append(Day(dates[-1], mixed_review=sorted(practiced, key=lambda k: (
            k not in targets, normalize(kg.concepts[k].title)))))
    return Plan(list(targets), today, by, minutes_per_day, classes, recall, days, dropped, notes)


def items_value(key: str, reach: Reach, targets: Sequence[str]) -> int:
    """How many targets depend on the concept (a target depends on itself)."""
    return sum(1 for t in targets if t == key or key in reach.ancestors[t])


def _drop_dependents(items: dict[str, Item], reach: Reach, dropped: list[tuple[Item, str]]) -> None:
    """What builds on a concept the plan cannot teach cannot be learned either (reviews of
    known concepts can)."""
    gone = [i.concept for i, _ in dropped if i.kind != "review"]
    for key in gone:
        for after in sorted(reach.descendants[key], key=normalize):
            if after in items and items[after].kind != "review":
                dropped.append((items.pop(after), f"needs {key}, which does not fit"))


def _wanted(kg: KnowledgeGraph, targets: Sequence[str]) -> tuple[nx.DiGraph, list[str], list[str]]:
    """The prerequisite graph over the targets and all their prerequisites, as a DAG: the
    members of a cycle are planned as one block (their edges among themselves are ignored),
    which the plan's notes say."""
    full = kg.prerequisite_graph()
    wanted: set[str] = set()
    for target in targets:
        wanted |= nx.ancestors(full, target) | {target}
    sub: nx.DiGraph[str] = nx.DiGraph(full.subgraph(wanted))
    notes = []
    for component in nx.strongly_connected_components(sub):
        if len(component) > 1:
            members = sorted(component, key=normalize)
            notes.append(f"prerequisite cycle among {', '.join(members)}: planned as one block, "
                         "in no particular order (kb check shows where each edge is written)")
            sub.remove_edges_from([(a, b) for a in component for b in component if sub.has_edge(a, b)])
    return sub, sorted(wanted, key=normalize), notes


def _items(kg: KnowledgeGraph, reach: Reach, targets: Sequence[str], wanted: list[str],
           classes: dict[str, str], minutes: dict[str, tuple[int, int, int]]) -> dict[str, Item]:
    items = {}
    for key in wanted:
        status = classes[key]
        if status == "solid":
            continue
        kind = KIND_OF_CLASS[status]
        planned, low, high = minutes[kind]
        concept = kg.concepts[key]
        tags = concept.definition.tags if concept.definition is not None else []
        items[key] = Item(key, concept.title, kind, status, planned, low, high,
                          items_value(key, reach, targets), tags[0] if tags else "")
    return items


def make_session(kg: KnowledgeGraph, memory: Memory, targets: Sequence[str], *, today: dt.date,
                 minutes_per_day: int) -> Plan:
    """Today's session for the targets: what is fading today (most valuable first), then the
    next items of the frontier — concepts whose prerequisites are all practiced — that fit."""
    if minutes_per_day <= 0:
        raise PlanError("the minutes per day must be more than 0")
    prereqs, wanted, notes = _wanted(kg, targets)
    classes = {k: class_at(kg, memory, k, today) for k in wanted}
    recall = {k: memory.recall(k, today) for k in wanted}
    items = _items(kg, Reach.of(prereqs), targets, wanted, classes, costs(kg, memory))
    frontier = [k for k, i in items.items() if i.kind != "review"
                and all(classes[p] in ("solid", "fading") for p in prereqs.predecessors(k))]
    reviews = [k for k, i in items.items() if i.kind == "review"]
    order = (sorted(reviews, key=lambda k: (-items[k].value, normalize(items[k].title)))
             + sorted(frontier, key=lambda k: (-items[k].value, normalize(items[k].title))))
    day = Day(today)
    for key in order:
        if day.minutes + items[key].minutes <= minutes_per_day:
            day.items.append(items[key])
    return Plan(list(targets), today, None, minutes_per_day, classes, recall, [day], [], notes)


# -- output ---------------------------------------------------------------------------------------
KIND_LABEL = {"review": "Review", "practice": "Practice", "learn": "Learn"}


def item_text(item: Item) -> str:
    return f"{KIND_LABEL[item.kind]} {item.title}"


def minutes_range(item: Item) -> str:
    return f"{item.low}–{item.high} min"


def to_json(plan: Plan) -> dict[str, Any]:
    def item(i: Item) -> dict[str, Any]:
        return {"id": i.concept, "title": i.title, "kind": i.kind, "status": i.status,
                "minutes": i.minutes, "range": [i.low, i.high], "value": i.value,
                "subject": i.subject}

    return {
        "targets": plan.targets, "today": plan.today.isoformat(),
        "by": plan.by.isoformat() if plan.by else None, "minutes_per_day": plan.minutes_per_day,
        "classes": {c: sorted((k for k, v in plan.classes.items() if v == c), key=normalize)
                    for c in CLASSES},
        "days": [{"date": d.day.isoformat(), "minutes": d.minutes, "items": [item(i) for i in d.items],
                  "mixed_review": d.mixed_review} for d in plan.days],
        "dropped": [{**item(i), "reason": why} for i, why in plan.dropped],
        "notes": plan.notes,
    }


def to_markdown(plan: Plan) -> str:
    """Checklists per day, wikilinks to the concepts: pastes into a note."""
    until = f" until {plan.by.isoformat()}" if plan.by else ""
    lines = [f"# Plan: {', '.join(plan.targets)}{until}", ""]
    for day in plan.days:
        lines.append(f"## {day.day.strftime('%a')} {day.day.isoformat()} (about {day.minutes} min)"
                     if day.items else f"## {day.day.strftime('%a')} {day.day.isoformat()}")
        lines.append("")
        for item in day.items:
            lines.append(f"- [ ] {KIND_LABEL[item.kind]} [[{item.concept}|{item.title}]] "
                         f"({minutes_range(item)})")
        if day.mixed_review:
            lines.append("- [ ] Mixed review: " + ", ".join(f"[[{k}]]" for k in day.mixed_review))
        if not day.items and not day.mixed_review:
            lines.append("- nothing planned")
        lines.append("")
    if plan.dropped:
        lines += ["## Does not fit", ""]
        lines += [f"- {item_text(i)}: {why}" for i, why in plan.dropped]
        lines.append("")
    lines += [f"> {note}" for note in plan.notes]
    return "\n".join(lines).rstrip() + "\n"


def _ics_escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> list[str]:
    """RFC 5545 §3.1: lines of at most 75 octets, continued with a leading space."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode("utf-8")) > limit:
            out.append(current)
            current = char
        else:
            current += char
    out.append(current)
    return [out[0], *(" " + rest for rest in out[1:])]


def to_ics(plan: Plan, *, stamp: dt.datetime) -> str:
    """One all-day event per day, its items in the description (RFC 5545, CRLF lines)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//kb//kb plan//EN", "CALSCALE:GREGORIAN"]
    for day in plan.days:
        if not day.items and not day.mixed_review:
            continue
        if day.items:
            summary = f"Study: {len(day.items)} item{'s' * (len(day.items) != 1)}, about {day.minutes} min"
            body = [f"{item_text(i)} ({minutes_range(i)})" for i in day.items]
        else:
            summary = "Study: mixed review"
            body = ["Mixed review: " + ", ".join(day.mixed_review)]
        lines += ["BEGIN:VEVENT",
                  f"UID:kb-plan-{day.day.isoformat()}-{abs(hash_text(','.join(plan.targets)))}@kb",
                  f"DTSTAMP:{stamp.strftime('%Y%m%dT%H%M%SZ')}",
                  f"DTSTART;VALUE=DATE:{day.day.strftime('%Y%m%d')}",
                  f"DTEND;VALUE=DATE:{(day.day + dt.timedelta(days=1)).strftime('%Y%m%d')}",
                  f"SUMMARY:{_ics_escape(summary)}",
                  f"DESCRIPTION:{_ics_escape(chr(10).join(body))}",
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in _fold(line))


def hash_text(text: str) -> int:
    """A stable number for a text (Python's hash() changes between runs)."""
    import zlib

    return zlib.crc32(text.encode("utf-8"))
