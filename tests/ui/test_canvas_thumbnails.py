"""After a run each node on the canvas shows its last output: a tiny JPEG, or a count."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from segflow.engine.frame import Frame
from segflow.engine.registry import default_registry
from segflow.ui import canvas, thumbnails
from segflow.ui.editor import Editor
from segflow.ui.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ran():
    editor = Editor(Workspace(ROOT), default_registry())
    editor.open("workflows/coins.yaml")
    pixels = cv2.imread(str(ROOT / "assets" / "samples" / "coins.png"))
    assert pixels is not None
    editor.run(pixels, input_name="coins.png")
    yield editor, pixels
    editor.close()


def decode(url: str) -> np.ndarray:
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    image = cv2.imdecode(np.frombuffer(base64.b64decode(url[len(prefix):]), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_payload_carries_small_thumbnails_and_counts(ran):
    editor, pixels = ran
    graph = canvas.editor_payload(editor, editor.validation().issues)
    by_id = {n["id"]: n for n in graph["nodes"]}
    photo = decode(by_id["photo"]["foot"]["thumb"]["image"])
    h, w = pixels.shape[:2]
    assert photo.shape[1] <= thumbnails.WIDTH and abs(photo.shape[0] - round(h * photo.shape[1] / w)) <= 1
    small = cv2.resize(pixels, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - photo.astype(int)).mean() < 12  # it is this picture, not another
    assert "image" in by_id["label"]["foot"]["thumb"]  # the annotated image
    found = len(editor.last_run.result.outputs["coins"]["detections"])
    assert found > 10
    assert by_id["coins"]["foot"]["thumb"] == {"text": f"{found} detections", "count": found}
    assert by_id["coins"]["foot"]["status"] == "ran" and by_id["coins"]["foot"]["frame"] == 0
    assert by_id["log"]["foot"]["thumb"] is None  # a sink that did not run shows nothing
    assert by_id["log"]["foot"]["text"] == "sink (off in previews)"
    assert len(json.dumps(graph)) < 40_000  # the payload travels on every rerun


def test_no_run_no_thumbnails(ran):
    editor, _ = ran
    graph = canvas.payload(editor.state, editor.registry, [], None, None)
    assert all(n["foot"] is None for n in graph["nodes"])
    assert {t["type"] for t in graph["types"]} == {name for name, _ in editor.registry}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([{"a": 1}, {"a": 2}, {"a": 3}], {"text": "3 rows", "count": 3}),
        ([{"a": 1}], {"text": "1 row", "count": 1}),
        (7, {"text": "7"}),
        (True, None),
        ({"mean": 3.0}, None),
        (Frame(np.zeros((0, 0, 3), np.uint8), "s", 0, 0.0), None),
    ],
)
def test_values_as_thumbnails(value, expected):
    assert thumbnails.of_value(value) == expected


def test_a_wide_grey_frame_is_scaled_to_the_width():
    url = thumbnails.of_value(Frame(np.full((50, 1000), 128, np.uint8), "s", 0, 0.0))["image"]
    image = decode(url)
    assert image.shape[:2] == (6, 120) and abs(int(image.mean()) - 128) <= 2


def test_only_the_last_few_results_keep_their_thumbnails(ran):
    """Play asks for the footers of a new result twice a second: the cache must not keep them all."""
    editor, _ = ran
    run = editor.last_run.result
    copies = [type(run)(outputs=run.outputs, runs=run.runs) for _ in range(thumbnails.KEPT_RESULTS + 3)]
    for result in copies:
        assert thumbnails.for_node(result, "coins") is not None
    assert len(thumbnails._cache) == thumbnails.KEPT_RESULTS
    assert all(kept is result for kept, result in zip((k for k, _ in thumbnails._cache.values()),
                                                      copies[-thumbnails.KEPT_RESULTS:], strict=True))
