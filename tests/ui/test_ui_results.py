"""Results shaped for reading: column order, the column picker, the default output; frame stepping logic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segflow.engine.workflow.validate import validate_text
from segflow.ui import results, stepping
from segflow.ui.frame_reader import FrameReader, Opened

ROOT = Path(__file__).resolve().parents[2]

# The columns of the coffee graph's colour.detections, in the order detections_rows makes them.
COFFEE = ["#", "x1", "y1", "x2", "y2", "class_id", "confidence", "tracker_id", "mask_px", "class_name", "area_px",
          "length_px", "feret_max_px", "angle_deg", "circularity", "area_mm2", "area_mm2_u", "length_mm",
          "length_mm_u", "feret_max_mm", "feret_max_mm_u", "mm_per_px", "mm_per_px_u", "colour_pixels", "r_mean",
          "hue_mean_deg", "colour_hex", "colour_name", "colour_name_delta_e", "dominant_hex"]


def test_measured_and_colour_columns_first_boxes_and_ids_last():
    order = results.ordered_columns([dict.fromkeys(COFFEE)])
    assert order[:2] == ["#", "class_name"]
    assert order[2:8] == ["area_mm2", "area_mm2_u", "length_mm", "length_mm_u", "feret_max_mm", "feret_max_mm_u"]
    assert order[8:12] == ["colour_hex", "colour_name", "colour_name_delta_e", "dominant_hex"]
    assert order[12] == "confidence"
    assert order[-9:] == ["x1", "y1", "x2", "y2", "class_id", "tracker_id", "mask_px", "mm_per_px", "mm_per_px_u"]
    assert sorted(order) == sorted(COFFEE)


def test_default_columns_are_the_headline_and_the_track_id():
    columns = results.ordered_columns([dict.fromkeys(COFFEE)])
    assert results.pick_columns(columns, None) == [
        "#", "class_name", "area_mm2", "length_mm", "feret_max_mm", "colour_hex", "colour_name",
        "colour_name_delta_e", "dominant_hex", "confidence", "tracker_id"]
    few = results.ordered_columns([dict.fromkeys(["#", "x1", "y1", "x2", "y2", "class_id", "confidence"])])
    assert results.pick_columns(few, None) == few  # nothing measured: show everything


@pytest.mark.parametrize(
    ("remembered", "expected"),
    [(["tracker_id", "length_mm"], ["length_mm", "tracker_id"]),  # in table order
     (["gone", "length_mm"], ["length_mm"]),  # a column this output no longer has is dropped
     (["gone"], None), ([], None)],  # nothing left: the default
)
def test_a_remembered_pick_is_kept(remembered, expected):
    columns = results.ordered_columns([dict.fromkeys(COFFEE)])
    assert results.pick_columns(columns, remembered) == (expected or results.default_columns(columns))


def test_select_keeps_only_the_picked_columns():
    rows = [{"#": 0, "x1": 1.0, "length_mm": 3.5}, {"#": 1, "x1": 2.0, "length_mm": 4.0}]
    assert results.select(rows, ["length_mm", "#"]) == [{"length_mm": 3.5, "#": 0}, {"length_mm": 4.0, "#": 1}]


# -- the default of "Show the output of" ----------------------------------------------------------

COINS = (ROOT / "workflows" / "coins.yaml").read_text()


@pytest.fixture(scope="module")
def coins_run():
    from segflow.engine.execution.session import EditorSession
    from segflow.engine.node import RunContext
    from segflow.ui.media import read_file

    graph = validate_text(COINS, "coins.yaml", context=RunContext(base_dir=ROOT)).graph
    assert graph is not None
    pixels = read_file(ROOT / "assets" / "samples" / "coins.png").pixels
    with EditorSession(RunContext(base_dir=ROOT), run_sinks=False) as session:
        return graph, session.run_image(graph, pixels)


@pytest.mark.parametrize(("selected", "expected"), [("measure", "measure"), ("photo", "label"), (None, "label"),
                                                    ("nonexistent", "label")])
def test_show_output_of_never_defaults_to_the_raw_frame(coins_run, selected, expected):
    graph, result = coins_run
    assert graph.nodes["photo"].cls.is_source and graph.nodes["label"].cls.type_name == "annotate.detections"
    assert results.default_output(graph, result, selected) == expected


# -- frame reader ----------------------------------------------------------------------------------


class Video:
    def __init__(self, count: int) -> None:
        self.count, self.opens, self.decoded, self.closed = count, [], 0, 0

    def __call__(self, start: int) -> Opened:
        self.opens.append(start)

        def frames():
            for i in range(start, self.count):
                self.decoded += 1
                yield np.full((2, 2), i, np.uint8)

        def close():
            self.closed += 1
        return Opened(frames(), self.count, close)


def test_steps_read_one_frame_and_jumps_reopen():
    video = Video(200)
    reader = FrameReader(video, recent_frames=4)
    assert reader.frame(0)[0, 0] == 0 and reader.count == 200
    for i in range(1, 6):
        assert reader.frame(i)[0, 0] == i
    assert video.opens == [0] and video.decoded == 6  # a step decodes one frame
    assert reader.frame(4)[0, 0] == 4 and video.decoded == 6  # a step back is served from the kept frames
    assert reader.frame(150)[0, 0] == 150 and video.opens == [0, 150] and video.closed == 1  # a far jump seeks
    assert reader.frame(1)[0, 0] == 1 and video.opens == [0, 150, 1]  # an old frame not kept: reopen there
    assert reader.frame(300) is None
    assert [i for _p, i in reader.frames(197, 203)] == [197, 198, 199]
    reader.close()
    assert video.closed == len(video.opens)


# -- when a step needs a warm-up --------------------------------------------------------------------

TRACKED = """\
version: 1
name: tracked
nodes:
  cam: {type: source.video, params: {path: assets/samples/conveyor.mp4}}
  blobs: {type: detect.threshold, params: {blur: 5}, inputs: {image: cam.image}}
  track: {type: track.bytetrack, inputs: {detections: blobs.detections}}
  label: {type: annotate.detections, params: {text_scale: 0.5},
          inputs: {image: cam.image, detections: track.detections}}
