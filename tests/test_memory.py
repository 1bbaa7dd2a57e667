"""Memory per concept (SPEC §7): every number checked against fsrs called directly, with a fixed
clock; properties of the replay; `kb review` and `kb review done` on a copy of the sample vault."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fsrs import Card, Rating, Scheduler, State
from fsrs.scheduler import DEFAULT_PARAMETERS
from hypothesis import given, settings
from hypothesis import strategies as st

import kb
from kb.learning.memory import (
    MEMO_FILE,
    Review,
    build_memory,
    implicit_credit,
    interval_days,
    one_per_day,
    replay,
    retrievability,
)

from .conftest import REPO, copy_sample, run_kb

TODAY = dt.date(2026, 11, 24)
RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}


def fsrs_scheduler(retention: float = 0.9) -> Scheduler:
    """What docs/memory.md says kb uses, built here independently of kb's code."""
    return Scheduler(desired_retention=retention, learning_steps=(), relearning_steps=(),
                     enable_fuzzing=False)


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)


def fsrs_card(history: list[tuple[dt.date, str]], scheduler: Scheduler) -> Card:
    card = Card(card_id=1)
    for day, result in history:
        card, _ = scheduler.review_card(card, RATINGS[result], noon(day))
    return card


def concept(name: str, prerequisites: tuple[str, ...] = ()) -> str:
    prereqs = f"prerequisites: [{', '.join(prerequisites)}]\n" if prerequisites else ""
    return f"---\ntype: concept\ntitle: {name.title()}\n{prereqs}---\n"


def practice(about: str, day: str | None, result: str | None = None, extra: str = "") -> str:
    lines = ["---", "type: practice", "practice: exercise", f"concept: {about}"]
    if day is not None:
        lines.append(f"date: {day}")
    if result is not None:
        lines.append(f"result: {result}")
    return "\n".join([*lines, *([extra] if extra else []), "---", "Worked it out.", ""])


# -- numbers checked against fsrs -------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 40000), st.floats(0.5, 0.99))
def test_credited_due_day_uses_fsrs_interval(stability: float, retention: float) -> None:
    """A credited card's due day comes from fsrs's own interval formula (private in fsrs, so
    kb repeats it; this holds the two equal)."""
    scheduler = fsrs_scheduler(retention)
    assert interval_days(scheduler, stability) == scheduler._next_interval(stability=stability)


def test_small_history_matches_fsrs_called_directly(make_vault: Callable[..., Path]) -> None:
    root = make_vault({
        "notes/a.md": concept("a"),
        "notes/p1.md": practice("a", "2026-10-01"),
        "notes/p2.md": practice("a", "2026-10-04", "hard"),
        "notes/p3.md": practice("a", "2026-10-20", "easy"),
        "notes/r.md": "---\nconcept: a\ndate: 2026-11-01\n---\nReading is not review.\n",
    })
    memory = build_memory(kb.open_vault(root).graph, today=TODAY)
    scheduler = fsrs_scheduler()
    card = fsrs_card([(dt.date(2026, 10, 1), "good"), (dt.date(2026, 10, 4), "hard"),
                      (dt.date(2026, 10, 20), "easy")], scheduler)
    state = memory.concepts["a"]
    assert state.stability == pytest.approx(card.stability)
    assert state.difficulty == pytest.approx(card.difficulty)
    assert state.due == card.due.date()
    assert state.last_practice == dt.date(2026, 10, 20) and len(state.reviews) == 3
    for on in (dt.date(2026, 10, 20), dt.date(2026, 11, 24), dt.date(2027, 6, 1)):
        assert memory.recall("a", on) == pytest.approx(scheduler.get_card_retrievability(card, noon(on)))


def test_one_good_review_by_hand(make_vault: Callable[..., Path]) -> None:
    """The published FSRS-6 numbers: first good review → stability w2 = 2.3065 days, and
    R(t) = (1 + F t / S) ^ -w20 with F = 0.9 ^ (-1 / w20) - 1, w20 = 0.1542."""
    root = make_vault({"notes/a.md": concept("a"), "notes/p.md": practice("a", "2026-11-01")})
    memory = build_memory(kb.open_vault(root).graph, today=TODAY)
    factor = 0.9 ** (-1 / 0.1542) - 1
    assert memory.concepts["a"].stability == pytest.approx(2.3065)
    assert memory.recall("a", dt.date(2026, 11, 24)) == pytest.approx(
        (1 + factor * 23 / 2.3065) ** -0.1542)
    assert memory.concepts["a"].due == dt.date(2026, 11, 3)  # 2.3 days, rounded


