"""sink.video: H.264 MP4 per source decoding back to the frames; crash-tolerant; OpenCV."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import skimage.data
from sinkkit import feed, make_node, rendered_detections

from segflow.engine.node import RunContext
from segflow.nodes.sinks.video import VideoSink


def coffee(i: int) -> np.ndarray:
    """A real photograph (scikit-image's coffee), small, shifted a little per frame."""
    image = cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR)
    image = cv2.resize(image, (80, 60), interpolation=cv2.INTER_AREA)
    return np.roll(image, i, axis=1)


def decode(path: Path) -> tuple[str, float, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
        return stream.codec_context.name, float(stream.average_rate or 0), frames


def test_h264_per_source_decodes_to_the_frames(tmp_path: Path) -> None:
    node = make_node(VideoSink, tmp_path, path="vid/{workflow}-{source}.mp4", annotate=False)
    for i in range(12):
        feed(node, i, image=coffee(i), source="left", ts=i / 25)
        if i % 2 == 0:
            feed(node, i, image=coffee(-i), source="right", ts=i / 25)
    node.close()
    codec, rate, frames = decode(tmp_path / "vid/wf-left.mp4")
    assert codec == "h264" and rate == pytest.approx(25, rel=0.01) and len(frames) == 12
    for i, frame in enumerate(frames):
        assert frame.shape == (60, 80, 3)
        assert np.abs(frame.astype(int) - coffee(i)).mean() < 6  # lossy, but the same picture
    _, rate_right, frames_right = decode(tmp_path / "vid/wf-right.mp4")
    assert len(frames_right) == 6 and rate_right == pytest.approx(12.5, rel=0.01)  # from timestamps


def test_annotation_draws_the_detections(tmp_path: Path) -> None:
    big = cv2.resize(coffee(0), (320, 240))
    dets = rendered_detections(h=240, w=320)  # the objects lie in the top-left 80 x 60
    node = make_node(VideoSink, tmp_path, path="a.mp4", fps=10, crf=10)
    plain = make_node(VideoSink, tmp_path, node_id="plain", path="p.mp4", fps=10, crf=10, annotate=False)
    for i in range(3):
        feed(node, i, dets, image=big)
        feed(plain, i, dets, image=big)
    node.close()
    plain.close()
    _, _, drawn = decode(tmp_path / "a_cam.mp4")  # no {source} in the path: _<source> is added
    _, _, bare = decode(tmp_path / "p_cam.mp4")
    diff = np.abs(drawn[0].astype(int) - bare[0].astype(int)).sum(axis=2) > 40
    assert diff[dets.mask.any(axis=0)].mean() > 0.5  # masks tinted
    assert diff[:, 160:].mean() < 0.01 and diff[100:, :].mean() < 0.01  # nothing drawn far away (labels overhang)


def test_restart_writes_a_new_file_and_odd_sizes_work(tmp_path: Path) -> None:
    for _ in range(2):
        node = make_node(VideoSink, tmp_path, path="v/{source}.mp4", fps=5)
        for i in range(3):
            feed(node, i, image=coffee(i)[:59, :79])
        node.close()
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["cam.1.mp4", "cam.mp4"]
    assert len(decode(tmp_path / "v/cam.1.mp4")[2]) == 3


def test_a_video_cut_short_still_plays(tmp_path: Path) -> None:
    node = make_node(VideoSink, tmp_path, path="c.mp4", fps=10)
    for i in range(35):
        feed(node, i, image=coffee(i))
    # no close(): as after kill -9, only what reached the file is there
    _, _, frames = decode(tmp_path / "c_cam.mp4")
    assert 20 <= len(frames) <= 35
    node.close()
    assert len(decode(tmp_path / "c_cam.mp4")[2]) == 35


def test_opencv_fallback(tmp_path: Path) -> None:
    node = make_node(VideoSink, tmp_path, path="o.mp4", fps=10, writer="opencv")
    for i in range(5):
        feed(node, i, image=coffee(i))
    node.close()
    capture = cv2.VideoCapture(str(tmp_path / "o_cam.mp4"))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 5


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("out/{source}.mp4", None),
        ("out/{camera}.mp4", "only {source}"),
        ("out/{source.mp4", "path"),
    ],
)
def test_path_template(path: str, error: str | None, tmp_path: Path) -> None:
    if error is None:
        params = VideoSink.Params(path=path)
        assert VideoSink.check_params(params, RunContext(base_dir=tmp_path)) == []
    else:
        with pytest.raises(ValueError, match=error):
            VideoSink.Params(path=path)
