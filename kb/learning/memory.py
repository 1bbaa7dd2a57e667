"""Memory per concept: what you are forgetting, replayed from the practice notes on every run.

One FSRS card per concept (the `fsrs` package, default parameters, no fuzzing, no intra-day
steps). Review events are practice notes: their `date` (at 12:00 UTC), the concepts they are
about and their `result` (default good). Reading is exposure, not review. Practicing a concept
with good or easy also gives its prerequisites *implicit credit*: a fraction of what a good
review would add to their stability, never more (see docs/memory.md for the model and a worked
example). Nothing is written into a note, and the same notes always give the same memory
(`.kb/memory.json` only remembers the last replay, under a digest of all it read).

`review_events` needs no fsrs (kb check uses it for its diagnostics); the rest imports fsrs
when it is first called."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import Diagnostic
from kb.graph.resolve import normalize
from kb.notes.model import REVIEW_RESULTS, Note

if TYPE_CHECKING:
    from kb.graph.concepts import Concept, KnowledgeGraph

DEFAULT_RESULT = "good"
DEFAULT_CREDIT = 0.5  # implicit credit per prerequisite hop: 0.5 one hop away, 0.25 two hops
CREDIT_HOPS = 2  # how far down the prerequisite edges implicit credit flows
CREDIT_FIELD = "implicit_credit"  # a practice note's own per-hop weight (0 turns it off)
CREDITING_RESULTS = ("good", "easy")  # a struggle (again, hard) reviews nothing it builds on
REVIEW_TIME = dt.time(12, 0, tzinfo=dt.UTC)  # the moment a dated review counts
DEFAULT_DECAY = 0.1542  # fsrs 6's default w20; the replay reads the scheduler's own value
MEMO_FILE = Path(".kb") / "memory.json"
MEMO_MAX_BYTES = 64 << 20
MEMO_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Review:
    """One review of one concept on one day. Explicit (`via` is None): a practice note about
    the concept. Implicit: credit from a practice note about `via`, which builds on it."""

    concept: str
    day: dt.date
    result: str
    path: str  # the practice note it comes from
    weight: float = 1.0  # 1 for an explicit review; the fraction of a good review otherwise
    via: str | None = None
    credit: float = DEFAULT_CREDIT  # explicit reviews: the per-hop weight they pass down
    ran: bool = False  # a `kb run` of the note (`[run] counts_as_review`), not the note itself

    @property
    def implicit(self) -> bool:
        return self.via is not None


@dataclass
class ConceptMemory:
    """A concept's memory after replaying its reviews: the fsrs card's state as plain data."""

    key: str
    stability: float  # days until recall falls to 90 % (FSRS's definition, whatever `retention` is)
    difficulty: float
    last_review: dt.date  # the last explicit review (implicit credit does not move it)
    due: dt.date  # the day recall is predicted to fall to the desired retention (fsrs's `due`)
    reviews: list[Review] = field(default_factory=list)  # explicit reviews that counted
    credits: list[Review] = field(default_factory=list)  # implicit credit that counted

    @property
    def last_practice(self) -> dt.date:
        return self.last_review

    @property
    def last_credit(self) -> dt.date | None:
        return self.credits[-1].day if self.credits else None


@dataclass
class Memory:
    """Every concept that has been practiced (at least one explicit review up to `as_of`)."""

    concepts: dict[str, ConceptMemory]
    diagnostics: list[Diagnostic]
    retention: float
    as_of: dt.date  # reviews dated after this day were left out
    decay: float = DEFAULT_DECAY  # fsrs's forgetting-curve exponent (its parameter w20)

    def recall(self, key: str, on: dt.date) -> float | None:
        """Predicted probability of recalling the concept on `on` (None: never practiced)."""
        found = self.concepts.get(key)
        if found is None:
            return None
        return retrievability(found.stability, (on - found.last_review).days, self.decay)


def retrievability(stability: float, elapsed_days: int, decay: float) -> float:
    """FSRS's forgetting curve, as `Scheduler.get_card_retrievability` computes it (whole days;
    a test holds the two equal), so that a memo hit needs no fsrs at all."""
    factor = 0.9 ** (-1 / decay) - 1
    return float((1 + factor * max(0, elapsed_days) / stability) ** -decay)


def at(day: dt.date) -> dt.datetime:
    """A review date as the moment fsrs sees it: the day at 12:00 UTC."""
    return dt.datetime.combine(day, REVIEW_TIME)


def make_scheduler(retention: float = 0.9) -> Any:
    """fsrs's scheduler with its default parameters, deterministic and day-based."""
    from fsrs import Scheduler

    return Scheduler(desired_retention=retention, learning_steps=(), relearning_steps=(),
                     enable_fuzzing=False)