def test_implicit_credit_by_hand(make_vault: Callable[..., Path]) -> None:
    """b → a → top: practicing top (good) credits a by 0.5 and b by 0.25 of a good review's
    stability gain; difficulty and the last practice day do not move."""
    root = make_vault({
        "notes/b.md": concept("b"), "notes/a.md": concept("a", ("b",)),
        "notes/top.md": concept("top", ("a",)),
        "notes/pa.md": practice("a", "2026-09-01"), "notes/pb.md": practice("b", "2026-09-01"),
        "notes/pt.md": practice("top", "2026-10-15"),
    })
    memory = build_memory(kb.open_vault(root).graph, today=TODAY)
    scheduler = fsrs_scheduler()
    for key, weight in (("a", 0.5), ("b", 0.25)):
        before = fsrs_card([(dt.date(2026, 9, 1), "good")], scheduler)
        good, _ = scheduler.review_card(before, Rating.Good, noon(dt.date(2026, 10, 15)))
        state = memory.concepts[key]
        gain = good.stability - before.stability
        assert state.stability == pytest.approx(before.stability + weight * gain)
        assert state.difficulty == pytest.approx(before.difficulty)
        assert state.last_practice == dt.date(2026, 9, 1) and state.last_credit == dt.date(2026, 10, 15)
        assert [r.weight for r in state.credits] == [weight] and len(state.reviews) == 1
        recall = memory.recall(key, TODAY)
        assert recall is not None
        assert scheduler.get_card_retrievability(before, noon(TODAY)) < recall
        assert recall < scheduler.get_card_retrievability(good, noon(TODAY))


def test_credit_needs_a_memory_and_a_success(make_vault: Callable[..., Path]) -> None:
    """Never-practiced prerequisites get nothing (credit refreshes, never creates); a hard
    review passes nothing down; `implicit_credit: 0` on a note turns it off."""
    root = make_vault({
        "notes/b.md": concept("b"), "notes/c.md": concept("c"), "notes/d.md": concept("d"),
        "notes/a.md": concept("a", ("b", "c", "d")),
        "notes/pc.md": practice("c", "2026-09-01"), "notes/pd.md": practice("d", "2026-09-01"),
        "notes/pa1.md": practice("a", "2026-10-01", "hard"),
        "notes/pa2.md": practice("a", "2026-10-10", extra="implicit_credit: 0"),
        "notes/pa3.md": practice("a", "2026-10-20", extra="implicit_credit: 0.2"),
    })
    memory = build_memory(kb.open_vault(root).graph, today=TODAY)
    assert "b" not in memory.concepts
    assert [(r.day, r.weight) for r in memory.concepts["c"].credits] == [(dt.date(2026, 10, 20), 0.2)]


