"""Records: every field of a detection, JSON-able, masks as RLE or polygons."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import supervision as sv
from sinkkit import rendered_detections

from segflow.delivery.records import Findings, FrameRecord, RecordBuilder, jsonable, mask_polygons, mask_rle
from segflow.engine.frame import PacketInfo

PACKET = PacketInfo("cam", 12, 1.2, "wf")
FILED = PacketInfo("photos", 3, 1.2, "wf", "/data/batch 7/img_0003.png")


def rows(dets, value=None, per="detection", mask="none", run="r") -> list[dict]:
    return RecordBuilder("wf", run, mask).frame(Findings(PACKET, dets, value)).rows(per)


def test_per_detection_records_carry_every_field() -> None:
    dets = rendered_detections()
    records = rows(dets, {"mean": np.float32(3.5)}, run="run1")
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
    (record,) = rows(rendered_detections(), per="frame")
    assert record["record_id"] == "r-cam-12" and record["count"] == 3
    assert record["counts"] == {"stone": 2, "bean": 1}
    assert [d["class"] for d in record["detections"]] == ["stone", "bean", "stone"]
    assert "value" not in record


def test_empty_frames() -> None:
    empty = sv.Detections.empty()
    assert rows(empty) == []
    (frame,) = rows(empty, per="frame")
    assert frame["count"] == 0 and frame["detections"] == [] and frame["counts"] == {}


@pytest.mark.parametrize("per", ["detection", "frame"])
def test_without_detections_wired_each_frame_is_one_record(per: str) -> None:
    (record,) = rows(None, {"mean": 3}, per=per)
    assert record["record_id"] == "r-cam-12" and record["value"] == {"mean": 3}
    assert "count" not in record and "detections" not in record


def test_class_id_stands_in_for_a_missing_class_name() -> None:
    dets = sv.Detections(xyxy=np.array([[0, 0, 4, 4.0]]), class_id=np.array([3]))
    (record,) = rows(dets)
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


def test_records_of_a_frame_read_from_a_file_name_it() -> None:
    dets = rendered_detections()
    for per in ("detection", "frame"):
        records = RecordBuilder("wf", "r").frame(Findings(FILED, dets)).rows(per)
        assert {(r["file"], r["file_name"]) for r in records} == {("/data/batch 7/img_0003.png", "img_0003.png")}
    assert "file" not in rows(dets)[0]  # a camera's frame has no file: no empty column either


def test_mask_modes_in_records() -> None:
    dets = rendered_detections()
    rle = rows(dets, mask="rle")
    poly = rows(dets, mask="polygon")
    assert sum(rle[0]["mask"]["counts"][1::2]) == int(dets.mask[0].sum())
    assert isinstance(poly[2]["mask"][0], list) and len(poly[2]["mask"][0]) >= 8


@pytest.mark.parametrize(("detections", "packet"), [(None, PACKET), ("rendered", PACKET), ("rendered", FILED)])
def test_a_frame_record_survives_the_spool_exactly(detections, packet) -> None:
    """What a spool writes to disk reads back as the same typed record: time, run id, file and all."""
    dets = rendered_detections() if detections else None
    record = RecordBuilder("wf", "20260101T000000Z-abcdef", "rle").frame(Findings(packet, dets, {"mean": 2.5}))
    again = FrameRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    assert again.logged_at.tzinfo is not None and again.time.endswith("Z")
    assert again.rows("frame") == record.rows("frame")


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
