"""source.camera against a real MJPEG-over-HTTP stream served on loopback.

The server speaks multipart/x-mixed-replace like an IP camera; OpenCV's
FFmpeg backend reads it. Tests kill it mid-stream, let it stall, restart it on
the same port and check drops, reconnects and resumed frames, and that the
password in the URL never shows in a log line, an error or FFmpeg's stderr.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import pydantic
import pytest
from mjpeg import MjpegServer

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sources.camera import Backoff, CameraSource, device_index

SECRET = "s3cr3t-Pa55"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_node(source, **params) -> CameraSource:
    fast = {"open_timeout_s": 2, "read_timeout_s": 0.5, "reconnect_initial_s": 0.05}
    fast["reconnect_max_s"] = 0.2
    params = {**fast, **params}
    node = CameraSource("cam", CameraSource.Params(source=source, **params), RunContext())
    node.setup()
    return node


def level(frame) -> int:
    return int(round(frame.pixels.mean()))


def test_reads_frames_from_a_stream():
    server = MjpegServer(level=80)
    try:
        node = make_node(f"http://127.0.0.1:{server.port}/video.mjpg", max_frames=5)
        frames = list(node.frames())
    finally:
        server.kill()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert all(abs(level(f) - 80) <= 2 and f.pixels.shape == (48, 64, 3) for f in frames)
    assert all(f.source_id == "cam" for f in frames)
    assert node.is_live() and node.drops == 0 and node.reconnects == 0


def test_server_killed_mid_stream_then_restarted(caplog, capfd):
    caplog.set_level(logging.INFO)
    server = MjpegServer(level=60)
    port = server.port
    node = make_node(f"http://viewer:{SECRET}@127.0.0.1:{port}/video.mjpg", max_frames=40)
    restarted: list[MjpegServer] = []
    levels = []
    health = [node.health()]
    try:
        for frame in node.frames():
            levels.append(level(frame))
            health.append(node.health())
            if len(levels) == 10:
                server.kill()  # the camera reboots mid-stream ...
                timer = threading.Timer(0.3, lambda: restarted.append(MjpegServer(port, level=160)))
                timer.start()  # ... and is back 0.3 s later, showing something else
    finally:
        server.kill()
        for s in restarted:
            s.kill()
    assert len(levels) == 40
    assert all(abs(v - 60) <= 2 for v in levels[:10])
    assert abs(levels[-1] - 160) <= 2, "frames did not resume from the restarted server"
    assert node.drops == 1 and node.reconnects == 1 and node.failed_attempts >= 1
    # down before the first frame, up with every frame; the counters a monitor reads move with the stream
    assert not health[0].up and health[0].detail == "not connected yet"
    assert all(h.up for h in health[1:]) and (health[10].drops, health[11].drops, health[11].reconnects) == (0, 1, 1)
    assert "dropped after" in caplog.text and "reconnected to" in caplog.text
    assert f"viewer:***@127.0.0.1:{port}" in caplog.text
    assert SECRET not in caplog.text and SECRET not in "".join(capfd.readouterr())


def test_silent_stream_times_out_and_reconnects(caplog):
    caplog.set_level(logging.WARNING)
    server = MjpegServer(level=100, stall_after=3)  # every connection freezes after 3 frames
    try:
        node = make_node(f"http://127.0.0.1:{server.port}/", max_frames=6, read_timeout_s=0.4)
        started = time.monotonic()
        frames = list(node.frames())
        elapsed = time.monotonic() - started
    finally:
        server.kill()
    assert len(frames) == 6 and node.drops == 1 and node.reconnects == 1
    assert server.connections == 2
    assert "no frame for" in caplog.text
    assert 0.3 < elapsed < 20  # it timed out (0.4 s), not hung; the ceiling leaves room for a busy machine


def test_unreachable_url_reports_masked_error_after_attempts(caplog, capfd):
    caplog.set_level(logging.WARNING)
    url = f"rtsp://admin:{SECRET}@127.0.0.1:{free_port()}/stream1"
    node = make_node(url, max_reconnects=2, reconnect_initial_s=0.01, reconnect_max_s=0.02)
    with pytest.raises(NodeError) as info:
        list(node.frames())
    message = str(info.value)
    assert "camera 'cam': cannot open rtsp://admin:***@127.0.0.1" in message
    assert "gave up after 3 attempt(s)" in message and info.value.hint
    assert caplog.text.count("retrying in") == 2 and "(attempt 2/3)" in caplog.text
    assert node.failed_attempts == 3
    health = node.health()
    assert not health.up and health.detail.startswith("cannot open rtsp://admin:***@127.0.0.1")
    assert SECRET not in message + info.value.hint + caplog.text
    assert SECRET not in "".join(capfd.readouterr())


def test_stop_interrupts_the_backoff_wait():
    url = f"http://127.0.0.1:{free_port()}/"
    node = make_node(url, reconnect_initial_s=30, reconnect_max_s=60)  # would wait 30 s
    threading.Timer(0.3, node.context.stop_event.set).start()
    started = time.monotonic()
    assert list(node.frames()) == []
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("initial", "maximum", "delays"),
    [(1, 30, [1, 2, 4, 8, 16, 30, 30]), (0.5, 1, [0.5, 1, 1]), (0, 5, [0, 0, 0])],
)
def test_backoff(initial, maximum, delays):
    backoff = Backoff(initial, maximum)
    assert [backoff.next_delay() for _ in delays] == delays
    backoff.reset()
    assert backoff.next_delay() == initial


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (0, None),
        ("1", None),
        ("rtsp://u:pw@host/x", None),
        ("http://host/video.mjpg", None),
        ("clip.mp4", "neither a device index nor a stream URL"),
        ("u:pw@host/x", "neither"),
    ],
)
def test_check_params(source, problem):
    problems = CameraSource.check_params(CameraSource.Params(source=source), RunContext())
    if problem is None:
        assert problems == []
    else:
        assert problems[0].field == "source" and problem in problems[0].message
        assert "pw" not in problems[0].message


@pytest.mark.parametrize(
    ("params", "ok"),
    [
        ({}, True),
        ({"drop": "oldest"}, True),
        ({"reconnect_initial_s": 5, "reconnect_max_s": 1}, False),
        ({"read_timeout_s": 0}, False),
        ({"drop": "sometimes"}, False),
    ],
)
def test_params(params, ok):
    if ok:
        p = CameraSource.Params(source=0, **params)
        assert CameraSource("c", p).drop_policy() == params.get("drop", "none")
    else:
        with pytest.raises(pydantic.ValidationError):
            CameraSource.Params(source=0, **params)


def test_device_index():
    assert [device_index(s) for s in (0, "2", " 3 ", "rtsp://h/1", "cam0")] == [0, 2, 3, None, None]


def test_backoff_cap_error_names_its_field():
    with pytest.raises(pydantic.ValidationError) as info:
        CameraSource.Params(source=f"rtsp://u:{SECRET}@h/x", reconnect_initial_s=5, reconnect_max_s=1)
    assert info.value.errors()[0]["loc"] == ("reconnect_max_s",)
    assert SECRET not in str(info.value.errors()[0]["msg"])
