"""crop.detections, crop.tiles and crop.stitch on frames made as a camera makes them (blur, noise).

The stand-in second model here finds bright blobs in each crop or tile by
threshold: a real detector's job on real pixels, so a crop that is misplaced,
mis-scaled or letterboxed wrongly moves its results, and the stitch is checked
against the frame's own truth.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import supervision as sv

from segflow.engine import Frame, Inputs, PacketInfo
from segflow.engine.crops import Classification, Crops
from segflow.nodes.crops.cut import CropDetections, CropTiles
from segflow.nodes.crops.stitch import CropStitch

INFO = PacketInfo("cam", 0, 0.0)


def scene(width: int, height: int, discs: list[tuple[int, ...]], seed: int = 0) -> np.ndarray:
    """Bright discs (x, y, radius) or ellipses (x, y, rx, ry) on a dark belt, blurred and noisy, BGR uint8."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 40.0, np.float32) + rng.normal(0, 6, (height, width)).astype(np.float32)
    for x, y, *r in discs:
        cv2.ellipse(img, (x, y), (r[0], r[-1]), 0, 0, 360, 200.0, -1, lineType=cv2.LINE_AA)
    img = cv2.GaussianBlur(img, (0, 0), 1.2) + rng.normal(0, 3, (height, width)).astype(np.float32)
    return cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def blobs(pixels: np.ndarray) -> sv.Detections:
    """The stand-in second model: bright connected blobs, with masks, in the image's own pixels."""
    grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2GRAY)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((grey > 120).astype(np.uint8))
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 4]
    if not keep:
        return sv.Detections.empty()
    xyxy = np.array([[stats[i, 0], stats[i, 1], stats[i, 0] + stats[i, 2], stats[i, 1] + stats[i, 3]] for i in keep],
                    np.float32)
    return sv.Detections(xyxy=xyxy, mask=np.stack([labels == i for i in keep]),
                         confidence=np.full(len(keep), 0.9, np.float32), class_id=np.zeros(len(keep), int),
                         data={"class_name": np.array(["blob"] * len(keep))})


def run(node_cls, params: dict, **inputs):
    node = node_cls("n", node_cls.Params(**params))
    return node.process(Inputs(inputs, INFO))


DISCS = [(60, 50, 25, 8), (200, 120, 20), (330, 40, 5, 18), (120, 230, 15)]  # long ones letterbox unevenly


@pytest.fixture
def frame() -> Frame:
    return Frame(scene(400, 300, DISCS), "cam", 0, 0.0)


@pytest.fixture
def parents(frame) -> sv.Detections:
    found = blobs(frame.pixels)
    found.tracker_id = np.arange(10, 10 + len(found))
    found.data["length_mm"] = np.arange(len(found), dtype=float) + 1.5
    return found


@pytest.mark.parametrize(
    "params",
    [{}, {"margin_px": 5}, {"margin_ratio": 0.5, "square": True}, {"size": 64, "margin_ratio": 0.2},
     {"size": 96, "square": True}, {"size": 16}],
)
def test_crops_map_back_exactly(frame, parents, params):
    crops: Crops = run(CropDetections, params, image=frame, detections=parents)["crops"]
    assert len(crops) == len(parents) and crops.parents is parents
    for crop in crops.items:
        result = blobs(crop.pixels)  # the disc, found again in the crop, at the crop's scale
        assert len(result) >= 1
        box = crop.to_frame(result.xyxy[0].reshape(2, 2)).reshape(4)
        tolerance = 1.5 / min(crop.scale)  # a pixel of the crop, in frame pixels, and the threshold's own pixel
        np.testing.assert_allclose(box, parents.xyxy[crop.parent], atol=max(tolerance, 1.5))
        np.testing.assert_allclose(crop.from_frame(crop.to_frame([[3.0, 7.0]])), [[3.0, 7.0]])
        if "size" in params:
            assert crop.pixels.shape == (params["size"], params["size"], 3)


def test_blank_background_keeps_the_object_alone(frame, parents):
    crops = run(CropDetections, {"blank_background": True, "margin_px": 10, "fill": 0}, image=frame,
                detections=parents)["crops"]
    for crop in crops.items:
        x0, y0, x1, y1 = crop.box
        inside = parents.mask[crop.parent][y0:y1, x0:x1]
        assert (crop.pixels[~inside] == 0).all()
        np.testing.assert_array_equal(crop.pixels[inside], frame.pixels[y0:y1, x0:x1][inside])


