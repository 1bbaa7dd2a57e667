"""Shared fixtures: mini-vaults written from dicts, and the CLI run through CliRunner."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kb.cli import main

REPO = Path(__file__).resolve().parent.parent
# The sample vault (notes/, articles/, kb.toml of the checkout), copied once per test session:
# kb keeps its cache and records in a vault's .kb/, and tests must neither write into the
# checkout nor depend on what an earlier test left there. Filled by `_sample_vault_copy`.
SAMPLE_VAULT = Path(tempfile.mkdtemp(prefix="kb-sample-")) / "vault"


@pytest.fixture(scope="session", autouse=True)
def _sample_vault_copy() -> Iterator[Path]:
    had_state = (REPO / ".kb").exists()
    for name in ("notes", "articles"):
        shutil.copytree(REPO / name, SAMPLE_VAULT / name)
    shutil.copy2(REPO / "kb.toml", SAMPLE_VAULT / "kb.toml")
    yield SAMPLE_VAULT
    shutil.rmtree(SAMPLE_VAULT.parent, ignore_errors=True)
    assert had_state or not (REPO / ".kb").exists(), "a test ran kb on the checkout itself"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_kb(*args: str, vault: Path | None = None) -> Run:
    runner = CliRunner()
    argv = [*args, "--vault", str(vault)] if vault is not None else list(args)
    result = runner.invoke(main, argv, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def kb() -> Callable[..., Run]:
    return run_kb


def write_vault(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_vault(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    def make(files: dict[str, str | bytes]) -> Path:
        return write_vault(tmp_path / "vault", files)

    return make


def copy_sample(dest: Path, **settings: str) -> Path:
    """A copy of the sample vault (notes, articles, kb.toml) with kb.toml keys replaced."""
    import re

    for name in ("notes", "articles"):
        shutil.copytree(REPO / name, dest / name)
    text = (REPO / "kb.toml").read_text(encoding="utf-8")
    for key, value in settings.items():
        text, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {json.dumps(value)}", text)
        assert found == 1, key
    (dest / "kb.toml").write_text(text, encoding="utf-8")
    (dest / "templates").mkdir()
    return dest
