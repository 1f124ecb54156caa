"""What every sink shares: the common parameters and start-up checks.

Sinks run for months next to a camera, so they must not flood an operator
(``every_n_frames``, ``cooldown_s``, ``only_when``: see :mod:`segflow.delivery.gate`),
must batch their writes (``batch_size``, ``flush_interval_s``), and must say at
start-up, not after an hour, that their folder cannot be written or the disk is full.
Each params class holds only what its sinks honour: a console or video sink
batches nothing, so it has no ``batch_size`` to be ignored.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from segflow.engine import NodeError, Params
from segflow.engine.node import ParamProblem
from segflow.engine.paths import kind_of, shown, stat_or_none
from segflow.engine.workflow.condition_check import ConditionText, FrameValue


class GateParams(Params):
    """Which frames a sink acts on: every sink has these (line outputs have only these of the common ones)."""

    every_n_frames: int = Field(1, ge=1, le=1_000_000, description="Write one frame in N per source (1 = every frame).")
    cooldown_s: float = Field(
        0.0,
        ge=0,
        description="After writing a frame of a source, skip that source's frames for this many seconds of frame time.",
    )
    only_when: ConditionText = Field(
        "",
        description="Write a frame only when this holds, e.g. `count > 0`, `class == stone`, "
        "`count(class == stone) >= 2 and confidence > 0.5` (empty = always; docs/conditions.md).",
    )
    only_on_change: list[FrameValue] = Field(
        default_factory=list,
        description="Write a frame only when one of these frame values differs from the last written frame "
        "of its source, e.g. [\"count(class == stone)\", value.in] (empty = no such check).",
    )


class BatchParams(GateParams):
    """Options of the sinks that queue records (files, SQL, webhook, MQTT): the same meaning in each."""

    batch_size: int = Field(
        64,
        ge=1,
        le=100_000,
        description="Most records in one write: a file append, a transaction, a request, a batch of messages.",
    )
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Longest a record waits for its batch to fill before it is written "
        "(files are also synced to disk on this clock).",
    )


class RecordParams(BatchParams):
    """Options of sinks that write records: their shape and whether masks go with them."""

    per: Literal["detection", "frame"] = Field(
        "detection",
        description="One record per detection, or one per frame (with its detections inside).",
    )
    mask: Literal["none", "rle", "polygon"] = Field(
        "none",
        description="Include each mask: COCO run-length encoding (column-major counts), "
        "polygon outlines, or not at all.",
    )
    fields: list[str | dict[str, str]] = Field(
        default_factory=list,
        description="The record's columns, in order: a field (`class`), a part of one (`value.mean`, "
        "`counts.stone`), or `{new_name: field}` to rename; checked before the run (empty = every field).",
    )

    @field_validator("fields")
    @classmethod
    def _one_name_per_rename(cls, value: list[str | dict[str, str]]) -> list[str | dict[str, str]]:
        for entry in value:
            if isinstance(entry, dict) and len(entry) != 1:
                raise ValueError(f"a rename is one {{new_name: field}} pair, got {len(entry)}: write one per entry")
        return value


class FileParams(GateParams):
    """Options of sinks that write to the local disk."""

    min_free_mb: float = Field(
        50.0, ge=0, description="Refuse to start when the disk has less free space than this (MiB)."
    )


class Ticker:
    """A daemon thread calling ``tick`` every ``interval`` seconds until stopped."""

    def __init__(self, interval: float, tick: Callable[[], None], name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval, tick), name=name, daemon=True)
        self._thread.start()

    def _run(self, interval: float, tick: Callable[[], None]) -> None:
        while not self._stop.wait(interval):
            tick()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()


VARIABLE = re.compile(r"\$\{\w+\}|\$[A-Za-z_]\w*")  # ${VAR} or $VAR in a param


def unset_variable(text: str) -> str | None:
    """The first ``${VAR}`` (or ``$VAR``) in ``text`` that the environment does not set, if any."""
    found = VARIABLE.search(os.path.expandvars(text))  # expandvars leaves unset ones as they are
    return found.group(0) if found else None


STREAMS = {"/dev/stdout", "/dev/stderr", "/dev/null"}
"""Devices a file sink may write to: the console, or nowhere (benchmarks)."""


def writable_problems(path: Path, field: str, min_free_mb: float = 0.0, folder: bool = False) -> list[ParamProblem]:
    """Why ``path`` (a file, or a folder when ``folder``) cannot be written, before a run.

    Checked as a path: a name the system refuses, a FIFO (``open`` would block for ever) or a
    device (``/dev/full`` takes nothing) is a problem here, never a crash or a hang later.
    The process's own streams and ``/dev/null`` are the named exceptions.
    """
    if not folder and str(path) in STREAMS:
        return []
    info, problem = stat_or_none(path)
    if problem:
        return [ParamProblem(field, problem, "choose another path")]
    if info is not None and folder and not stat.S_ISDIR(info.st_mode):
        return [ParamProblem(field, f"{shown(path)} is {kind_of(info.st_mode)}, not a folder", "choose a folder")]
    if info is not None and not folder and stat.S_ISDIR(info.st_mode):
        return [ParamProblem(field, f"{shown(path)} is a folder, not a file", "name a file inside it")]
    if info is not None and not folder and not stat.S_ISREG(info.st_mode):
        return [ParamProblem(field, f"{shown(path)} is {kind_of(info.st_mode)}, not a regular file",
                             "write to a file; sinks append records to files they can sync and reopen")]
    target = path if folder else path.parent
    probe = target
    while probe != probe.parent:
        found, problem = stat_or_none(probe)
        if problem:
            return [ParamProblem(field, problem, "choose another path")]
        if found is not None:
            break
        probe = probe.parent
    found, _ = stat_or_none(probe)
    if found is None or not stat.S_ISDIR(found.st_mode):
        return [
            ParamProblem(
                field,
                f"cannot create {shown(target)}: {shown(probe)} is a file, not a folder",
                "choose another path",
            )
        ]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [
            ParamProblem(
                field,
                f"folder {shown(probe)} is not writable",
                "fix its permissions or choose another path",
            )
        ]
    if not folder and info is not None and not os.access(path, os.W_OK):
        return [ParamProblem(field, f"file {shown(path)} is not writable",
                             "fix its permissions or choose another path")]
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < min_free_mb:
        return [
            ParamProblem(
                field,
                f"only {free_mb:.0f} MiB free on the disk of {shown(probe)} (min_free_mb is {min_free_mb:g})",
                "free some space, write elsewhere, or lower min_free_mb",
            )
        ]
    return []


def sink_error(node: Any, action: str, exc: BaseException, hint: str = "") -> NodeError:
    """A runtime failure that names the sink, what it was doing and why."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.errno is not None and not hint:
        hint = "check the disk's free space and the path's permissions"
    return NodeError(f"{node.type_name} '{node.node_id}': {action}: {reason}", hint=hint)
