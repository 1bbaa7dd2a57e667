"""kb plan (SPEC §8): hand-checked schedules on small graphs, properties on random DAGs, the
outputs (table, JSON, Markdown, iCalendar read back by the icalendar package), bad input, and
the README's exam example on a copy of the sample vault. A fixed clock throughout."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import icalendar
import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kb
from kb.graph.concepts import build_graph
from kb.learning.memory import build_memory
from kb.learning.plan import make_plan, to_ics
from kb.notes.parse import parse_note

from .conftest import copy_sample, run_kb

TODAY = dt.date(2026, 11, 24)


def concept(name: str, prerequisites: tuple[str, ...] = (), tag: str = "") -> str:
    prereqs = f"prerequisites: [{', '.join(prerequisites)}]\n" if prerequisites else ""
    tags = f"tags: [{tag}]\n" if tag else ""
    return f"---\ntype: concept\ntitle: {name.upper()}\n{prereqs}{tags}---\n"


def practice(about: str, day: str, minutes: int | None = None) -> str:
    extra = f"minutes: {minutes}\n" if minutes is not None else ""
    return f"---\ntype: practice\npractice: exercise\nconcept: {about}\ndate: {day}\n{extra}---\nDone.\n"


def graph_of(files: dict[str, str]) -> kb.graph.concepts.KnowledgeGraph:
    notes = [parse_note(path, path.removeprefix("notes/").removesuffix(".md"), text.encode("utf-8"))
             for path, text in files.items()]
    return build_graph(notes)


def plan_of(files: dict[str, str], targets: list[str], days: int, budget: int,
            days_off: tuple[dt.date, ...] = ()) -> kb.learning.plan.Plan:
    kg = graph_of(files)
    memory = build_memory(kg, today=TODAY)
    return make_plan(kg, memory, targets, today=TODAY, by=TODAY + dt.timedelta(days=days),
                     minutes_per_day=budget, days_off=days_off)


def schedule(plan: kb.learning.plan.Plan) -> list[list[tuple[str, str]]]:
    return [[(i.kind, i.concept) for i in d.items] for d in plan.days]


# -- by hand ------------------------------------------------------------------------------------
CHAIN = {
    "notes/a.md": concept("a"),  # read only: practice, 45 min
    "notes/b.md": concept("b", ("a",)),
    "notes/pb.md": practice("b", "2026-03-01"),  # practiced once, long ago: fading, review 20 min
    "notes/d.md": concept("d", ("c",)),  # c has no note: missing, learn 60 + 45 = 105 min
    "notes/t.md": concept("t", ("b", "d")),
}


def test_a_small_graph_by_hand() -> None:
    """Work days the 24th to the 26th (the 27th is mixed review, the 28th the exam), 120 min.
    Forward, in learning order a, c, d, t: a on the 24th; c (105) does not fit beside a, so
    the 25th; d after c: the 25th is full, so the 26th; t after d: the 26th. b's review as
    late as possible, no later than t (the 26th) and no earlier than a: the 26th has room.
    Within a day, prerequisites first."""
    plan = plan_of(CHAIN, ["t"], days=4, budget=120)
    assert schedule(plan) == [[("practice", "a")], [("learn", "c")],
                              [("review", "b"), ("practice", "d"), ("practice", "t")], []]
    assert plan.days[-1].day == dt.date(2026, 11, 27)
    assert plan.days[-1].mixed_review == ["t", "a", "b", "c", "d"]
    assert plan.classes == {"a": "read", "b": "fading", "c": "missing", "d": "read", "t": "read"}
    assert plan.dropped == [] and [d.minutes for d in plan.days] == [45, 105, 110, 0]


def test_reviews_go_late_and_what_cannot_be_learned_is_dropped() -> None:
    """60 min a day: learning c (105) fits no day, so c is dropped, and d and t, which need
    it; b's review then has nothing after it and goes to the last work day."""
    plan = plan_of(CHAIN, ["t"], days=5, budget=60)
    assert schedule(plan) == [[("practice", "a")], [], [], [("review", "b")], []]
    assert [(i.concept, why) for i, why in plan.dropped] == [
        ("c", "needs about 105 min, more than a day's 60"),
        ("d", "needs c, which does not fit"), ("t", "needs c, which does not fit")]


def test_what_does_not_fit_is_dropped_by_least_value_per_minute_and_listed() -> None:
    files = {
        "notes/a.md": concept("a"), "notes/b.md": concept("b", ("a",)),
        "notes/c.md": concept("c", ("a",)), "notes/t.md": concept("t", ("b", "c")),
        "notes/u.md": concept("u", ("b",)),
    }
    plan = plan_of(files, ["t", "u"], days=3, budget=100)  # 2 work days of 100 = 200; needs 225
    dropped = {i.concept: why for i, why in plan.dropped}
    # every item is worth the targets that need it: a 2, b 2, c 1, t 1, u 1; the ends of the
    # chains (c, t, u) can go, each 45 min: t, then u by title … until it fits
    assert list(dropped) == ["t"] and "1 target needs it" in dropped["t"]
    assert "225 min of work do not fit in 2 days of 100 min" in dropped["t"]
    assert {c for d in schedule(plan) for _, c in d} == {"a", "b", "c", "u"}


