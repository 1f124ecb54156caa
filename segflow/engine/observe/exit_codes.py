"""``segflow run``'s exit codes, and the policy that picks one for a finished run.

One place for the numbers the CLI returns and the run report records, so a
script that checks ``$?`` and one that reads ``exit_code`` in the JSON report
agree (documented in docs/workflow-format.md).
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Protocol

EXIT_OK = 0
"""The run went through (some frames may have failed and been skipped)."""
EXIT_FAILED = 1
"""The run stopped on an error (``on_error: stop``, a crash), or every frame failed."""
EXIT_INVALID = 2
"""The workflow or the command line is wrong: nothing ran."""
EXIT_UNWRITTEN = 3
"""Records went unwritten: the report says where they wait (a spool, a rejected file)."""


class Outcome(Protocol):
    """What the policy reads of a run report."""

    exit_code: int
    frames: int

    @property
    def undelivered(self) -> Sized: ...

    @property
    def failed_frames(self) -> int: ...


def decide_exit_code(report: Outcome) -> int:
    """1 when the run stopped on an error; 3 when records went unwritten; 1 when every frame failed; else 0.

    Unwritten records come before failed frames: that code points at where the records wait.
    """
    if report.exit_code:
        return report.exit_code
    if report.undelivered:
        return EXIT_UNWRITTEN
    if report.frames and report.failed_frames >= report.frames:
        return EXIT_FAILED
    return EXIT_OK
