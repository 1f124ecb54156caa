"""source.video: order, fps cap, start/end, loop, damaged files and parameter checks.

Each test video is written here with OpenCV; frame i is a flat grey of level
8*i (with a real photo patch), so every frame read back says which it was.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pydantic
import pytest
from skimage import data

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sources.video import FrameSelector, VideoSource

FRAMES, FPS = 30, 10.0


def write_video(path: Path, fourcc: str = "MJPG", frames: int = FRAMES) -> Path:
    coins = cv2.resize(data.coins(), (32, 48))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, (64, 48))
    for i in range(frames):
        img = np.full((48, 64, 3), 8 * i, np.uint8)
        img[:, 32:] = coins[:, :, None]
        writer.write(img)
    writer.release()
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.avi")


def make_node(path: Path, **params) -> VideoSource:
    ctx = RunContext(workflow_name="t", base_dir=path.parent)
    node = VideoSource("vid", VideoSource.Params(path=path.name, **params), ctx)
    node.setup()
    return node


def numbers(frames) -> list[int]:
    return [int(round(f.pixels[:, :32].mean() / 8)) for f in frames]


@pytest.mark.parametrize("fourcc,suffix", [("MJPG", "avi"), ("mp4v", "mp4")])
def test_all_frames_in_order(tmp_path, fourcc, suffix):
    node = make_node(write_video(tmp_path / f"clip.{suffix}", fourcc))
    frames = list(node.frames())
    node.close()
    assert numbers(frames) == list(range(FRAMES))
    assert [f.index for f in frames] == list(range(FRAMES))
    assert frames[3].timestamp == pytest.approx(0.3)
    assert frames[0].pixels.shape == (48, 64, 3) and frames[0].source_id == "vid"
    assert node.total_frames() == FRAMES and node.corrupt_frames == 0


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"fps": 5}, list(range(0, 30, 2))),
        ({"fps": 3}, [0, 4, 7, 10, 14, 17, 20, 24, 27]),
        ({"fps": 50}, list(range(30))),  # a cap above the native rate changes nothing
        ({"start": 1.0, "end": 1.5}, [10, 11, 12, 13, 14]),
        ({"start": 25, "unit": "frames"}, [25, 26, 27, 28, 29]),
        ({"start": 2.5, "end": 99}, [25, 26, 27, 28, 29]),  # end past the file: clipped
        ({"start": 1, "end": 2, "fps": 2}, [10, 15]),
    ],
)
def test_selection(video, params, expected):
    node = make_node(video, **params)
    frames = list(node.frames())
    assert numbers(frames) == expected
    assert node.total_frames() == len(expected)
    assert [f.meta["video_frame"] for f in frames] == expected
    assert [f.timestamp for f in frames] == pytest.approx([n / FPS for n in expected])


def test_loop_keeps_timestamps_rising(video):
    node = make_node(video, start=27, unit="frames", loop=True)
    assert node.total_frames() is None
    gen = node.frames()
    frames = [next(gen) for _ in range(7)]
    assert numbers(frames) == [27, 28, 29, 27, 28, 29, 27]
    assert np.all(np.diff([f.timestamp for f in frames]) > 0)
    node.context.stop_event.set()
    assert list(gen) == []
    node.close()


def first(frames, count: int) -> list:
    return [frame for frame, _ in zip(frames, range(count), strict=False)]


@pytest.mark.parametrize("params", [{"start": 20, "end": 26, "unit": "frames", "fps": 4},
                                    {"start": 27, "unit": "frames"}, {}],
                         ids=["range-and-cap", "short-loop", "whole-file"])
@pytest.mark.parametrize("after", [0, 1, 2, 3, 4, 5, 6, 7, 13, 29, 30, 31])
def test_frames_after_carry_on_as_one_run_would_have_across_wraps(video, params, after):
    """A new run of the source after frame ``after``: the very frames one unbroken run gives next, at a wrap too."""
    unbroken = make_node(video, loop=True, **params)
    expected = first(unbroken.frames(), after + 12)[after + 1:]
    resumed = make_node(video, loop=True, **params)
    got = first(resumed.frames_after(after), len(expected))
    unbroken.close()
    resumed.close()
    assert [f.index for f in got] == [f.index for f in expected] == list(range(after + 1, after + 12))
    assert numbers(got) == numbers(expected)
    assert [(f.meta["video_frame"], f.meta["loop_pass"]) for f in got] == [
        (f.meta["video_frame"], f.meta["loop_pass"]) for f in expected]
    assert [f.timestamp for f in got] == pytest.approx([f.timestamp for f in expected])


def test_frames_after_the_last_of_an_unlooped_video_is_nothing(video):
    node = make_node(video, start=27, unit="frames")
    assert list(node.frames_after(2)) == [] and numbers(node.frames_after(1)) == [29]
    node.close()


def test_corrupt_frame_is_skipped_and_counted(video, tmp_path, caplog):
    raw = bytearray(video.read_bytes())
    starts = [i for i in range(len(raw) - 1) if raw[i] == 0xFF and raw[i + 1] == 0xD8]
    assert len(starts) == FRAMES  # one JPEG per frame
    raw[starts[10] : starts[10] + 200] = bytes(200)  # wipe frame 10's headers
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(raw))
    caplog.set_level(logging.WARNING)
    node = make_node(damaged)
    got = numbers(node.frames())
    assert got == [n for n in range(FRAMES) if n != 10]
    assert node.corrupt_frames == 1
    assert "skipped 1 unreadable frame(s) of damaged.avi from frame 10" in caplog.text


def test_truncated_file_ends_with_a_report(video, tmp_path, caplog):
    cut = tmp_path / "cut.avi"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    caplog.set_level(logging.WARNING)
    node = make_node(cut)
    got = numbers(node.frames())
    assert 0 < len(got) < FRAMES and got == list(range(len(got)))
    assert node.corrupt_frames == FRAMES - len(got)
    assert "before its header's count" in caplog.text


def test_not_a_video_is_a_clear_error(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    with pytest.raises(NodeError, match="cannot open .*fake.mp4 as a video"):
        make_node(fake)


def test_start_past_end_is_a_clear_error(video):
    with pytest.raises(NodeError, match="past the end"):
        make_node(video, start=40, unit="frames")


@pytest.mark.parametrize(
    ("path", "problem"),
    [("clip.avi", None), ("missing.mp4", "missing.mp4 does not exist"), (".", "is a folder, not a video file")],
)
def test_check_params(video, path, problem):
    ctx = RunContext(base_dir=video.parent)
    problems = VideoSource.check_params(VideoSource.Params(path=path), ctx)
    if problem is None:
        assert problems == []
    else:
        assert [p.field for p in problems] == ["path"] and problem in problems[0].message


@pytest.mark.parametrize("params", [{"start": 2, "end": 1}, {"start": 1, "end": 1}, {"fps": -1}, {"unit": "minutes"}])
def test_bad_params_rejected(params):
    with pytest.raises(pydantic.ValidationError):
        VideoSource.Params(path="x.mp4", **params)


@pytest.mark.parametrize(
    ("native", "cap", "n", "kept"),
    [
        (30, 0, 4, [0, 1, 2, 3]),
        (30, 15, 6, [0, 2, 4]),
        (30, 10, 7, [0, 3, 6]),
        (25, 10, 6, [0, 3, 5]),
        (10, 30, 3, [0, 1, 2]),
    ],
)
def test_frame_selector(native, cap, n, kept):
    selector = FrameSelector(native, cap)
    assert [i for i in range(n) if selector.keep(i)] == kept


def test_end_before_start_error_names_its_field():
    with pytest.raises(pydantic.ValidationError) as info:
        VideoSource.Params(path="x.mp4", start=5, end=2)
    assert info.value.errors()[0]["loc"] == ("end",)
    assert "must be after start (5.0)" in info.value.errors()[0]["msg"]
