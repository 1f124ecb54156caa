"""Progress for humans: a live line on a terminal, periodic log lines elsewhere."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any, TextIO

from segflow.engine.observe.hooks import RunHooks


class Progress(RunHooks):
    def __init__(self, stream: TextIO | None = None, interval_s: float = 0.5, log_interval_s: float = 10.0) -> None:
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval_s = interval_s if self.tty else log_interval_s
        self.total: int | None = None
        self.started = time.monotonic()
        self._last = 0.0
        self._lock = threading.Lock()

    def on_start(self, *, workflow_name: str, total_frames: int | None, **future_kwargs: Any) -> None:
        self.total = total_frames
        self.started = self._last = time.monotonic()  # the first line comes after one interval
        self.workflow_name = workflow_name

    def on_packet_done(self, *, frames_done: int, **future_kwargs: Any) -> None:
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        with self._lock:
            self._last = now
            self._show(frames_done, now)

    def _show(self, done: int, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        fps = done / elapsed
        if self.total:
            share = min(done / self.total, 1.0)
            eta = (self.total - done) / fps if fps > 0 else 0.0
            width = 24
            bar = "#" * int(share * width) + "-" * (width - int(share * width))
            text = f"[{bar}] {done}/{self.total} frames  {fps:.1f} FPS  ETA {eta:.0f} s"
        else:
            text = f"{done} frames  {fps:.1f} FPS  {elapsed:.0f} s"
        if self.tty:
            self.stream.write("\r" + text.ljust(72))
        else:
            self.stream.write(f"segflow: {text}\n")
        self.stream.flush()

    def on_end(self, **future_kwargs: Any) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