def interval_days(scheduler: Any, stability: float) -> int:
    """Days from a review until recall falls to the desired retention — fsrs's own interval
    formula (`Scheduler._next_interval`, which is private), for implicit credit."""
    decay = -scheduler.parameters[20]
    factor = 0.9 ** (1 / decay) - 1
    days = round(stability / factor * (scheduler.desired_retention ** (1 / decay) - 1))
    return int(min(max(days, 1), scheduler.maximum_interval))


# -- review events (no fsrs needed) ---------------------------------------------------------
def _practice_concepts(kg: KnowledgeGraph) -> dict[int, list[str]]:
    """id(practice note) → the keys of the concepts it is about."""
    about: dict[int, list[str]] = {}
    for key, concept in kg.concepts.items():
        for note in concept.notes:
            if note.type == "practice":
                about.setdefault(id(note), []).append(key)
    return about


def _credit_of(note: Note, diagnostics: list[Diagnostic]) -> float:
    value = note.extra.get(CREDIT_FIELD)
    if value is None:
        return DEFAULT_CREDIT
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 1:
        return float(value)
    diagnostics.append(Diagnostic(
        note.path, note.line_of(CREDIT_FIELD), "warning", "review-credit",
        f"'{CREDIT_FIELD}' must be a number from 0 to 1 (got {value!r}); "
        f"the default {DEFAULT_CREDIT} is used"))
    return DEFAULT_CREDIT


def review_events(kg: KnowledgeGraph, today: dt.date,
                  runs: Iterable[tuple[str, dt.date, str]] = ()) -> tuple[list[Review], list[Diagnostic]]:
    """Every explicit review the practice notes record, sorted by day then path, and why a
    practice note records none: no date, a date after `today`, an unknown `result`.

    `runs` — (note path, day, result) — are runs of practice notes' code that count as reviews
    of the note's concepts (`[run] counts_as_review = true`); a run of a note no longer in the
    vault, or after `today`, counts for nothing."""
    events: list[Review] = []
    diagnostics: list[Diagnostic] = []
    about = _practice_concepts(kg)

    for note in kg.notes.values():
        if note.type != "practice" or not note.loaded:
            continue
        if note.date is None:
            line = note.line_of("date") if "date" in note.field_lines else note.line_of("type")
            why = ("its 'date' is not a date" if "date" in note.field_lines
                   else "it has no 'date'")
            diagnostics.append(Diagnostic(
                note.path, line, "warning", "review-undated",
                f"practice note not counted as a review: {why} (the file's modification time "
                "is not when you practiced); add 'date: YYYY-MM-DD'"))
            continue
        if note.date > today:
            diagnostics.append(Diagnostic(
                note.path, note.line_of("date"), "warning", "review-future",
                f"practice note dated {note.date.isoformat()}, after today "
                f"({today.isoformat()}); not counted as a review until then"))
            continue
        result = note.result
        if result is None and "result" in note.field_lines:
            diagnostics.append(Diagnostic(
                note.path, note.line_of("result"), "warning", "review-result",
                f"practice note not counted as a review: 'result' must be one of "
                f"{', '.join(REVIEW_RESULTS)}"))
            continue
        credit = _credit_of(note, diagnostics)
        for key in about.get(id(note), ()):
            events.append(Review(key, note.date, result or DEFAULT_RESULT, note.path, credit=credit))
    # After the notes' own reviews: on a day both record, the note's rating is the one kept.
    by_path = {n.path: n for n in kg.notes.values() if n.type == "practice"} if runs else {}
    for path, day, result in runs:
        ran = by_path.get(path)
        if ran is None:
            continue
        if day > today:
            diagnostics.append(Diagnostic(
                path, 0, "warning", "review-future",
                f"`kb run` recorded a run of this note on {day.isoformat()}, after today "
                f"({today.isoformat()}); not counted as a review until then"))
            continue
        credit = _credit_of(ran, [])
        events.extend(Review(key, day, result, path, credit=credit, ran=True)
                      for key in about.get(id(ran), ()))
    events.sort(key=lambda r: (r.day, r.path, normalize(r.concept)))
    return events, diagnostics


