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
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from segflow.engine import NodeError, Params
from segflow.engine.node import ParamProblem
from segflow.nodes.sinks.condition import Condition, ConditionError


class GateParams(Params):
    """Which frames a sink acts on: every sink has these (line outputs have only these of the common ones)."""

    every_n_frames: int = Field(1, ge=1, le=1_000_000, description="Write one frame in N per source (1 = every frame).")
    cooldown_s: float = Field(
        0.0,
        ge=0,
        description="After writing a frame of a source, skip that source's frames for this many seconds of frame time.",
    )
    only_when: str = Field(
        "",
        description="Write a frame only when this holds, e.g. `count > 0`, `class == stone`, "
        "`count(stone) >= 2 and confidence > 0.5` (empty = always).",
    )

    @field_validator("only_when")
    @classmethod
    def _condition_parses(cls, text: str) -> str:
        try:
            Condition(text)
        except ConditionError as exc:
            raise ValueError(f"only_when {text!r}: {exc}") from exc
        return text


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
        self.condition = Condition(condition)
        self._seen: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def admit(
        self,
        source: str,
        timestamp: float,
        frame: Mapping[str, Any],
        detections: list[Mapping[str, Any]],
    ) -> bool:
        seen = self._seen.get(source, 0)
        self._seen[source] = seen + 1
        if seen % self.every_n:
            return False
        if not self.condition(frame, detections):
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


_VARIABLE = re.compile(r"\$\{\w+\}|\$[A-Za-z_]\w*")


def unset_variable(text: str) -> str | None:
    """The first ``${VAR}`` (or ``$VAR``) in ``text`` that the environment does not set, if any."""
    found = _VARIABLE.search(os.path.expandvars(text))  # expandvars leaves unset ones as they are
    return found.group(0) if found else None


def make_run_id() -> str:
    """A sortable id for one start of a sink: UTC time plus a random tail."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def writable_problems(path: Path, field: str, min_free_mb: float = 0.0, folder: bool = False) -> list[ParamProblem]:
    """Why ``path`` (a file, or a folder when ``folder``) cannot be written, before a run."""
    target = path if folder else path.parent
    if not folder and path.is_dir():
        return [ParamProblem(field, f"{path} is a folder, not a file", "name a file inside it")]
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return [
            ParamProblem(
                field,
                f"cannot create {target}: {probe} is a file, not a folder",
                "choose another path",
            )
        ]
    if not os.access(probe, os.W_OK | os.X_OK):
        return [
            ParamProblem(
                field,
                f"folder {probe} is not writable",
                "fix its permissions or choose another path",
            )
        ]
    if not folder and path.exists() and not os.access(path, os.W_OK):
        return [ParamProblem(field, f"file {path} is not writable", "fix its permissions or choose another path")]
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < min_free_mb:
        return [
            ParamProblem(
                field,
                f"only {free_mb:.0f} MiB free on the disk of {probe} (min_free_mb is {min_free_mb:g})",
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
