"""Play mode without a browser: the loop advances frames, serves them as MJPEG, and stop closes everything."""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.engine.workflow.validate import validate_text
from segflow.ui.frame_reader import Opened
from segflow.ui.mjpeg import BOUNDARY, FrameServer
from segflow.ui.play import Player

ROOT = Path(__file__).resolve().parents[2]
FLOW = """\
version: 1
name: play-test
nodes:
  cam: {type: source.video, params: {path: assets/samples/conveyor.mp4}}
  inverted: {type: debug.invert, inputs: {image: cam.image}}
  stats: {type: debug.stats, inputs: {image: inverted.image}}
  log: {type: sink.jsonl, params: {path: out/play.jsonl}, inputs: {value: stats.value}}
"""
KEY = "tab-key-for-tests"


def url(server: FrameServer, path: str) -> str:
    return f"http://127.0.0.1:{server.port}/{path}?t={KEY}"


def wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")


class FakeVideo:
    """Frames whose grey level is their index, counted; records whether it was closed."""

    def __init__(self, count: int | None = None) -> None:
        self.count, self.closed, self.starts = count, threading.Event(), []

    def __call__(self, start: int) -> Opened:
        self.starts.append(start)
        indices = itertools.count(start) if self.count is None else range(start, self.count)
        frames = (np.full((48, 64, 3), i % 256, np.uint8) for i in indices)
        return Opened(frames, self.count, self.closed.set)


@pytest.fixture
def graph(tmp_path):
    (tmp_path / "assets").symlink_to(ROOT / "assets")
    from segflow.engine.node import RunContext

    validation = validate_text(FLOW, "play.yaml", context=RunContext(base_dir=tmp_path))
    assert validation.ok, [i.format() for i in validation.issues]
    return validation.graph, RunContext(base_dir=tmp_path)


def test_frames_advance_and_stop_closes_nodes_and_video(graph):
    compiled, context = graph
    video = FakeVideo()  # endless, like a camera
    player = Player(compiled, context, video, start=7).start()
    try:
        wait_until(lambda: player.status().frames_played >= 5, what="5 frames played")
        status = player.status()
        assert status.state == "playing" and status.frame >= 7 + 4
        assert set(status.nodes) == {"cam", "inverted", "stats", "log"}
        assert status.nodes["log"].status == "off" and status.nodes["stats"].status == "ran"
        seq, jpeg = player.latest()
        shown = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)
        # The published picture is the graph's (inverted) image, not the raw frame; JPEG is lossy.
        assert seq >= 5 and abs(float(shown.mean()) - (255 - status.frame % 256)) < 40
        assert player.session.live_nodes  # inverted and stats are set up while playing
    finally:
        player.stop()
    assert not player.running and video.closed.is_set() and video.starts == [7]
    assert player.session.live_nodes == {}
    assert player.status().state == "stopped"


def test_sinks_run_only_when_asked_and_flush_on_stop(graph, tmp_path):
    compiled, context = graph
    player = Player(compiled, context, FakeVideo(count=12), run_sinks=True).start()
    wait_until(lambda: not player.running, what="the end of the video")
    assert player.status().state == "finished" and player.status().frames_played == 12
    lines = (tmp_path / "out" / "play.jsonl").read_text().splitlines()
    assert [json.loads(line)["frame"] for line in lines] == list(range(12))


def test_a_failing_source_is_reported(graph):
    compiled, context = graph

    def broken(start: int) -> Opened:
        raise OSError("camera unplugged")

    player = Player(compiled, context, broken).start()
    wait_until(lambda: not player.running, what="the player's end")
    assert player.status().state == "failed" and "camera unplugged" in player.status().error


def test_nobody_watching_stops_play(graph):
    compiled, context = graph
    now = [0.0]
    player = Player(compiled, context, FakeVideo(), idle_s=5.0, clock=lambda: now[0])
    server = FrameServer(player, KEY).start()
    player.start()
    wait_until(lambda: player.status().frames_played >= 2, what="2 frames")
    player.touch()
    now[0] = 4.0  # touched within idle_s: plays on
    frames = player.status().frames_played
    wait_until(lambda: player.status().frames_played > frames + 2, what="more frames")
    assert player.running
    now[0] = 10.0  # the page's status refresh has not touched the player for 6 s: the tab is gone
    wait_until(lambda: not player.running, what="the idle stop")
    assert player.session.live_nodes == {} and player.status().state == "stopped"
    with pytest.raises(OSError):  # its stream server went with it
        urllib.request.urlopen(url(server, "status.json"), timeout=2)


def test_mjpeg_stream_and_status(graph):
    compiled, context = graph
    player = Player(compiled, context, FakeVideo()).start()
    server = FrameServer(player, KEY).start()
    try:
        for wrong in ("", "?t=guess"):  # the tab's key or nothing
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"http://127.0.0.1:{server.port}/stream.mjpg{wrong}", timeout=10)
            assert refused.value.code == 403
        with urllib.request.urlopen(url(server, "stream.mjpg"), timeout=30) as stream:
            assert stream.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
            means = []
            while len(means) < 4:
                assert stream.readline() == f"--{BOUNDARY}\r\n".encode()
                headers = {}
                while (line := stream.readline().decode().strip()):
                    name, value = line.split(": ", 1)
                    headers[name] = value
                assert headers["Content-Type"] == "image/jpeg"
                jpeg = stream.read(int(headers["Content-Length"]))
                assert stream.read(2) == b"\r\n"
                means.append(float(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_GRAYSCALE).mean()))
            assert len({round(m) for m in means}) == 4  # four different frames arrived
        with urllib.request.urlopen(url(server, "status.json"), timeout=10) as response:
            status = json.loads(response.read())
        assert status["state"] == "playing" and status["frame"] >= 3 and status["fps"] > 0
        assert {"ms", "mean_ms", "status"} <= set(status["nodes"]["stats"])
        with urllib.request.urlopen(url(server, "frame.jpg"), timeout=10) as response:
            assert response.headers["Content-Type"] == "image/jpeg" and response.read(2) == b"\xff\xd8"
    finally:
        player.stop()
        server.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(url(server, "status.json"), timeout=2)
