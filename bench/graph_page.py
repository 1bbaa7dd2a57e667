"""How fast the concept map (kb graph --format html) opens in Chromium, at several vault sizes.

    python bench/graph_page.py [--concepts 500 5000] [--runs 3] [--keep DIR]

For each size: generates a vault with that many concepts (bench/generate.py, four notes per
concept), times `kb graph --format html` (whole process, warm cache), then opens the page from
disk in headless Chromium (Debian's, through Playwright) and reads, from the page's own clock:
first contentful paint, DOMContentLoaded, load, and "interactive" (the page's script has run:
<html data-ready>). Then it times one selection (click → next frame, path highlighted) and one
zoom step. Medians of --runs page loads, each in a fresh browser context. Prints a Markdown table.
SPEC §6: the page must be interactive within 2 s with 5,000 concepts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

TIMINGS = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  return {fcp: paint ? paint.startTime : null, dcl: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd, ready: +document.documentElement.dataset.ready};
}"""

# One selection, timed in the page: the click handler runs, then the next frame is painted.
SELECT = """(i) => new Promise((done) => {
  const node = document.querySelector(`#nodes > .node[data-i="${i}"]`);
  const start = performance.now();
  node.dispatchEvent(new PointerEvent("pointerdown", {bubbles: true, button: 0}));
  node.dispatchEvent(new PointerEvent("pointerup", {bubbles: true, button: 0}));
  requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - start)));
})"""

ZOOM = """() => new Promise((done) => {
  const start = performance.now();
  document.getElementById("zoom-in").click();
  requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - start)));
})"""


def chromium() -> str:
    found = os.environ.get("KB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        sys.exit("Chromium is not installed: apt-get install chromium")
    return found


def kb_graph(vault: Path, out: Path) -> float:
    command = [sys.executable, "-m", "kb", "graph", "--format", "html", "--output", str(out),
               "--vault", str(vault)]
    subprocess.run(command, check=True, capture_output=True)  # primes the cache
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def measure(page_file: Path, runs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    samples: dict[str, list[float]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=ARGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1400, "height": 850})
            page = context.new_page()
            start = time.perf_counter()
            page.goto(page_file.as_uri())
            page.wait_for_selector("html[data-ready]")
            wall = (time.perf_counter() - start) * 1000
            found = page.evaluate(TIMINGS)
            found["wall"] = wall
            count = page.locator("#nodes > .node").count()
            found["select"] = page.evaluate(SELECT, count - 1)  # the last: the longest path
            found["zoom"] = page.evaluate(ZOOM)
            for key, value in found.items():
                samples.setdefault(key, []).append(value)
            context.close()
        browser.close()
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concepts", type=int, nargs="+", default=[500, 5000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the vaults and pages in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="kb-graph-bench-"))
    rows = []
    for size in args.concepts:
        vault = work / f"vault-{size}"
        if not (vault / "kb.toml").exists():
            generate(vault, size * 4)
        out = work / f"map-{size}.html"
        render = kb_graph(vault, out)
        found = measure(out, args.runs)
        concepts = out.read_text(encoding="utf-8").count('<g class="node ')
        rows.append((concepts, out.stat().st_size / 1e6, render, found))
    print(f"Chromium, Python {sys.version.split()[0]}, {os.cpu_count()} cores; page loads: median of "
          f"{args.runs}\n")
    print("| concepts | page MB | kb graph --format html (warm) | first paint | DOMContentLoaded "
          "| load | interactive | select (to next frame) | zoom step |")
    print("|---|---|---|---|---|---|---|---|---|")
    for concepts, megabytes, render, f in rows:
        print(f"| {concepts:,} | {megabytes:.1f} | {render:.2f} s | {f['fcp']:.0f} ms | {f['dcl']:.0f} ms "
              f"| {f['load']:.0f} ms | {f['ready']:.0f} ms | {f['select']:.0f} ms | {f['zoom']:.0f} ms |")
    if not args.keep:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