def test_an_item_longer_than_a_day_and_what_needs_it() -> None:
    files = {"notes/t.md": concept("t", ("m",)), "notes/u.md": concept("u", ("t",))}
    plan = plan_of(files, ["u"], days=3, budget=60)  # learning m takes 105 min
    dropped = {i.concept: why for i, why in plan.dropped}
    assert dropped["m"] == "needs about 105 min, more than a day's 60"
    assert dropped["t"] == "needs m, which does not fit" and dropped["u"] == "needs m, which does not fit"


def test_costs_come_from_the_learners_own_minutes() -> None:
    files = {"notes/a.md": concept("a"), "notes/b.md": concept("b"),
             "notes/pa1.md": practice("a", "2026-01-05", 10), "notes/pa2.md": practice("a", "2026-01-20", 14),
             "notes/pa3.md": practice("a", "2026-02-20", 30), "notes/pa4.md": practice("a", "2026-03-01", 12)}
    plan = plan_of(files, ["a", "b"], days=2, budget=120)
    review = next(i for i in plan.items if i.concept == "a")
    # reviews of a: 14, 30, 12 → median 14 → 15; quartiles 13 and 22 → 15 and 20
    assert (review.kind, review.minutes, review.low, review.high) == ("review", 15, 15, 20)
    practice_b = next(i for i in plan.items if i.concept == "b")
    assert (practice_b.minutes, practice_b.low, practice_b.high) == (45, 30, 60)  # one sample: default


def test_days_off_and_a_cycle() -> None:
    files = {"notes/a.md": concept("a", ("b",)), "notes/b.md": concept("b", ("a",)),
             "notes/t.md": concept("t", ("a",))}
    plan = plan_of(files, ["t"], days=4, budget=120, days_off=(dt.date(2026, 11, 25),))
    assert [d.day.day for d in plan.days] == [24, 26, 27]
    assert plan.notes and "cycle among a, b" in plan.notes[0]
    assert {c for d in schedule(plan) for _, c in d} == {"a", "b", "t"}


# -- properties on random DAGs ------------------------------------------------------------------
@st.composite
def vaults(draw: st.DrawFn) -> tuple[dict[str, str], list[str], int, int]:
    n = draw(st.integers(2, 8))
    files: dict[str, str] = {}
    for i in range(n):
        earlier = sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else []
        prereqs = tuple(f"k{j}" for j in earlier)
        if draw(st.booleans()) and i:
            prereqs += (f"m{i}",)  # a prerequisite with no note: missing
        files[f"notes/k{i}.md"] = concept(f"k{i}", prereqs, tag=draw(st.sampled_from(["p", "q", "r"])))
        state = draw(st.sampled_from(["read", "fading", "solid"]))
        if state == "fading":
            files[f"notes/p{i}.md"] = practice(f"k{i}", "2026-05-01")
        if state == "solid":
            for n_, day in enumerate(["2026-09-01", "2026-09-04", "2026-09-15", "2026-10-10", "2026-11-20"]):
                files[f"notes/p{i}-{n_}.md"] = practice(f"k{i}", day)
    targets = sorted({f"k{t}" for t in draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=3))})
    return files, targets, draw(st.integers(1, 7)), draw(st.integers(20, 400))


@settings(max_examples=60, deadline=None)
@given(vaults())
def test_plan_properties(case: tuple[dict[str, str], list[str], int, int]) -> None:
    files, targets, days, budget = case
    kg = graph_of(files)
    plan = make_plan(kg, build_memory(kg, today=TODAY), targets, today=TODAY,
                     by=TODAY + dt.timedelta(days=days), minutes_per_day=budget)
    where = {i.concept: (n, k) for n, d in enumerate(plan.days) for k, i in enumerate(d.items)}
    prereqs = kg.prerequisite_graph()
    for day in plan.days:
        assert day.minutes <= budget
    for key in where:  # every prerequisite no later than what builds on it (same day: first)
        for before in nx.ancestors(prereqs, key):
            if before in where:
                assert where[before] < where[key]
    wanted = [k for k, c in plan.classes.items() if c != "solid"]
    dropped = [i.concept for i, _ in plan.dropped]
    assert sorted([*where, *dropped]) == sorted(wanted)  # each item planned or listed, once
    assert all(why for _, why in plan.dropped)
    items = [*plan.items, *(i for i, _ in plan.dropped)]
    if sum(i.minutes for i in items) <= budget:  # time suffices: nothing dropped
        assert plan.dropped == []


