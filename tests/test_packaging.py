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
    assert "kb/cli.py" in names
    assert not any(n == "cli.py" or n.startswith("notes/") for n in names)


def test_python_dash_m_and_the_shim(tmp_path: Path) -> None:
    shim = [sys.executable, str(REPO / "cli.py"), "--version"]
    for argv in ([sys.executable, "-m", "kb", "--version"], shim):
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0 and "kb, version" in done.stdout
