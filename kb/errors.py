"""One exception hierarchy and the Diagnostic value every vault problem becomes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_RANK: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

# Control and format characters, line/paragraph separators, lone surrogates (a file name that
# is not valid UTF-8): none of them may reach a terminal as they are.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
                          "\u2066-\u2069\ufeff\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """`text` safe to print on one terminal line: control characters, bidi overrides, line
    separators and undecodable bytes are shown as escapes (`\\x0a`, `\\x1b`, `\\u202e`), so a
    hostile file name or title can neither forge a diagnostic line nor drive the terminal."""
    if text.isascii() and text.isprintable():
        return text
    return _UNPRINTABLE.sub(_escape, text)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something a vault got wrong or worth knowing, at a file and line (1-based; 0 = whole file)."""

    path: str
    line: int
    severity: Severity
    code: str
    message: str

    def format(self) -> str:
        """`path:line: severity: message [code]` on exactly one line, whatever the path holds."""
        where = f"{printable(self.path)}:{self.line}" if self.line else printable(self.path)
        return f"{where}: {self.severity}: {printable(self.message)} [{self.code}]"

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


class BadArgumentError(KbError):
    """A value given on the command line cannot be used (usage error, exit 2)."""


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


class ConfigErrorsError(KbError):
    """kb.toml has errors, and the command would write where kb.toml decides."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("kb.toml has errors (above); fix them, then run this again")