def test_retention_from_kb_toml(make_vault: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    files = {"notes/a.md": concept("a"), "notes/p.md": practice("a", "2026-11-21")}
    # one good review three days ago: recall about 0.84, below 0.9 but above 0.8
    assert [r["id"] for r in run_kb("review", "--json", vault=make_vault(files)).json()["review"]] == ["a"]
    loose = make_vault({**files, "kb.toml": "retention = 0.8\n"})
    data = run_kb("review", "--json", vault=loose).json()
    assert data["review"] == [] and data["retention"] == 0.8
    bad = run_kb("check", vault=make_vault({**files, "kb.toml": "retention = 1.5\n"}))
    assert bad.exit_code == 1 and "kb.toml:1" in bad.stderr and "retention" in bad.stderr


# -- properties ---------------------------------------------------------------------------------
START = dt.date(2026, 1, 1)
results = st.sampled_from(("again", "hard", "good", "easy"))
histories = st.lists(st.tuples(st.integers(0, 200), results), min_size=1, max_size=6)


def _events(history: list[tuple[int, str]]) -> list[Review]:
    return [Review("a", START + dt.timedelta(days=d), r, f"notes/p{i:02}.md")
            for i, (d, r) in enumerate(history)]


def _recall(events: list[Review], on: dt.date) -> float:
    scheduler = fsrs_scheduler()
    state = replay(one_per_day(events), scheduler)["a"]
    card = Card(card_id=1, state=State.Review, stability=state.stability,
                difficulty=state.difficulty, last_review=noon(state.last_review))
    return float(scheduler.get_card_retrievability(card, noon(on)))


@settings(max_examples=200, deadline=None)
@given(st.floats(0.01, 36500), st.integers(-5, 40000), st.floats(0.1, 0.8))
def test_recall_is_fsrs_retrievability(stability: float, elapsed: int, decay: float) -> None:
    """kb computes recall without importing fsrs (a memo hit); it is fsrs's own number."""
    parameters = list(DEFAULT_PARAMETERS)
    parameters[20] = decay
    scheduler = Scheduler(parameters=parameters)
    card = Card(card_id=1, state=State.Review, stability=stability, difficulty=5.0,
                last_review=noon(START))
    expected = scheduler.get_card_retrievability(card, noon(START) + dt.timedelta(days=elapsed))
    assert retrievability(stability, elapsed, decay) == pytest.approx(expected, rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(histories, st.integers(0, 60), st.integers(0, 400))
def test_an_extra_good_review_never_lowers_later_recall(history: list[tuple[int, str]], gap: int,
                                                         later: int) -> None:
    """An extra good review after the others never lowers recall on any later day. (Inserted
    between earlier reviews it can, slightly: FSRS gains less from a review that comes early,
    which docs/memory.md explains.)"""
    events = _events(history)
    last = max(e.day for e in events)
    extra = Review("a", last + dt.timedelta(days=gap), "good", "notes/zz.md")
    on = extra.day + dt.timedelta(days=later)
    assert _recall([*events, extra], on) >= _recall(events, on) - 1e-12


@settings(max_examples=150, deadline=None)
@given(histories, st.integers(1, 60), st.floats(0.01, 1.0), st.integers(0, 400))
def test_implicit_credit_is_never_more_than_a_review(history: list[tuple[int, str]], gap: int,
                                                     weight: float, later: int) -> None:
    events = _events(history)
    day = max(e.day for e in events) + dt.timedelta(days=gap)
    credit = Review("a", day, "good", "notes/x.md", weight=weight, via="x")
    review = Review("a", day, "good", "notes/x.md")
    on = day + dt.timedelta(days=later)
    without, implicit, explicit = _recall(events, on), _recall([*events, credit], on), _recall(
        [*events, review], on)
    assert without - 1e-12 <= implicit <= explicit + 1e-12


@settings(max_examples=150, deadline=None)
@given(histories, st.data())
def test_same_day_duplicates_count_once(history: list[tuple[int, str]], data: st.DataObject) -> None:
    events = _events(history)
    original = data.draw(st.sampled_from(events))
    duplicate = Review("a", original.day, data.draw(results), "notes/zz-later.md")
    credit = Review("a", original.day, "good", "notes/zz-credit.md", weight=0.5, via="x")
    on = max(e.day for e in events) + dt.timedelta(days=30)
    assert _recall([*events, duplicate, credit], on) == _recall(events, on)


def test_credit_flows_two_hops_and_survives_cycles() -> None:
    import networkx as nx

    graph = nx.DiGraph([("c", "b"), ("b", "a"), ("a", "c"), ("d", "c")])  # a cycle a → c → b → a
    credit = implicit_credit([Review("a", START, "good", "p.md")], graph)
    assert sorted((r.concept, r.weight, r.via) for r in credit) == [("b", 0.5, "a"), ("c", 0.25, "a")]
    assert implicit_credit([Review("a", START, "again", "p.md")], graph) == []


# -- the sample vault ---------------------------------------------------------------------------
@pytest.fixture
def sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    return copy_sample(tmp_path / "vault")


def test_sample_backpropagation_fades_determinant_holds(sample: Path) -> None:
    result = run_kb("review", "--on", "2026-11-24", "--json", vault=sample)
    assert result.exit_code == 0, result.stderr
    rows = {r["id"]: r for r in result.json()["review"]}
    assert "backpropagation" in rows and "determinant" not in rows
    assert rows["backpropagation"]["recall"] < 0.9 and rows["backpropagation"]["credits"] == 1
    values = [r["value"] for r in result.json()["review"]]
    assert values == sorted(values, reverse=True)
    shown = run_kb("show", "determinant", "--json", vault=sample).json()["memory"]
    assert shown["recall"] >= 0.9 and shown["reviews"] == 4
    assert run_kb("show", "eigenvalues", "--json", vault=sample).json()["memory"]["reviews"] == 0
    table = run_kb("review", "--on", "2026-11-24", vault=sample).stdout
    assert "Backpropagation" in table and "Determinant" not in table


def test_review_done_records_a_note_that_changes_the_answer(sample: Path) -> None:
    before = run_kb("review", "--json", vault=sample).json()["review"]
    assert "backpropagation" in [r["id"] for r in before]
    done = run_kb("review", "done", "backpropagation", "--result", "hard", "--minutes", "20",
                  vault=sample)
    assert done.exit_code == 0, done.stderr
    path = sample / done.stdout.strip()
    assert path.parent.resolve() == (sample / "notes/practice").resolve()
    text = path.read_text(encoding="utf-8")
    assert "result: \"hard\"" in text and "minutes: 20" in text and "date: 2026-11-24" in text
    after = run_kb("review", "--json", vault=sample).json()["review"]
    assert "backpropagation" not in [r["id"] for r in after]
    shown = run_kb("show", "backpropagation", "--json", vault=sample).json()["memory"]
    assert shown["last_practice"] == "2026-11-24" and shown["reviews"] == 2 and shown["recall"] == 1.0
    again = run_kb("review", "done", "backpropagation", vault=sample)
    assert again.exit_code == 0 and again.stdout.strip().endswith("-2.md")
    assert "only a day's first review counts" in again.stderr
    assert path.read_text(encoding="utf-8") == text  # never overwritten
    assert run_kb("show", "backpropagation", "--json", vault=sample).json()["memory"]["reviews"] == 2


def test_review_on_a_past_day_replays_only_what_came_before(sample: Path) -> None:
    run_kb("review", "done", "backpropagation", vault=sample)
    old = run_kb("review", "--on", "2026-11-20", "--json", vault=sample).json()
    row = next(r for r in old["review"] if r["id"] == "backpropagation")
    assert row["last_practice"] == "2026-06-24" and row["recall_today"] == 1.0


def test_review_done_refuses_bad_requests(sample: Path) -> None:
    future = run_kb("review", "done", "backpropagation", "--date", "2026-12-01", vault=sample)
    assert future.exit_code == 2 and "after today" in future.stderr
    unknown = run_kb("review", "done", "backpropagaton", vault=sample)
    assert unknown.exit_code == 2 and "backpropagation" in unknown.stderr
    (sample / "templates/note-review.md.j2").write_text(
        "---\ntype: practice\nconcept: \"[[{{ concepts[0] }}]]\"\ndate: {{ date }}\n---\n", encoding="utf-8")
    before = sorted((sample / "notes").rglob("*.md"))
    broken = run_kb("review", "done", "backpropagation", "--result", "hard", vault=sample)
    assert broken.exit_code == 1 and "its result is good, not hard" in broken.stderr
    assert sorted((sample / "notes").rglob("*.md")) == before


def test_the_memo_is_never_stale(make_vault: Callable[..., Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """.kb/memory.json is keyed by everything the replay reads: a changed prerequisite edge or
    retention is a replay; a corrupt memo is a replay too."""
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    root = make_vault({
        "notes/a.md": concept("a"), "notes/b.md": concept("b", ("a",)),
        "notes/pa.md": practice("a", "2026-06-01"), "notes/pb.md": practice("b", "2026-09-01"),
    })
    first = run_kb("show", "a", "--json", vault=root).json()["memory"]
    assert first["credits"] == 1 and (root / MEMO_FILE).is_file()
    assert run_kb("show", "a", "--json", vault=root).json()["memory"] == first
    (root / "notes/b.md").write_text(concept("b"), encoding="utf-8")
    assert run_kb("show", "a", "--json", vault=root).json()["memory"]["credits"] == 0
    (root / MEMO_FILE).write_text("{not json", encoding="utf-8")
    assert run_kb("show", "a", "--json", vault=root).json()["memory"]["credits"] == 0
    (root / "kb.toml").write_text("retention = 0.5\n", encoding="utf-8")
    assert run_kb("review", "--json", vault=root).json()["review"] == []


def test_warm_answers_equal_cold_ones(sample: Path) -> None:
    cold = run_kb("review", "--on", "2027-01-10", "--json", "--no-cache", vault=sample)
    run_kb("review", "--json", vault=sample)  # fills the cache
    warm = run_kb("review", "--on", "2027-01-10", "--json", vault=sample)
    assert cold.stdout == warm.stdout and cold.json()["review"]


# -- bad input ----------------------------------------------------------------------------------
def test_practice_notes_that_record_no_review(make_vault: Callable[..., Path],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    root = make_vault({
        "notes/a.md": concept("a"),
        "notes/ok.md": practice("a", "2026-06-01"),
        "notes/undated.md": practice("a", None),
        "notes/future.md": practice("a", "2027-01-01"),
        "notes/unknown.md": practice("a", "2026-11-20", "meh"),
        "notes/credit.md": practice("a", "2026-06-02", extra="implicit_credit: 2"),
    })
    result = run_kb("review", "--json", vault=root)
    assert result.exit_code == 1  # the unknown result is an invalid field (an error)
    assert "notes/undated.md:2: warning: practice note not counted as a review: it has no 'date'" \
        in result.stderr
    assert "notes/future.md:5: warning: practice note dated 2027-01-01" in result.stderr
    assert "notes/unknown.md:6: warning: practice note not counted" in result.stderr
    assert "notes/credit.md:6: warning: 'implicit_credit' must be a number" in result.stderr
    row = result.json()["review"][0]
    assert row["reviews"] == 2 and row["last_practice"] == "2026-06-02"
    check = run_kb("check", vault=root)
    assert "notes/undated.md:2" in check.stderr and "notes/future.md:5" in check.stderr


def test_a_concept_in_a_cycle_still_has_a_memory(make_vault: Callable[..., Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_TODAY", "2026-11-24")
    root = make_vault({
        "notes/a.md": concept("a", ("b",)), "notes/b.md": concept("b", ("a",)),
        "notes/pa.md": practice("a", "2026-09-01"), "notes/pb.md": practice("b", "2026-10-01"),
    })
    result = run_kb("review", "--json", vault=root)
    assert result.exit_code == 0 and "kb: note: prerequisite cycle" in result.stderr
    rows = {r["id"]: r for r in result.json()["review"]}
    assert set(rows) == {"a", "b"} and rows["a"]["credits"] == 1
    assert run_kb("show", "a", vault=root).exit_code == 0
    assert run_kb("check", vault=root).exit_code == 1  # the cycle is an error where it is checked


def test_bad_kb_today_is_a_usage_error(make_vault: Callable[..., Path],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_TODAY", "tomorrow")
    assert run_kb("review", vault=make_vault({"notes/a.md": concept("a")})).exit_code == 2


def test_fsrs_is_imported_only_by_commands_that_use_it(tmp_path: Path) -> None:
    code = ("import sys; from click.testing import CliRunner; from kb.cli import main; "
            "CliRunner().invoke(main, [sys.argv[1], '--vault', sys.argv[2]]); "
            "print('fsrs' in sys.modules)")
    vault = copy_sample(tmp_path / "vault")
    # the second review finds its replay in .kb/memory.json and needs no fsrs
    for command, expected in (("list", "False"), ("check", "False"), ("review", "True"),
                              ("review", "False"), ("gaps", "False")):
        out = subprocess.run([sys.executable, "-c", code, command, str(vault)], capture_output=True,
                             text=True, cwd=REPO, check=True)
        assert out.stdout.strip() == expected, command


def test_gaps_and_graph_carry_memory(sample: Path) -> None:
    fading = {f["id"]: f for f in run_kb("gaps", "--json", vault=sample).json()["fading"]}
    assert "backpropagation" in fading and "determinant" not in fading
    assert fading["backpropagation"]["last_practice"] == "2026-06-24"
    assert "Practiced but fading" in run_kb("gaps", vault=sample).stdout
    nodes = {n["id"]: n for n in run_kb("graph", "--concepts-only", vault=sample).json()["nodes"]}
    assert nodes["concept:determinant"]["recall"] >= 0.9 > nodes["concept:backpropagation"]["recall"]
    assert "recall" not in nodes["concept:eigenvalues"]


def test_result_and_minutes_survive_the_cache(make_vault: Callable[..., Path]) -> None:
    root = make_vault({"notes/p.md": practice("a", "2026-06-01", "hard", extra="minutes: 25")})
    cold = kb.open_vault(root).graph.notes["p"]
    warm = kb.open_vault(root).graph.notes["p"]
    assert (cold.result, cold.minutes) == (warm.result, warm.minutes) == ("hard", 25)
