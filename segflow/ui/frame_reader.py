"""Frames of one video kept open between steps, so "Next" decodes one frame, not the whole prefix.

Opening a video and skipping to frame k decodes k frames (0.1 s at frame 140 of the
sample, growing with the file). A step reads the next frame of the reader already
open; a step back or a jump is served from the frames read lately, and only a jump
out of them opens the video again. Pure logic over an ``opener``, so it is tested
without a video; ``segflow.ui.media`` supplies the openers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

RECENT_FRAMES = 32  # frames kept for steps back (640x480 BGR: 30 MB)
READ_AHEAD = 64  # a jump forward by at most this many frames reads on instead of re-opening


@dataclass
class Opened:
    """An open video: its frames from ``start`` on, how many it has, and how to close it."""

    frames: Iterator[np.ndarray]
    count: int | None
    close: Callable[[], None] = lambda: None


Opener = Callable[[int], Opened]  # open the video with its next frame being frame ``start``


@dataclass
class FrameReader:
    opener: Opener
    recent_frames: int = RECENT_FRAMES
    _open: Opened | None = None
    _next: int = 0  # index of the frame the open reader gives next
    _recent: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict)
    opens: int = 0  # how often the video was opened (tests and the timings caption read it)

    @property
    def count(self) -> int | None:
        return self._ensure(0).count

    def frame(self, index: int) -> np.ndarray | None:
        """Frame ``index`` (None past the end)."""
        if index in self._recent:
            self._recent.move_to_end(index)
            return self._recent[index]
        if self._open is None or index < self._next or index - self._next > READ_AHEAD:
            self._reopen(index)
        assert self._open is not None
        while self._next <= index:
            pixels = next(self._open.frames, None)
            if pixels is None:
                return None
            self._remember(self._next, pixels)
            self._next += 1
        return self._recent.get(index)

    def frames(self, start: int, stop: int) -> list[tuple[np.ndarray, int]]:
        """Frames ``start`` .. ``stop - 1`` that exist, with their indices (the warm-up before a jump)."""
        out = []
        for index in range(start, stop):
            pixels = self.frame(index)
            if pixels is None:
                break
            out.append((pixels, index))
        return out

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
        self._recent.clear()

    def _ensure(self, start: int) -> Opened:
        if self._open is None:
            self._reopen(start)
        assert self._open is not None
        return self._open

    def _reopen(self, start: int) -> None:
        if self._open is not None:
            self._open.close()
        self._open = self.opener(start)
        self._next = start
        self.opens += 1

    def _remember(self, index: int, pixels: np.ndarray) -> None:
        self._recent[index] = pixels
        while len(self._recent) > self.recent_frames:
            self._recent.popitem(last=False)
