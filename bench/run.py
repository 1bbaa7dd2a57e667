"""Benchmark kb against the tools a user would pick instead, on generated vaults.

    python bench/run.py [--sizes 1000 10000] [--runs 3] [--peer-runs 1]

Times whole processes (wall, user+sys, peak RSS of the child; median of --runs) for kb cold
(`check --no-cache`), kb warm (`gaps` with a primed cache; `review` and `plan`), kb
after editing one note, `kb --help`, and the peers on the same vaults in the same run:
foam-wiki (`foamwiki check`, as many runs as kb) and obsidiantools
(`Vault(...).connect().gather()`, --peer-runs).
The peers are installed by this script into bench/.peers (a virtual environment of their
own), never into kb's environment.
Prints a Markdown table with kb/peer ratios. kb runs from compiled bytecode, as installed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

# An empty KB_BENCH_PEERS means the default too: Path("") would put a virtualenv in the cwd.
PEERS = Path(os.environ.get("KB_BENCH_PEERS") or HERE / ".peers")
OBSIDIANTOOLS = ("import sys, pathlib, obsidiantools.api as otools; "
                 "v = otools.Vault(pathlib.Path(sys.argv[1])).connect().gather(); "
                 "print(len(v.md_file_index))")


def ensure_peers() -> Path:
    python = PEERS / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True)
    probe = subprocess.run([str(python), "-c", "import obsidiantools, foamwiki"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", "foam-wiki", "obsidiantools"],
                       check=True)
    return python


def measure(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, user+sys seconds, peak RSS in MB) of one child process. A run that
    fails (exit status above 1: `check` commands exit 1 when they find problems) is an error,
    so a broken peer can never pass for a fast one."""
    # stderr goes to a file, not a pipe: nobody reads a pipe while we wait, and a vault with
    # thousands of diagnostics would fill it and block the child forever.
    with tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({code}): {errors.read().decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median_of(runs: int, argv: list[str], before: Callable[[], None] | None = None
              ) -> tuple[float, float, float]:
    samples = []
    for _ in range(runs):
        if before:
            before()
        samples.append(measure(argv))
    return tuple(statistics.median(s[i] for s in samples) for i in range(3))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=1,
                        help="runs for obsidiantools (it takes minutes at 10k notes); "
                        "foam-wiki gets --runs like kb")
    parser.add_argument("--peers", nargs="*", default=["foam-wiki", "obsidiantools"],
                        choices=["foam-wiki", "obsidiantools"],
                        help="which peers to run (default: both)")
    args = parser.parse_args()
    peer_python = ensure_peers()
    foamwiki = str(peer_python.parent / "foamwiki")
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        # Installed by pip, kb runs from bytecode compiled at install time, as the peers do.
        # Where PYTHONDONTWRITEBYTECODE is set (CI, sandboxes) and kb runs from a checkout,
        # every run would compile kb's own modules from source instead: compile them once,
        # into a folder of the benchmark's own (never into the checkout).
        python = ["env", "-u", "PYTHONDONTWRITEBYTECODE",
                  f"PYTHONPYCACHEPREFIX={Path(tmp) / 'bytecode'}", sys.executable]
        subprocess.run([*python, "-c", "import compileall, os, kb; "
                        "compileall.compile_dir(os.path.dirname(kb.__file__), quiet=1)"], check=True)
        kb = [*python, "-m", "kb"]
        for size in args.sizes:
            vault = Path(tmp) / f"vault-{size}"
            generate(vault, size)
            (vault / ".foam").mkdir()  # marks a Foam workspace for foamwiki; kb ignores it
            edited = next((vault / "notes" / "readings").glob("*.md"))
            original = edited.read_text(encoding="utf-8")
            counter = iter(range(10**6))

            def edit_one(path: Path = edited, text: str = original, counter=counter) -> None:
                addition = f"\nEdited {next(counter)} [[concept-00001]].\n"
                path.write_text(text + addition, encoding="utf-8")

            cold = [*kb, "check", "--no-cache", "--vault", str(vault)]
            results = {"kb check, cold (--no-cache)": median_of(args.runs, cold)}
            measure([*kb, "gaps", "--vault", str(vault)])  # prime the cache
            results["kb gaps, warm"] = median_of(args.runs, [*kb, "gaps", "--vault", str(vault)])
            results["kb review, warm"] = median_of(
                args.runs, [*kb, "review", "--on", "2026-12-01", "--vault", str(vault)])
            results["kb plan, warm"] = median_of(args.runs, [
                *kb, "plan", "concept-02400", "concept-01000", "--by", "2026-12-02",
                "--vault", str(vault)]) if size >= 2500 else median_of(args.runs, [
                *kb, "plan", "concept-00200", "--by", "2026-12-02", "--vault", str(vault)])
            results["kb gaps, one note edited"] = median_of(
                args.runs, [*kb, "gaps", "--vault", str(vault)], before=edit_one)
            edited.write_text(original, encoding="utf-8")
            results["kb --help"] = median_of(args.runs, [*kb, "--help"])
            if "foam-wiki" in args.peers:
                results["foam-wiki check"] = median_of(args.runs, [foamwiki, "-w", str(vault), "check"])
            if "obsidiantools" in args.peers:
                results["obsidiantools connect+gather"] = median_of(
                    args.peer_runs, [str(peer_python), "-c", OBSIDIANTOOLS, str(vault / "notes")])
            rows.append((size, results))

    cold_key = "kb check, cold (--no-cache)"
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.system()} {platform.release()}; median of {args.runs} runs "
          f"({args.peer_runs} for obsidiantools)\n")
    print("| notes | what | wall s | user+sys s | peak RSS MB | kb cold / peer (wall) |")
    print("|---:|---|---:|---:|---:|---:|")
    for size, results in rows:
        cold_wall = results[cold_key][0]
        for name, (wall, cpu, rss) in results.items():
            ratio = "" if name.startswith("kb") else f"{cold_wall / wall:.2f}"
            print(f"| {size:,} | {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {ratio} |")

if __name__ == "__main__":
    main()
