"""Every millimetre figure carries its standard uncertainty, and the stated uncertainty covers the error."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pytest
from antialias import bar, coverage, ellipse, grey

from segflow.nodes.measure.masks import LENGTHS, MeasureMasks
from segflow.nodes.models.threshold import ThresholdDetector
from segflow.nodes.sinks.files import CsvSink, JsonlSink

SHAPE = (240, 320)


def measure(make_node, run_packet, picture, scale, with_image=True):
    image = np.repeat(picture[..., None], 3, axis=2)
    found = run_packet(make_node(ThresholdDetector, {"method": "otsu", "min_area": 30}), image=image)["detections"]
    inputs = {"detections": found, "image": image} if with_image else {"detections": found}
    return run_packet(make_node(MeasureMasks, {"scale": scale}), **inputs)["detections"]


def test_every_mm_field_has_an_uncertainty_field(shapes, make_node, run_packet):
    picture = grey(coverage(bar(160.2, 120.7, 150, 20, 12), SHAPE))
    out = measure(make_node, run_packet, picture, {"mode": "fixed", "mm_per_px": 0.1})
    mm = [k for k in out.data if k.endswith(("_mm", "_mm2")) or k == "mm_per_px"]
    assert len(mm) == len(LENGTHS) + 2
    for key in mm:
        assert f"{key}_u" in out.data and np.all(out.data[f"{key}_u"] >= 0), key


@pytest.mark.parametrize("with_image", [True, False])
@pytest.mark.parametrize("angle", [0, 8, 33, 61])
def test_the_stated_uncertainty_covers_the_error(make_node, run_packet, with_image, angle):
    """Within 3 standard uncertainties, with sub-pixel edges and with the mask's own edges."""
    mm_per_px = 0.05
    picture = grey(coverage(ellipse(160.4, 120.3, 60, 18, angle), SHAPE), seed=angle)
    out = measure(make_node, run_packet, picture, {"mode": "fixed", "mm_per_px": mm_per_px}, with_image)
    d = out.data
    for key, truth in (("length_mm", 6.0), ("width_mm", 1.8), ("area_mm2", math.pi * 3.0 * 0.9)):
        assert abs(d[key][0] - truth) <= 3 * d[f"{key}_u"][0], key
    sub_pixel = d["width_mm_u"][0] / mm_per_px
    # Two edges, each to about 0.2 px from the image; from a mask alone to 1 px (it may sit a pixel off).
    assert (sub_pixel < 0.4) if with_image else (sub_pixel > 1.0)


def test_scale_uncertainty_propagates(make_node, run_packet):
    picture = grey(coverage(bar(160.2, 120.7, 200, 20, 12), SHAPE))
    exact = measure(make_node, run_packet, picture, {"mode": "fixed", "mm_per_px": 0.1})
    loose = measure(make_node, run_packet, picture, {"mode": "fixed", "mm_per_px": 0.1, "mm_per_px_u": 0.001})
    assert loose.data["mm_per_px_u"][0] == pytest.approx(0.001)
    # 1 % on the scale is 1 % on a length: 0.2 mm on the 20 mm bar, far above its edge term.
    assert loose.data["length_mm_u"][0] == pytest.approx(0.2, rel=0.05)
    assert exact.data["length_mm_u"][0] < 0.05


def test_reference_uncertainty_from_size_tolerance_and_edges(make_node, run_packet):
    s = 1 / 0.2
    cover = np.maximum(
        coverage(ellipse(250.3, 60.6, 12.125 * s, 12.125 * s, 0), SHAPE),
        coverage(bar(90.2, 150.1, 30 * s, 3 * s, 17), SHAPE),
    )
    image = np.repeat(grey(cover)[..., None], 3, axis=2)
    found = run_packet(make_node(ThresholdDetector, {"method": "otsu"}), image=image)["detections"]
    found.data["class_name"] = np.where(found.xyxy[:, 0] > 150, "coin", "part")
    out = []
    for size_u in (0.0, 0.05):
        scale = {"mode": "reference", "class_name": "coin", "size_mm": 24.25}
        scale.update(size_mm_u=size_u, dimension="circle_diameter")
        out.append(run_packet(make_node(MeasureMasks, {"scale": scale}), detections=found, image=image)["detections"])
    tight, loose = (o.data["mm_per_px_u"][0] / o.data["mm_per_px"][0] for o in out)
    assert tight < 0.002 < loose == pytest.approx(math.hypot(tight, 0.05 / 24.25), rel=0.01)


def test_aruco_uncertainty_is_small_for_a_sharp_marker(make_node, run_packet):
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    image = np.full((300, 300, 3), 255, np.uint8)
    image[30:270, 30:270] = cv2.aruco.generateImageMarker(dictionary, 1, 240)[..., None]
    found = run_packet(make_node(ThresholdDetector, {"method": "otsu", "invert": True}), image=image)["detections"]
    scale = {"mode": "aruco", "marker_mm": 24}
    out = run_packet(make_node(MeasureMasks, {"scale": scale}), detections=found, image=image)["detections"]
    assert out.data["mm_per_px"][0] == pytest.approx(0.1, rel=0.005)
    assert 0 < out.data["mm_per_px_u"][0] / 0.1 < 0.005


def test_sinks_write_the_uncertainty_fields(make_node, run_packet, tmp_path):
    # Record sinks write every data field (segflow/delivery/records.py): the _u fields need nothing more.
    picture = grey(coverage(bar(160.2, 120.7, 150, 20, 12), SHAPE))
    out = measure(make_node, run_packet, picture, {"mode": "fixed", "mm_per_px": 0.1, "mm_per_px_u": 0.0005})
    for cls, name in ((JsonlSink, "m.jsonl"), (CsvSink, "m.csv")):
        sink = make_node(cls, {"path": str(tmp_path / name)})
        run_packet(sink, detections=out)
        sink.close()
    record = json.loads((tmp_path / "m.jsonl").read_text().splitlines()[0])
    assert record["length_mm_u"] == pytest.approx(out.data["length_mm_u"][0])
    assert record["area_mm2_u"] > 0 and record["mm_per_px_u"] == pytest.approx(0.0005)
    row = next(csv.DictReader((tmp_path / "m.csv").open()))
    assert float(row["width_mm_u"]) == pytest.approx(out.data["width_mm_u"][0], rel=1e-4)