# -- the command ----------------------------------------------------------------------------------
@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    return copy_sample(tmp_path / "vault")


def test_the_readme_exam_plan(sample: Path) -> None:
    result = run_kb("plan", "lora", "bayes-theorem", "--by", "2026-12-01", "--hours-per-day", "2",
                    "--json", vault=sample)
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["minutes_per_day"] == 120 and data["dropped"] == []
    assert data["classes"]["solid"] == ["determinant", "matrices", "vectors"]
    assert data["classes"]["missing"] == ["attention"]
    days = {item["id"]: n for n, day in enumerate(data["days"]) for item in day["items"]}
    assert days["eigenvalues"] < days["svd"] < days["low-rank-factorization"] <= days["lora"]
    assert days["backpropagation"] == 5 and data["days"][5]["date"] == "2026-11-29"  # late
    assert data["days"][-1]["date"] == "2026-11-30" and data["days"][-1]["mixed_review"][:2] == [
        "bayes-theorem", "lora"]
    assert all(day["minutes"] <= 120 for day in data["days"])
    table = run_kb("plan", "lora", "bayes-theorem", "--by", "2026-12-01", "--hours-per-day", "2",
                   vault=sample).stdout
    assert "Practice Eigenvalues and eigenvectors" in table and "Mon 2026-11-30  mixed review" in table


def test_markdown_and_ics(sample: Path) -> None:
    args = ("plan", "lora", "--by", "2026-11-28", "--minutes-per-day", "90")
    md = run_kb(*args, "--format", "md", vault=sample).stdout
    assert md.startswith("# Plan: lora until 2026-11-28")
    assert "- [ ] Practice [[matrix-rank|Matrix rank]] (30–60 min)" in md
    ics = run_kb(*args, "--format", "ics", vault=sample).stdout
    calendar = icalendar.Calendar.from_ical(ics)
    events = list(calendar.walk("VEVENT"))
    plan = run_kb(*args, "--json", vault=sample).json()
    planned = [d for d in plan["days"] if d["items"] or d["mixed_review"]]
    assert [e.decoded("DTSTART") for e in events] == [dt.date.fromisoformat(d["date"]) for d in planned]
    first = str(events[0].get("DESCRIPTION"))
    assert all(item["title"] in first for item in planned[0]["items"])
    assert "Does not fit" in md and plan["dropped"]


def test_ics_lines_are_folded_and_escaped() -> None:
    kg = graph_of({"notes/a.md": concept("a" * 60 + ", ; é" + "a" * 60)})  # the title: upper case
    plan = make_plan(kg, build_memory(kg, today=TODAY), ["a"], today=TODAY,
                     by=TODAY + dt.timedelta(days=1), minutes_per_day=120)
    text = to_ics(plan, stamp=dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC))
    assert all(len(line.encode("utf-8")) <= 75 for line in text.split("\r\n"))
    event = icalendar.Calendar.from_ical(text).walk("VEVENT")[0]
    assert "A" * 60 + ", ; É" + "A" * 60 in str(event.get("DESCRIPTION"))


def test_todays_session(sample: Path) -> None:
    result = run_kb("plan", "lora", "--minutes-per-day", "60", "--json", vault=sample)
    data = result.json()
    assert data["by"] is None and len(data["days"]) == 1 and data["days"][0]["minutes"] <= 60
    assert [i["kind"] for i in data["days"][0]["items"]] == ["review"] * 3


def test_targets_by_series_and_tag(sample: Path) -> None:
    series = run_kb("plan", "math-level-up", "--by", "2026-11-30", "--json", vault=sample).json()
    assert series["targets"] == ["eigenvalues", "pca", "lora"]
    tagged = run_kb("plan", "#probability", "--by", "2026-11-30", "--json", vault=sample).json()
    assert tagged["targets"] == ["bayes-theorem", "conditional-probability", "covariance"]


def test_bad_input(sample: Path, make_vault: Callable[..., Path]) -> None:
    unknown = run_kb("plan", "lorra", "--by", "2026-12-01", vault=sample)
    assert unknown.exit_code == 2 and "did you mean lora" in unknown.stderr
    past = run_kb("plan", "lora", "--by", "2026-11-01", vault=sample)
    assert past.exit_code == 2 and "not after today" in past.stderr
    assert run_kb("plan", "lora", "--by", "2026-12-01", "--minutes-per-day", "0", vault=sample).exit_code == 2
    both = run_kb("plan", "lora", "--minutes-per-day", "60", "--hours-per-day", "1", vault=sample)
    assert both.exit_code == 2
    off = run_kb("plan", "lora", "--by", "2026-11-25", "--days-off", "2026-11-24", vault=sample)
    assert off.exit_code == 2 and "no day to work" in off.stderr
    short = run_kb("plan", "lora", "--by", "2026-11-25", "--minutes-per-day", "30", vault=sample)
    assert short.exit_code == 0 and "Does not fit" in short.stdout
