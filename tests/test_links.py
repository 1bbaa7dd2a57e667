"""Link extraction, driven by the fixture file tests/fixtures/links.txt."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.notes.model import Link
from kb.notes.parse import parse_note

FIXTURE = Path(__file__).parent / "fixtures" / "links.txt"


def load_cases() -> list[tuple[str, str, list[str]]]:
    cases: list[tuple[str, str, list[str]]] = []
    title, mode, body, expected = "", "", [], []
    for raw in FIXTURE.read_text(encoding="utf-8").split("\n"):
        if raw.startswith("~~~ "):
            if raw == "~~~ expected":
                mode = "expected"
                continue
            if title:
                cases.append((title, "\n".join(body) + "\n", expected))
            title, mode, body, expected = raw[4:], "input", [], []
        elif mode == "input":
            body.append(raw)
        elif mode == "expected" and raw.strip() and raw != "(none)":
            expected.append(raw)
    cases.append((title, "\n".join(body) + "\n", expected))
    return cases


def render(link: Link) -> str:
    text = f"{link.line} {link.kind} {link.target}"
    if link.fragment:
        text += f"#{link.fragment}"
    if link.label:
        text += f"|{link.label}"
    return text


CASES = load_cases()


def test_fixture_file_has_cases() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(("title", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_link_extraction(title: str, text: str, expected: list[str]) -> None:
    note = parse_note("notes/case.md", "case", text.encode())
    assert [render(link) for link in note.links] == expected
