"""The wheel ships the built-in templates, and the entry points work."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO


def test_wheel_contains_the_templates(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True,
    )
    wheel = next(tmp_path.glob("kb_notes-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for template in sorted(p.name for p in (REPO / "templates").iterdir()):
        assert f"kb/templates/{template}" in names
    assert "kb/cli/__init__.py" in names and "kb/learning/run_driver.py" in names
    assert not any(n == "cli.py" or n.startswith("notes/") for n in names)


def test_python_dash_m_and_the_shim(tmp_path: Path) -> None:
    shim = [sys.executable, str(REPO / "cli.py"), "--version"]
    for argv in ([sys.executable, "-m", "kb", "--version"], shim):
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0 and "kb, version" in done.stdout


def test_the_sdist_holds_what_its_tests_read(tmp_path: Path) -> None:
    """An unpacked sdist passes its own tests (.ci/run does not run them; this checks the list):
    the sample vault, the docs whose examples are checked and the site's nav, the license."""
    import tarfile

    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(tmp_path)],
                   check=True, capture_output=True, cwd=REPO)
    sdist = next(tmp_path.glob("kb_notes-*.tar.gz"))
    with tarfile.open(sdist) as archive:
        names = {name.partition("/")[2] for name in archive.getnames()}
    folders = ("notes", "articles", "docs", "tests", "kb", "templates")
    tracked = {str(p.relative_to(REPO)) for folder in folders
               for p in (REPO / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert tracked - names == set()
    assert {"LICENSE", "README.md", "kb.toml", "cli.py", "kb/py.typed", "mkdocs.yml"} <= names
    import kb

    assert f"kb_notes-{kb.__version__}.tar.gz" == sdist.name  # one version, from kb/__init__.py


def test_each_lower_bound_is_pinned_for_the_lowest_versions_job() -> None:
    """.ci/run tests kb at .ci/lowest.txt's pins: they must be pyproject.toml's lower bounds."""
    import re
    import tomllib

    from packaging.version import Version  # hatchling's dependency, so in the test extra

    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {}
    for spec in dependencies:
        found = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,<[0-9.]+)?", spec.replace(" ", ""))
        assert found, f"{spec}: every dependency has a tested lower bound"
        bounds[canonical(found.group(1))] = Version(found.group(2))
    lines = (REPO / ".ci" / "lowest.txt").read_text().splitlines()
    pins = {canonical(name): Version(version) for name, version in
            (line.split("==") for line in lines if line.strip() and not line.startswith("#"))}
    assert {name: pins.get(name) for name in bounds} == bounds
