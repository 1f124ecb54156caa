"""What every sink shares: the common parameters, the frame gate and start-up checks.

Sinks run for months next to a camera, so they must not flood an operator
(``every_n_frames``, ``cooldown_s``, ``only_when``), must batch their writes
(``batch_size``, ``flush_interval_s``), and must say at start-up, not after an
hour, that their folder cannot be written or the disk is full.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import Field

from segflow.delivery.condition import Condition
from segflow.engine import NodeError, PacketInfo, Params
from segflow.engine.node import ParamProblem
from segflow.engine.paths import kind_of, shown, stat_or_none
from segflow.engine.workflow.condition_check import ConditionText


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


class SinkParams(GateParams):
    """Options every record-writing sink accepts: the gate plus how records are batched."""

    batch_size: int = Field(
        64,
        ge=1,
        le=100_000,
        description="Records gathered before one write, transaction or request.",
    )
    flush_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Longest a record waits in memory before it is written (and synced to disk).",
    )


class FileParams(SinkParams):
    """Options of sinks that write to the local disk."""

    min_free_mb: float = Field(
        50.0, ge=0, description="Refuse to start when the disk has less free space than this (MiB)."
    )


class Gate:
    """Per source, whether a frame is written: every N-th, after a cooldown, when a condition holds.

    The cooldown runs on frame timestamps, not the wall clock, so a replayed
    video gives the same output as the live run did.
    """

    def __init__(self, every_n: int = 1, cooldown_s: float = 0.0, condition: str = "") -> None:
        self.every_n = every_n
        self.cooldown_s = cooldown_s
        self.condition = Condition(condition, "only_when")
        self._seen: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def admit(self, packet: PacketInfo, detections: Any, value: Any = None) -> bool:
        source, timestamp = packet.source_id, packet.timestamp
        seen = self._seen.get(source, 0)
        self._seen[source] = seen + 1
        if seen % self.every_n:
            return False
        if not self.condition.holds(packet, detections, value):
            return False
        last = self._last.get(source)
        if last is not None and self.cooldown_s > 0 and timestamp - last < self.cooldown_s:
            return False
        self._last[source] = timestamp
        return True


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


RUN_ID_LENGTH = len("20260101T000000Z-abcdef")


def make_run_id() -> str:
    """A sortable id for one start of a sink: UTC time plus a random tail (always ``RUN_ID_LENGTH`` long)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def run_id_of(record_id: str) -> str:
    """The start of the sink that made a record (a record id begins with its run id)."""
    return record_id[:RUN_ID_LENGTH]


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
