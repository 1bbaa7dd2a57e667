"""Deterministic generator of realistic kb vaults for benchmarks.

    python bench/generate.py OUT_DIR --notes 1000 [--seed 7]

Writes OUT_DIR/kb.toml and OUT_DIR/notes/ with typed notes in folders: concept notes forming a
prerequisite DAG, reading notes citing source notes with locators, practice notes of every
kind, body links (wikilinks with labels and headings, embeds, Markdown links), code fences,
inline and display math, tables, callouts and footnotes, and what real vaults also have: links
to notes not written yet and prerequisites with no note. Same seed, same bytes.
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

FOLDERS = ["linear-algebra", "calculus", "probability", "optimization", "deep-learning", "papers"]
WORDS = """matrix vector basis rank kernel gradient loss entropy prior posterior sample layer
weight bias attention token embedding norm projection eigen spectrum variance mean estimate
convex step batch epoch residual softmax""".split()  # noqa: SIM905 - reads as prose


def sentence(rng: random.Random, n: int = 14) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def paragraph(rng: random.Random, links: list[str]) -> str:
    parts = [sentence(rng) for _ in range(rng.randint(2, 5))]
    for target in links:
        style = rng.random()
        if style < 0.6:
            link = f"[[{target}]]"
        elif style < 0.75:
            link = f"[[{target}|{rng.choice(WORDS)}]]"
        elif style < 0.85:
            link = f"[[{target}#Definition]]"
        else:
            link = f"[{rng.choice(WORDS)}]({target}.md)"
        parts.insert(rng.randint(0, len(parts)), f"See {link}.")
    return " ".join(parts)


def body(rng: random.Random, title: str, links: list[str]) -> str:
    blocks = [f"# {title}", "", "## Definition", "", paragraph(rng, links[:2]), ""]
    if rng.random() < 0.5:
        blocks += ["$$", r"\sum_{i=1}^{n} x_i^2 = \|x\|^2 \quad [[not-a-link]]", "$$", ""]
    if rng.random() < 0.5:
        blocks += ["```python", "import numpy as np", "x = np.array([[1, 2], [3, 4]])  # [[no]]",
                   "print(np.linalg.eigvals(x))", "```", ""]
    if rng.random() < 0.3:
        blocks += ["| term | link |", "|---|---|", f"| a | {'[[' + links[0] + ']]' if links else 'x'} |", ""]
    if rng.random() < 0.3:
        blocks += ["> [!note] Remember", f"> {sentence(rng)} Inline $a_{{ij}} = b$ math.", ""]
    for _ in range(rng.randint(1, 4)):
        blocks += [paragraph(rng, []), ""]
    blocks += [paragraph(rng, links[2:]), ""]
    if rng.random() < 0.2:
        blocks += ["A claim.[^1]", "", f"[^1]: {sentence(rng, 6)}", ""]
    return "\n".join(blocks)


def generate(out: Path, notes: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    if out.exists():
        shutil.rmtree(out)
    (out / "notes").mkdir(parents=True)
    (out / "kb.toml").write_text('notes = "notes"\n', encoding="utf-8")
    n_sources = max(3, notes // 50)
    n_concepts = max(5, notes // 4)
    n_practice = max(2, notes // 8)
    n_readings = max(1, notes - n_sources - n_concepts - n_practice)
    concepts = [f"concept-{i:05d}" for i in range(n_concepts)]
    sources = [f"source-{i:04d}" for i in range(n_sources)]

    def write(folder: str, name: str, front: list[str], text: str) -> None:
        path = out / "notes" / folder / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("---\n" + "\n".join(front) + "\n---\n" + text, encoding="utf-8")

    for i, name in enumerate(sources):
        write("sources", name, ["type: source", f"kind: {rng.choice(['book', 'paper', 'course'])}",
                                f"authors: [Author {i}]", f"year: {2000 + i % 25}",
                                f"status: {rng.choice(['reading', 'finished', 'to-read'])}"],
              body(rng, f"Source {i}", []))
    for i, name in enumerate(concepts):
        earlier = concepts[max(0, i - 60):i]
        prereqs = rng.sample(earlier, min(len(earlier), rng.randint(0, 3)))
        if rng.random() < 0.03:  # needed but never studied: no note for it yet
            prereqs.append(f"topic-{rng.randint(0, 50):02d}")
        links = rng.sample(concepts, 3)
        folder = FOLDERS[i % len(FOLDERS)]
        write(folder, name, ["type: concept", f"title: Concept {i}",
                             f"prerequisites: [{', '.join(prereqs)}]", f"tags: [{folder}]"],
              body(rng, f"Concept {i}", links))
    for i in range(n_readings):
        about = rng.choice(concepts)
        write("readings", f"reading-{i:05d}", [
            "type: reading", f'concept: "[[{about}]]"', f"source: {rng.choice(sources)}",
            f'locator: "ch. {rng.randint(1, 20)}"',
            f"date: 2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"],
            body(rng, f"Reading {i}", rng.sample(concepts, 4)
                 + ([f"idea-{i:05d}"] if rng.random() < 0.05 else [])))  # a note not written yet
    # dates and results come from a generator of their own, so the rest of the vault stays
    # what it was before practice notes had them
    when = random.Random(seed + 1)
    for i in range(n_practice):
        about = rng.choice(concepts)
        write("practice", f"practice-{i:05d}", [
            "type: practice", f"practice: {rng.choice(['exercise', 'code', 'project'])}",
            f"concept: {about}", f"source: {rng.choice(sources)}",
            f"date: 2026-{when.randint(1, 11):02d}-{when.randint(1, 28):02d}",
            f"result: {when.choices(['again', 'hard', 'good', 'easy'], [1, 2, 6, 1])[0]}"],
            body(rng, f"Practice {i}", rng.sample(concepts, 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    generate(args.out, args.notes, args.seed)


if __name__ == "__main__":
    main()