"""


def compiled(text: str):
    from segflow.engine.node import RunContext

    validation = validate_text(text, "t.yaml", context=RunContext(base_dir=ROOT))
    assert validation.ok, [i.format() for i in validation.issues]
    return validation.graph


@pytest.mark.parametrize(
    ("edit", "last", "index", "warm"),
    [
        (None, None, 5, True),  # first run
        (None, ("v", 5), 6, False),  # the next frame: the tracker goes on
        (None, ("v", 5), 5, False),  # the same frame (a param change downstream): served from the cache
        (None, ("v", 5), 4, True),  # a step back
        (None, ("v", 5), 20, True),  # a jump
        (None, ("other", 5), 6, True),  # another input
        (("text_scale: 0.5", "text_scale: 0.9"), ("v", 5), 6, False),  # downstream of the tracker
        (("blur: 5", "blur: 7"), ("v", 5), 6, True),  # upstream of the tracker
    ],
)
def test_needs_warmup(edit, last, index, warm):
    before = compiled(TRACKED)
    after = compiled(TRACKED.replace(*edit)) if edit else before
    shown = stepping.Shown(last[0], last[1], stepping.stateful_signature(before)) if last else None
    assert stepping.needs_warmup(after, shown, "v", index) is warm


def test_no_tracker_no_warmup():
    graph = compiled(TRACKED.replace("track.detections", "blobs.detections").replace(
        "  track: {type: track.bytetrack, inputs: {detections: blobs.detections}}\n", ""))
    assert not stepping.needs_warmup(graph, None, "v", 40)