def test_tiles_cover_the_frame_with_the_overlap_asked():
    frame = Frame(np.zeros((700, 1000, 3), np.uint8), "cam", 0, 0.0)
    crops = run(CropTiles, {"size": 256, "overlap": 0.25}, image=frame)["crops"]
    covered = np.zeros((700, 1000), int)
    for tile in crops.items:
        x0, y0, x1, y1 = tile.box
        assert tile.parent is None and tile.pixels.shape[:2] == (y1 - y0, x1 - x0) == (256, 256)
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1
    xs = sorted({t.box[0] for t in crops.items})
    assert xs[-1] + 256 == 1000 and all(b - a <= 192 for a, b in zip(xs, xs[1:], strict=False))


def with_blobs(crops: Crops) -> Crops:
    return crops.with_results([blobs(c.pixels) for c in crops.items])


@pytest.mark.parametrize(("merge", "expect_whole"), [("union", True), ("nms", True), ("none", False)])
def test_tiles_stitched_back_one_object_per_disc(merge, expect_whole):
    # Discs placed across tile borders (tiles of 128 every 96 px): each is cut in some tile.
    discs = [(96, 60, 10), (190, 100, 12), (250, 190, 9), (60, 200, 14), (300, 40, 7)]
    frame = Frame(scene(360, 260, discs, seed=3), "cam", 0, 0.0)
    tiles = run(CropTiles, {"size": 128, "overlap": 0.25}, image=frame)["crops"]
    found = run(CropStitch, {"mode": "new", "merge": merge}, crops=with_blobs(tiles))["detections"]
    truth = blobs(frame.pixels)
    assert len(truth) == len(discs)
    if not expect_whole:
        assert len(found) > len(discs)  # without merging, a disc seen by two tiles counts twice
        return
    assert len(found) == len(discs)
    for i in range(len(truth)):
        best = max(range(len(found)), key=lambda j: (found.mask[j] & truth.mask[i]).sum())
        iou = (found.mask[best] & truth.mask[i]).sum() / (found.mask[best] | truth.mask[i]).sum()
        assert iou > (0.95 if merge == "union" else 0.6)  # nms keeps one tile's view, maybe a cut one


def test_attach_classifications_keep_the_parents_identity(frame, parents):
    crops = run(CropDetections, {"size": 32}, image=frame, detections=parents)["crops"]
    results = [Classification(7, "ripe", 0.8) if i % 2 == 0 else None for i in range(len(crops))]
    out = run(CropStitch, {"mode": "attach"}, crops=crops.with_results(results))["detections"]
    assert len(out) == len(parents)
    np.testing.assert_array_equal(out.tracker_id, parents.tracker_id)
    np.testing.assert_array_equal(out.data["length_mm"], parents.data["length_mm"])
    np.testing.assert_array_equal(out.xyxy, parents.xyxy)
    for i in range(len(out)):
        if i % 2 == 0:
            assert (out.class_id[i], out.data["class_name"][i], out.confidence[i]) == (7, "ripe", pytest.approx(0.8))
        else:
            assert out.data["class_name"][i] == "blob"
    dropped = run(CropStitch, {"mode": "attach", "drop_unmatched": True}, crops=crops.with_results(results))
    assert list(dropped["detections"].tracker_id) == list(parents.tracker_id[::2])


def test_attach_refined_masks_land_inside_the_parents_box(frame, parents):
    coarse = sv.Detections(xyxy=parents.xyxy - [3, 3, -3, -3], class_id=parents.class_id,
                           tracker_id=parents.tracker_id, data=dict(parents.data))  # boxes, no masks
    crops = run(CropDetections, {"size": 64, "margin_ratio": 0.3}, image=frame, detections=coarse)["crops"]
    out = run(CropStitch, {"mode": "attach", "keep_class": True}, crops=with_blobs(crops))["detections"]
    assert out.mask is not None and out.mask.shape == (len(parents), 300, 400)
    for i in range(len(out)):
        iou = (out.mask[i] & parents.mask[i]).sum() / (out.mask[i] | parents.mask[i]).sum()
        assert iou > 0.85  # the refined mask is the disc itself, mapped back from 64 px crops
        x0, y0, x1, y1 = coarse.xyxy[i].round().astype(int)
        assert not out.mask[i][:, :max(x0, 0)].any() and not out.mask[i][:max(y0, 0)].any()
    np.testing.assert_array_equal(out.tracker_id, parents.tracker_id)
