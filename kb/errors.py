"""One exception hierarchy and the Diagnostic value every vault problem becomes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something a vault got wrong or worth knowing, at a file and line (1-based; 0 = whole file)."""

    path: str
    line: int
    severity: Severity
    code: str
    message: str

    def format(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.severity}: {self.message} [{self.code}]"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
        }

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.path, self.line, SEVERITY_RANK[self.severity], self.code, self.message)


class KbError(Exception):
    """Base of every error kb raises on purpose; its str() is the user-facing text."""


class VaultError(KbError):
    """The vault cannot be used at all (missing folder, unreadable config)."""


class UnknownConceptError(KbError):
    """A concept named on the command line matches nothing in the vault."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"no concept or note named {name!r}{hint}")


class CycleError(KbError):
    """The prerequisite graph has a cycle, so no learning order exists."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(d.format() for d in diagnostics))
