"""Records: every field of a detection, JSON-able, masks as RLE or polygons."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import supervision as sv
from sinkkit import rendered_detections

from segflow.delivery.records import RecordBuilder, jsonable, mask_polygons, mask_rle
from segflow.engine.frame import PacketInfo

PACKET = PacketInfo("cam", 12, 1.2, "wf")


def test_per_detection_records_carry_every_field() -> None:
    dets = rendered_detections()
    records = RecordBuilder("wf", "run1").records(PACKET, dets, {"mean": np.float32(3.5)})
    assert [r["record_id"] for r in records] == ["run1-cam-12-0", "run1-cam-12-1", "run1-cam-12-2"]
    first = records[1]
    assert (first["workflow"], first["source"], first["frame"], first["timestamp"]) == (
        "wf",
        "cam",
        12,
        1.2,
    )
    assert (first["class"], first["class_id"], first["tracker_id"]) == ("bean", 0, 8)
    assert first["confidence"] == pytest.approx(0.42, abs=1e-6)
    assert first["box"] == [41.0, 21.0, 59.0, 39.0]  # circle centre (50, 30), radius 9
    assert first["length_mm"] == 4.5 and first["area_px"] == int(dets.mask[1].sum())
    assert first["colour_lab"] == [60.0, 3.0, 4.0]
    assert first["value"] == {"mean": 3.5}
    assert "mask" not in first
    json.dumps(records, allow_nan=False)  # plain JSON all the way down
    assert type(first["area_px"]) is int and type(first["length_mm"]) is float


def test_per_frame_record_counts_classes() -> None:
    (record,) = RecordBuilder("wf", "r", per="frame").records(PACKET, rendered_detections(), None)
    assert record["record_id"] == "r-cam-12" and record["count"] == 3
    assert record["counts"] == {"stone": 2, "bean": 1}
    assert [d["class"] for d in record["detections"]] == ["stone", "bean", "stone"]
    assert "value" not in record


def test_empty_frames() -> None:
    empty = sv.Detections.empty()
    assert RecordBuilder("wf", "r").records(PACKET, empty, None) == []
    (frame,) = RecordBuilder("wf", "r", per="frame").records(PACKET, empty, None)
    assert frame["count"] == 0 and frame["detections"] == [] and frame["counts"] == {}


@pytest.mark.parametrize("per", ["detection", "frame"])
def test_without_detections_wired_each_frame_is_one_record(per: str) -> None:
    (record,) = RecordBuilder("wf", "r", per=per).records(PACKET, None, {"mean": 3})
    assert record["record_id"] == "r-cam-12" and record["value"] == {"mean": 3}
    assert "count" not in record and "detections" not in record


def test_class_id_stands_in_for_a_missing_class_name() -> None:
    dets = sv.Detections(xyxy=np.array([[0, 0, 4, 4.0]]), class_id=np.array([3]))
    (record,) = RecordBuilder("wf", "r").records(PACKET, dets, None)
    assert record["class"] == "3" and record["confidence"] is None and record["tracker_id"] is None


def test_rle_decodes_to_the_rendered_mask_with_supervision() -> None:
    dets = rendered_detections()
    for mask in dets.mask:
        rle = mask_rle(mask)
        assert rle["size"] == [60, 80]
        decoded = sv.rle_to_mask(rle["counts"], (80, 60))
        assert np.array_equal(decoded, mask)


@pytest.mark.parametrize(
    ("mask", "counts"),
    [
        (np.array([[0, 0], [0, 0]]), [4]),
        (np.array([[1, 1], [1, 1]]), [0, 4]),
        (np.array([[0, 1], [0, 1]]), [2, 2]),  # column-major: first column is background
        (np.array([[1, 0], [0, 0]]), [0, 1, 3]),
    ],
)
def test_rle_by_hand(mask, counts) -> None:
    assert mask_rle(mask.astype(bool))["counts"] == counts


def test_polygon_outlines_the_rectangle() -> None:
    (poly,) = mask_polygons(rendered_detections().mask[0])
    xs, ys = poly[0::2], poly[1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (5, 6, 24, 20)


def test_mask_modes_in_records() -> None:
    dets = rendered_detections()
    rle = RecordBuilder("wf", "r", mask="rle").records(PACKET, dets, None)
    poly = RecordBuilder("wf", "r", mask="polygon").records(PACKET, dets, None)
    assert sum(rle[0]["mask"]["counts"][1::2]) == int(dets.mask[0].sum())
    assert isinstance(poly[2]["mask"][0], list) and len(poly[2]["mask"][0]) >= 8


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.int64(3), 3),
        (np.float32(0.5), 0.5),
        (np.bool_(True), True),
        (float("nan"), None),
        (np.array([1.0, np.inf]), [1.0, None]),
        ({"a": (1, np.uint8(2))}, {"a": [1, 2]}),
        (b"\x00\x01", "AAE="),
        (np.array(7), 7),
    ],
)
def test_jsonable(value, expected) -> None:
    out = jsonable(value)
    assert out == expected
    assert not any(isinstance(v, float) and math.isnan(v) for v in [out])
