"""The frame view's engine: one index, steps that count, runs and play, one request at a time.

Streamlit merges pending reruns of one button, so quick clicks on a Streamlit
"Next" were lost (10 clicks moved 5 to 7 frames). The frame view is therefore a
component of our own (``viewer_frontend/``) that counts clicks in the page and
asks a :class:`Viewer` for frames over HTTP (``segflow.ui.viewer_server``):
"move by 3" is served after "move by 1", each under one lock, so every click
moves the index and none is merged. The index lives here, not in a widget.

A step forward continues the kept trackers frame by frame (the frames passed
over are run too, as a headless run would); a jump replays a warm-up first
(``segflow.ui.stepping``). Play hands the input to a :class:`Player`; the page's
status requests during play carry the canvas footers of the frame play shows
(``play_footers``), which the frame view relays to the canvas. No Streamlit
here: tests drive the Viewer directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from segflow.ui import footers, listen, media, results, stepping
from segflow.ui.editor import Editor
from segflow.ui.frame_reader import FrameReader, Opener
from segflow.ui.media import MediaError
from segflow.ui.mjpeg import FrameServer
from segflow.ui.play import Player, PlayStatus
from segflow.ui.state import EditError

JPEG_QUALITY = 85


@dataclass
class Input:
    """What the frame view runs on: a video (read through ``reader``) or one still image."""

    key: str  # which input this is; a new key is a new reader and a fresh tracker history
    name: str
    source_id: str | None = None
    reader: FrameReader | None = None
    opener: Opener | None = None  # how Play opens the same video
    still: np.ndarray | None = None

    @property
    def count(self) -> int | None:
        return self.reader.count if self.reader is not None else 1

    @property
    def is_video(self) -> bool:
        return self.reader is not None and self.count != 1


@dataclass
class Painted:
    """One answer to the page: the frame now shown (its annotated JPEG) or why there is none."""

    index: int
    count: int | None
    jpeg: bytes | None = None
    caption: str = ""
    error: str = ""
    seq: int = 0  # counts the runs: the page tells Streamlit when results changed


class Viewer:
    """The frame index and the runs of one editor tab; every method is serialised by one lock.

    Its servers (the frame view's, Play's stream) listen on ``host`` and answer only ``key``.
    """

    def __init__(self, editor: Editor, host: str = listen.LOOPBACK) -> None:
        self.editor = editor
        self.host = host
        self.key = listen.new_key()
        self.input: Input | None = None
        self.index = 0
        self.warmup = 10
        self.run_sinks = False
        self.seq = 0
        self.step_seconds = 0.0
        self._shown: stepping.Shown | None = None
        self._lock = threading.RLock()
        self.player: Player | None = None
        self.play_server: FrameServer | None = None
        self._play_of: tuple[int, str] | None = None  # (revision, input key) play runs

    # -- what Streamlit sets on each rerun -----------------------------------------------------

    def set_input(self, chosen: Input | None) -> None:
        """The input picked in the Run tab; another input starts at its frame 0 and stops play."""
        with self._lock:
            if (chosen.key if chosen else None) == (self.input.key if self.input else None):
                self.input = chosen
                return
            self._stop_play()
            self.input, self.index, self._shown = chosen, 0, None

    def follow_edits(self) -> None:
        """A graph edit during play restarts it on the new graph, from where it was."""
        with self._lock:
            if self.player is None or self._play_of is None or self.input is None:
                return
            if self._play_of[0] != self.editor.revision:
                start = (self.player.status().frame or self.index) + 1
                self._stop_play()
                if self.editor.validation().graph is not None:
                    self._start_play(start)

    # -- the page's requests -------------------------------------------------------------------

    def step(self, by: int) -> Painted:
        """Move ``by`` frames (every click the page counted) and run the frame reached."""
        with self._lock:
            return self._show(self.index + by)

    def goto(self, index: int) -> Painted:
        with self._lock:
            return self._show(index)

    def run(self) -> Painted:
        """Run the current frame again (Run pressed, or the graph changed)."""
        with self._lock:
            return self._show(self.index)

    def play(self) -> dict[str, Any]:
        """Start play from the current frame (from 0 at the end); the stream's port, or why it did not start."""
        with self._lock:
            if self.player is None:
                chosen = self.input
                if chosen is None or not chosen.is_video or chosen.opener is None:
                    return {"error": "Play needs a video or camera: pick one in the Run tab"}
                if self.editor.validation().graph is None:
                    return {"error": "fix the workflow's errors first"}
                count = chosen.count
                self._start_play(0 if count is not None and self.index >= count - 1 else self.index)
            assert self.play_server is not None
            return {"stream": self.play_server.port}

    def play_status(self) -> PlayStatus | None:
        """The player's status (the page asks twice a second: that is what keeps play going)."""
        player = self.player
        if player is None:
            return None
        player.touch()
        return player.status()

    def play_footers(self) -> dict[str, Any] | None:
        """``{frame, nodes}``: the canvas footers of the frame play showed last (None when nothing played yet)."""
        player = self.player
        latest = player.latest_result() if player is not None else None
        if latest is None:
            return None
        frame, result = latest
        return {"frame": frame, "nodes": footers.of_run(result, frame)}

    def stop(self) -> Painted:
        """Stop play and show the frame it reached, run (after a warm-up) here."""
        with self._lock:
            self._stop_play()
            return self._show(self.index)

    def close(self) -> None:
        with self._lock:
            self._stop_play()

    # -- the work ------------------------------------------------------------------------------

    def _show(self, target: int) -> Painted:
        chosen = self.input
        if chosen is None:
            return Painted(self.index, None, error="pick an input in the Run tab: the workflow's source, a sample "
                                                   "or an upload")
        count = chosen.count if chosen.is_video else 1
        last = (count or target + 1) - 1
        self.index = max(0, min(last, target))
        started = perf_counter()
        try:
            self._run_frame(chosen, self.index)
        except (EditError, MediaError) as exc:
            return Painted(self.index, count, error=str(exc), seq=self.seq)
        self.step_seconds = perf_counter() - started
        self.seq += 1
        run = self.editor.last_run
        assert run is not None
        picture = results.annotated_image(run.graph, run.result)
        jpeg = media.to_jpeg(picture[1].pixels, JPEG_QUALITY) if picture is not None else None
        errors = "; ".join(f"{n}: {e}" for n, e in run.result.errors.items())
        caption = f"{picture[0] if picture else 'no image output'} — {run.input_name} — " \
                  f"{self.step_seconds * 1000:.0f} ms"
        return Painted(self.index, count, jpeg, caption, errors, self.seq)

    def _run_frame(self, chosen: Input, index: int) -> None:
        """Run frame ``index``: straight on when it follows the kept trackers' frame, else after a warm-up."""
        graph = self.editor.validation().graph
        sinks = self.run_sinks
        if chosen.reader is None:
            self.editor.run(chosen.still, chosen.source_id, 0, sinks, chosen.name)
            return
        name = f"{chosen.name} frame {index}"
        if graph is not None and stepping.has_stateful(graph):
            shown = self._shown
            signature = stepping.stateful_signature(graph)
            ahead = shown is not None and shown.input_key == chosen.key and shown.signature == signature \
                and shown.index < index <= shown.index + max(1, self.warmup)
            if ahead:  # continue the trackers over the frames passed by, as a headless run would
                assert shown is not None
                for passed, at in chosen.reader.frames(shown.index + 1, index):
                    self.editor.run(passed, chosen.source_id, at, sinks, f"{chosen.name} frame {at}")
                self._run_one(chosen, index, name, None)
            elif stepping.needs_warmup(graph, shown, chosen.key, index):
                self._run_one(chosen, index, name, chosen.reader.frames(max(0, index - self.warmup), index))
            else:
                self._run_one(chosen, index, name, None)
            self._shown = stepping.Shown(chosen.key, index, signature)
            return
        self._run_one(chosen, index, name, None)

    def _run_one(self, chosen: Input, index: int, name: str, history: list[tuple[Any, int]] | None) -> None:
        assert chosen.reader is not None
        pixels = chosen.reader.frame(index)
        if pixels is None:
            raise MediaError(f"{chosen.name} has no frame {index}")
        self.editor.run(pixels, chosen.source_id, index, self.run_sinks, name, history)

    def _start_play(self, start: int) -> None:
        chosen, graph = self.input, self.editor.validation().graph
        assert chosen is not None and chosen.opener is not None and graph is not None
        player = Player(graph, self.editor.context(), chosen.opener, chosen.source_id, start,
                        run_sinks=self.run_sinks)
        self.play_server = FrameServer(player, self.key, self.host).start()
        self.player = player.start()
        self._play_of = (self.editor.revision, chosen.key)

    def _stop_play(self) -> None:
        player, server = self.player, self.play_server
        self.player = self.play_server = self._play_of = None
        if player is None:
            return
        player.stop()
        if server is not None:
            server.close()
        frame = player.status().frame
        if frame is not None:  # stay on the frame play stopped at
            self.index = frame
            self._shown = None  # the editor's trackers did not see play's frames: a warm-up first