def implicit_credit(explicit: Iterable[Review], prerequisites: Any) -> list[Review]:
    """Credit each good or easy review passes down the prerequisite edges (a networkx DiGraph,
    prerequisite → dependent): its note's per-hop weight to the power of the hop, up to
    CREDIT_HOPS hops. A cycle is harmless: a concept is credited at its nearest hop only, and
    never the concepts the note is itself about."""
    found: list[Review] = []
    by_note: dict[tuple[str, dt.date], list[Review]] = {}
    for review in explicit:
        if review.result in CREDITING_RESULTS and review.credit > 0:
            by_note.setdefault((review.path, review.day), []).append(review)
    for (path, day), reviews in by_note.items():
        own = {r.concept for r in reviews}
        best: dict[str, tuple[float, str]] = {}
        for review in reviews:
            frontier, seen = [review.concept], {review.concept}
            for hop in range(1, CREDIT_HOPS + 1):
                weight = review.credit ** hop
                nxt = []
                for concept in frontier:
                    for prerequisite in prerequisites.predecessors(concept):
                        if prerequisite in seen:
                            continue
                        seen.add(prerequisite)
                        nxt.append(prerequisite)
                        if prerequisite not in own and weight > best.get(prerequisite, (0.0, ""))[0]:
                            best[prerequisite] = (weight, review.concept)
                frontier = nxt
        found.extend(Review(key, day, "good", path, weight=weight, via=via)
                     for key, (weight, via) in best.items())
    return found


def one_per_day(events: Iterable[Review]) -> list[Review]:
    """A concept's first review of a day is the one that counts: a practice note's own before
    a code run's, either before any implicit credit, else the largest credit. Among notes of
    one day, the first recorded: by path, a name before the same name with `-2` (as `kb review
    done` names a second review of a day)."""
    chosen: dict[tuple[str, dt.date], Review] = {}
    for event in sorted(events, key=lambda r: (r.implicit, r.ran, -r.weight, _recorded_order(r.path),
                                               r.via or "")):
        chosen.setdefault((event.concept, event.day), event)
    return sorted(chosen.values(), key=lambda r: (r.day, r.implicit, r.path))


def _recorded_order(path: str) -> tuple[str, str]:
    """`review-x.md` before `review-x-2.md` (plain path order puts `-` before `.`)."""
    return (path.removesuffix(".md"), path)


