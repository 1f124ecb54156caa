"""Validation issues: typed records, all collected before anything runs.

An issue carries a machine-readable code and the offending node and field so
an editor can highlight it, and a location so a terminal user can jump to it.
What it shows passes through the one shortener (``segflow.engine.text``): a
value of a million characters or one holding a newline or a bidi override is
cut and escaped, never echoed raw.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import Enum

from segflow.engine.masking import mask
from segflow.engine.text import message, shorten


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Issue:
    code: str
    message: str
    location: Location | None = None
    node: str | None = None
    field: str | None = None
    hint: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """``file:line:col: node 'id': message`` plus a hint line when there is one."""
        parts = [str(self.location) if self.location else "<workflow>"]
        if self.severity is Severity.WARNING:
            parts.append("warning")
        if self.node is not None:
            parts.append(f"node '{shorten(self.node, 80)}'")
        text = ": ".join(parts) + f": {message(mask(self.message))}"
        if self.hint:
            text += f"\n    hint: {message(mask(self.hint))}"
        return text

    def to_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": message(mask(self.message)),
            "node": self.node,
            "field": self.field,
            "hint": message(mask(self.hint)) or None,
            "file": self.location.file if self.location else None,
            "line": self.location.line if self.location else None,
            "col": self.location.col if self.location else None,
        }


class WorkflowError(Exception):
    """Raised once, at the edge, when a workflow has errors; carries all of them."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        errors = [i for i in issues if i.is_error]
        super().__init__("\n".join(i.format() for i in errors) or "invalid workflow")


def errors_in(issues: list[Issue]) -> list[Issue]:
    return [i for i in issues if i.is_error]


def closest(word: str, options: list[str]) -> str | None:
    """The option ``word`` most likely meant: the same but for case (``CENTER``), else the nearest spelling."""
    lowered = {o.lower(): o for o in options}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    return lowered[close[0]] if close else None
