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
        return located(str(self.location) if self.location else "<workflow>", self.message, self.hint,
                       subject=self.node, severity="warning" if self.severity is Severity.WARNING else "")

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


def located(where: str, text: str, hint: str = "", subject: str | None = None, noun: str = "node",
            severity: str = "") -> str:
    """The one shape of a located message: ``where: [severity: ][noun 'subject': ]text``, then a hint line.

    Workflow issues and the importer's problems (``noun='step'``) both print this way; secrets are
    masked and long texts shortened here, so no caller can forget to.
    """
    parts = [where, *([severity] if severity else [])]
    if subject is not None:
        parts.append(f"{noun} '{shorten(subject, 80)}'")
    out = ": ".join(parts) + f": {message(mask(text))}"
    if hint:
        out += f"\n    hint: {message(mask(hint))}"
    return out


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