# -- the replay -------------------------------------------------------------------------------
def replay(events: Iterable[Review], scheduler: Any) -> dict[str, ConceptMemory]:
    """Each concept's memory after its reviews, in day order (call one_per_day first).
    Implicit credit before a concept's first explicit review counts for nothing: it can
    refresh a memory, not create one."""
    from fsrs import Card, Rating

    ratings = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}
    cards: dict[str, Any] = {}
    histories: dict[str, tuple[list[Review], list[Review]]] = {}
    for event in sorted(events, key=lambda r: (r.day, r.implicit, r.path)):
        card = cards.get(event.concept)
        if not event.implicit:
            card = card if card is not None else Card(card_id=0)  # Card() would sleep to make an id
            cards[event.concept], _log = scheduler.review_card(card, ratings[event.result], at(event.day))
            histories.setdefault(event.concept, ([], []))[0].append(event)
        elif card is not None:
            cards[event.concept] = credited(scheduler, card, event.weight, event.day)
            histories[event.concept][1].append(event)
    return {key: ConceptMemory(key, float(card.stability), float(card.difficulty),
                               card.last_review.date(), card.due.date(), *histories[key])
            for key, card in cards.items()}


def credited(scheduler: Any, card: Any, weight: float, day: dt.date) -> Any:
    """The card after implicit credit of `weight` on `day`: its stability moves `weight` of
    the way to what a good review that day would give; difficulty and the day of the last
    review stay as they were (using a concept inside another is not proof of recalling it)."""
    from fsrs import Card, Rating

    good, _log = scheduler.review_card(card, Rating.Good, at(day))
    stability = card.stability + weight * (good.stability - card.stability)
    return Card(card_id=card.card_id, state=card.state, step=card.step, stability=stability,
                difficulty=card.difficulty, last_review=card.last_review,
                due=card.last_review + dt.timedelta(days=interval_days(scheduler, stability)))


def build_memory(kg: KnowledgeGraph, *, today: dt.date, as_of: dt.date | None = None,
                 retention: float = 0.9, memo: Path | None = None,
                 runs: Iterable[tuple[str, dt.date, str]] = ()) -> Memory:
    """Every practiced concept's memory from the reviews dated up to `as_of` (default and at
    most `today`; a review after today is a diagnostic, never counted).

    `memo` (the vault's `.kb/memory.json`) remembers the last replay under a digest of
    everything it depends on — the reviews, the prerequisite edges, the retention, the
    installed fsrs — so an unchanged vault needs no replay and no fsrs; any problem with the
    file only means a replay. `runs`: code runs that count as reviews (see review_events)."""
    as_of = min(as_of or today, today)
    explicit, diagnostics = review_events(kg, today, runs)
    explicit = [r for r in explicit if r.day <= as_of]
    digest = _digest(explicit, kg, retention) if memo is not None else ""
    remembered = _read_memo(memo, digest) if memo is not None else None
    if remembered is not None:
        concepts, decay = remembered
        return Memory(concepts, diagnostics, retention, as_of, decay)
    events = one_per_day([*explicit, *implicit_credit(explicit, kg.prerequisite_graph())])
    scheduler = make_scheduler(retention)
    memory = Memory(replay(events, scheduler), diagnostics, retention, as_of,
                    float(scheduler.parameters[20]))
    if memo is not None:
        _write_memo(memo, digest, memory)
    return memory


def _fsrs_stamp() -> list[Any]:
    """Which fsrs is installed, cheaply (its version's metadata is slow to look up)."""
    import importlib.util

    spec = importlib.util.find_spec("fsrs")
    if spec is None or spec.origin is None:
        return []
    stat = os.stat(os.path.join(os.path.dirname(spec.origin), "scheduler.py"))
    return [spec.origin, stat.st_size, stat.st_mtime_ns]


