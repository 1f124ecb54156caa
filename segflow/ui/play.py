"""Play mode: the workflow on a video or camera, as fast as the machine allows, in a background thread.

The editor's "Play" is not a sequence of page reruns: a :class:`Player` owns a
thread that reads frames, pushes each one through its own ``EditorSession``
(the per-packet step every executor shares; trackers keep their state from frame
to frame; sinks only when asked) and publishes the annotated frame as JPEG plus a
:class:`PlayStatus`. ``segflow.ui.mjpeg`` serves both over HTTP; the frame's
whole result is kept too, for the canvas footers (``latest_result``). Stop ends the
thread and closes every node and the video. A player nobody asks about for
``idle_s`` (its browser tab closed) stops itself: nothing outlives the session.
No Streamlit here; tests drive it directly.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Literal

from pydantic import BaseModel

from segflow.engine.execution.session import EditorSession, SessionResult
from segflow.engine.masking import mask
from segflow.engine.node import RunContext
from segflow.engine.workflow.graph import CompiledGraph
from segflow.ui import media, results
from segflow.ui.frame_reader import Opener

log = logging.getLogger("segflow")

State = Literal["starting", "playing", "finished", "stopped", "failed"]
JPEG_QUALITY = 80
FPS_WINDOW = 15  # frames the shown rate is averaged over

_live: weakref.WeakSet[Player] = weakref.WeakSet()


class NodeTiming(BaseModel):
    status: str
    ms: float  # the last frame's call
    mean_ms: float  # over the frames played


class PlayStatus(BaseModel):
    """What ``/status.json`` says: where the player is, how fast, and each node's time."""

    state: State = "starting"
    frame: int | None = None  # index of the frame last shown
    frames_played: int = 0
    fps: float = 0.0
    nodes: dict[str, NodeTiming] = {}
    error: str = ""


class Player:
    """Runs ``graph`` on the frames ``opener`` gives, from frame ``start``, until stopped or the end."""

    def __init__(self, graph: CompiledGraph, context: RunContext, opener: Opener, source_id: str | None = None,
                 start: int = 0, run_sinks: bool = False, idle_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.graph, self.opener, self.start_index = graph, opener, start
        self.source_id = source_id or graph.source_ids[0]
        # its own context, so stopping play stops none of the editor's nodes
        self.session = EditorSession(context.for_settings(graph.name, graph.settings.models_dir), run_sinks=run_sinks)
        self.idle_s, self.clock = idle_s, clock
        self._status = PlayStatus()
        self._jpeg: bytes | None = None
        self._result: tuple[int, SessionResult] | None = None  # the frame index last shown and its result
        self._seq = 0  # counts published frames; a stream waits for the next one
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._touched = clock()
        self._idle_hooks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._loop, name="segflow-play", daemon=True)
        _live.add(self)

    # -- control -------------------------------------------------------------------------------

    def start(self) -> Player:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for it to close its nodes (a model call in flight finishes first)."""
        self._stop.set()
        self.session.context.stop_event.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def when_idle(self, hook: Callable[[], None]) -> None:
        """Call ``hook`` when the player stops itself because nobody watched (its server closes)."""
        self._idle_hooks.append(hook)

    def touch(self) -> None:
        """Someone is watching: the page's status refresh calls this (see ``idle_s``)."""
        self._touched = self.clock()

    # -- what it shows -------------------------------------------------------------------------

    def status(self) -> PlayStatus:
        with self._changed:
            return self._status.model_copy(deep=True)

    def latest(self) -> tuple[int, bytes | None]:
        with self._changed:
            return self._seq, self._jpeg

    def latest_result(self) -> tuple[int, SessionResult] | None:
        """The index and result of the frame last shown (None before the first)."""
        with self._changed:
            return self._result

    def wait_frame(self, after: int, timeout: float = 1.0) -> tuple[int, bytes | None]:
        """The first frame published after number ``after`` (or the latest one on timeout or stop)."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > after or self._stop.is_set() or not self.running,
                                   timeout)
            return self._seq, self._jpeg

    # -- the loop ------------------------------------------------------------------------------

    def _loop(self) -> None:
        opened = None
        stamps: deque[float] = deque(maxlen=FPS_WINDOW)
        totals: dict[str, float] = {}
        idle = False
        try:
            opened = self.opener(self.start_index)
            self.session.run_sequence(self.graph, [])  # trackers start afresh, then keep state
            index = self.start_index
            self._set(state="playing")
            for pixels in opened.frames:
                if self._stop.is_set():
                    break
                if self.clock() - self._touched > self.idle_s:
                    log.info("play: nobody watched for %.0f s; stopping", self.idle_s)
                    idle = True
                    break
                result = self.session.run_image(self.graph, pixels, self.source_id, index)
                picture = results.annotated_image(self.graph, result)
                jpeg = media.to_jpeg(picture[1].pixels if picture else pixels, JPEG_QUALITY)
                stamps.append(self.clock())
                nodes = {}
                played = self._status.frames_played + 1
                for node_id, run in result.runs.items():
                    totals[node_id] = totals.get(node_id, 0.0) + run.seconds
                    nodes[node_id] = NodeTiming(status=run.status, ms=round(run.seconds * 1000, 2),
                                                mean_ms=round(totals[node_id] * 1000 / played, 2))
                fps = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] \
                    else 0.0
                errors = result.errors
                with self._changed:
                    self._jpeg, self._seq, self._result = jpeg, self._seq + 1, (index, result)
                    self._status = PlayStatus(state="playing", frame=index, frames_played=played, fps=round(fps, 2),
                                              nodes=nodes, error="; ".join(f"{n}: {e}" for n, e in errors.items()))
                    self._changed.notify_all()
                index += 1
            self._set(state="stopped" if self._stop.is_set() or idle else "finished")
        except Exception as exc:  # noqa: BLE001 - a failing source or node ends play with its message
            log.warning("play failed: %s: %s", type(exc).__name__, exc)
            self._set(state="failed", error=mask(f"{type(exc).__name__}: {exc}"))
        finally:
            try:
                if opened is not None:
                    opened.close()
            finally:
                self.session.close()
                with self._changed:
                    self._changed.notify_all()
                for hook in self._idle_hooks if idle else []:
                    hook()

    def _set(self, **changes: object) -> None:
        with self._changed:
            self._status = self._status.model_copy(update=changes)
            self._changed.notify_all()


def stop_all() -> None:
    """Stop every player of this process (the editor's exit)."""
    for player in list(_live):
        player.stop(timeout=2.0)


atexit.register(stop_all)  # sinks that play ran flush, whatever ended the editor
