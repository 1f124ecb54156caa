"""Every ``segflow`` command's exit codes, and the policy that picks one for a finished run.

One place for the numbers the CLI returns and the run report records, so a
script that checks ``$?`` and one that reads ``exit_code`` in the JSON report
agree (documented in docs/workflow-format.md). One number, one meaning: a code
a command gives means the same whichever command gives it, so a wrapper script
can act on ``$?`` without knowing which sub-command ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

EXIT_OK = 0
"""The run went through (some frames may have failed and been skipped)."""
EXIT_FAILED = 1
"""The run stopped on an error (``on_error: stop``, a crash), or every frame failed."""
EXIT_INVALID = 2
"""The workflow or the command line is wrong: nothing ran."""
EXIT_UNWRITTEN = 3
"""Records went unwritten but every one is kept: the report says where they wait (a spool, a rejected file).

When even that failed for some of them (records LOST), the run failed: exit 1."""
EXIT_PARTIAL = 4
"""``segflow import``: the workflow was written, but parts of the definition were left out (each listed).

Not 3: nothing waits to be delivered; the file needs a person to read what was left out."""


class Kept(Protocol):
    """One sink's unwritten records: where they wait, or an empty text when they were lost."""

    @property
    def kept_in(self) -> str: ...


class Outcome(Protocol):
    """What the policy reads of a run report."""

    exit_code: int
    frames: int

    @property
    def undelivered(self) -> Sequence[Kept]: ...

    @property
    def failed_frames(self) -> int: ...


def decide_exit_code(report: Outcome) -> int:
    """1: stopped on an error, records LOST, or every frame failed; 3: records unwritten but kept; else 0.

    Exit 3 promises the records wait somewhere (a spool, a rejected file): when even that failed for
    some of them, the promise is false, and the run failed. Kept records come before failed frames:
    that code points at where the records wait.
    """
    if report.exit_code:
        return report.exit_code
    if any(not u.kept_in for u in report.undelivered):
        return EXIT_FAILED
    if report.undelivered:
        return EXIT_UNWRITTEN
    if report.frames and report.failed_frames >= report.frames:
        return EXIT_FAILED
    return EXIT_OK