def _digest(explicit: list[Review], kg: KnowledgeGraph, retention: float) -> str:
    reviews = [[r.concept, r.day.isoformat(), r.result, r.path, r.credit, r.ran] for r in explicit]
    edges = sorted(kg.prerequisite_sites)
    text = json.dumps([MEMO_FORMAT, _fsrs_stamp(), retention, CREDIT_HOPS, DEFAULT_CREDIT,
                       reviews, edges], ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def _read_memo(path: Path, digest: str) -> tuple[dict[str, ConceptMemory], float] | None:
    from kb.errors import KbError
    from kb.vault.paths import read_regular_file

    try:
        data = json.loads(read_regular_file(str(path), MEMO_MAX_BYTES))
        if data.get("format") != MEMO_FORMAT or data.get("digest") != digest:
            return None
        day = dt.date.fromisoformat
        concepts = {
            key: ConceptMemory(key, stability, difficulty, day(last), day(due),
                               [Review(key, day(d), result, p) for d, result, p in reviews],
                               [Review(key, day(d), "good", p, weight=w, via=via)
                                for d, w, p, via in credits])
            for key, (stability, difficulty, last, due, reviews, credits) in data["concepts"].items()}
        return concepts, float(data["decay"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError, KbError):
        return None


def _write_memo(path: Path, digest: str, memory: Memory) -> None:
    data = {"format": MEMO_FORMAT, "digest": digest, "decay": memory.decay, "concepts": {
        key: [m.stability, m.difficulty, m.last_review.isoformat(), m.due.isoformat(),
              [[r.day.isoformat(), r.result, r.path] for r in m.reviews],
              [[r.day.isoformat(), r.weight, r.path, r.via] for r in m.credits]]
        for key, m in memory.concepts.items()}}
    try:
        from kb.vault.write import atomic_write

        if path.parent.is_dir():  # only beside the cache: never create .kb/ for a memo
            atomic_write(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    except OSError:
        pass


# -- queries ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fading:
    """A practiced concept due or fading on a day, with what `kb review` shows about it."""

    concept: Concept
    memory: ConceptMemory
    recall: float  # on the day asked about
    value: float  # (1 - recall) x (1 + concepts that depend on it): the order of the list


def fading(kg: KnowledgeGraph, memory: Memory, on: dt.date) -> list[Fading]:
    """Practiced concepts whose recall on `on` is below the desired retention or whose due
    day has come, most valuable first: lowest recall times most depended on, then title."""
    found = []
    for key, state in memory.concepts.items():
        recall = memory.recall(key, on)
        assert recall is not None
        if recall < memory.retention or state.due <= on:
            concept = kg.concepts[key]
            found.append(Fading(concept, state, recall, (1 - recall) * (1 + concept.unblocks)))
    found.sort(key=lambda f: (-f.value, normalize(f.concept.title), f.concept.key))
    return found


# -- recording a review -----------------------------------------------------------------------
REVIEW_TEMPLATE = "note-review.md.j2"


def review_note_context(concept: Concept, *, result: str, day: dt.date, practice: str = "exercise",
                        minutes: float | None = None) -> tuple[str, dict[str, Any]]:
    """The file stem and the template variables of the practice note `kb review done` writes."""
    from kb.notes.slug import slugify

    if minutes is not None and float(minutes).is_integer():
        minutes = int(minutes)
    stem = f"review-{slugify(concept.key.replace('/', '-'), 'concept')}-{day.isoformat()}"
    title = f"Review: {concept.title}"
    return stem, {"type": "practice", "title": title, "id": stem, "date": day,
                  "concepts": [concept.key], "practice": practice, "result": result,
                  "minutes": minutes, "tags": ["review"]}


def review_note_problems(note: Note, concept: Concept, *, result: str, day: dt.date) -> list[str]:
    """What keeps a rendered review note from recording the review (a template that drops a
    field would otherwise write a note that silently records something else)."""
    problems = [d.message for d in note.diagnostics if d.severity == "error"]
    if note.type != "practice":
        problems.append(f"it is a {note.type} note, not a practice note")
    if note.date != day:
        problems.append(f"its date is {note.date}, not {day.isoformat()}")
    if (note.result or DEFAULT_RESULT) != result:
        problems.append(f"its result is {note.result or DEFAULT_RESULT}, not {result}")
    if not any(normalize(ref.target) == normalize(concept.key) for ref in note.concepts):
        problems.append(f"it is not about [[{concept.key}]]")
    return problems
