"""``segment.refine``: the shipped refiner redraws the shipped model's masks, measured against the generator's truth.

The stills are held out from both trainings (the model learned on seed 0's, the
refiner on seed 2's; these are seed 1's validation stills, as in the model card),
and the masks are the real model's through ultralytics: nothing here is mocked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import supervision as sv

from segflow.engine import Frame, Inputs, NodeError, PacketInfo
from segflow.engine.node import RunContext
from segflow.nodes.models.refine import RefineMasks
from segflow.vision.mask_refiner import MULTIPLE, MaskRefiner, keep_overlapping, length_ends, window, with_tips

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
REFINER = ROOT / "assets" / "models" / "coffee-stones-refine.onnx"


def blob(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    x0, y0, x1, y1 = box
    mask[y0:y1, x0:x1] = True
    return mask


@pytest.mark.parametrize(("box", "margin"), [((30, 40, 61, 55), 12), ((0, 0, 9, 7), 12), ((90, 70, 100, 80), 5)])
def test_a_window_holds_the_mask_and_its_margin_in_a_multiple_of_four_inside_the_frame(box, margin):
    mask = blob(80, 100, box)
    where = window(mask, margin)
    assert where is not None
    width, height = where.x1 - where.x0, where.y1 - where.y0
    assert width % MULTIPLE == 0 and height % MULTIPLE == 0
    assert 0 <= where.x0 and 0 <= where.y0 and where.x1 <= 100 and where.y1 <= 80
    x0, y0, x1, y1 = box
    assert where.x0 <= max(0, x0 - margin) and where.y0 <= max(0, y0 - margin)
    assert where.x1 >= min(100, x1 + margin) and where.y1 >= min(80, y1 + margin)
    assert mask[where.slices].sum() == mask.sum()


def test_no_window_for_an_empty_mask_or_a_frame_too_small():
    assert window(np.zeros((50, 50), bool), 12) is None
    assert window(np.ones((3, 40), bool), 12) is None


def test_the_refined_part_overlapping_the_model_mask_is_kept_and_a_neighbours_piece_dropped():
    coarse = blob(40, 60, (5, 5, 20, 20))
    refined = blob(40, 60, (4, 4, 21, 21)) | blob(40, 60, (40, 10, 50, 20))
    kept = keep_overlapping(refined, coarse)
    assert kept[10, 10] and not kept[15, 45]
    assert kept.sum() == 17 * 17


def ellipse(h: int, w: int, a: float, b: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((xx - w / 2 + 0.5) / a) ** 2 + ((yy - h / 2 + 0.5) / b) ** 2 <= 1


def test_tips_take_the_loose_pixels_at_the_two_ends_of_the_length_only():
    """An ellipse 30 px long and its looser outline a pixel or two wider all round: only what
    lies within the radius of the length's two ends is taken, so the length grows by up to a
    radius at each end and the sides stay as they were."""
    inside, loose = ellipse(40, 60, 15, 5), ellipse(40, 60, 17.2, 6.6)
    ends = length_ends(inside)
    assert ends is not None
    assert sorted(abs(float(end[0]) - 29.5) for end in ends) == [14.5, 14.5]  # on the long axis
    grown = with_tips(inside, loose, radius=2.0)
    added = np.argwhere(grown & ~inside)
    assert len(added) > 0 and (grown >= inside).all()
    near = [min(np.hypot(x - e[0], y - e[1]) for e in ends) for y, x in added]
    assert max(near) <= 2.0
    assert not (grown & ~inside)[:, 20:40].any()  # the sides, mid-length: nothing

    def span(m: np.ndarray) -> int:
        xs = np.nonzero(m.any(axis=0))[0]
        return int(xs[-1] - xs[0] + 1)

    assert span(inside) + 2 <= span(grown) <= span(inside) + 4
    assert (with_tips(inside, inside, 2.0) == inside).all()  # nothing looser: nothing taken
    assert (with_tips(np.zeros_like(inside), loose, 2.0) == 0).all()


def stills(images: int) -> list[tuple[np.ndarray, list[np.ndarray], list[float]]]:
    """Held-out stills: the frame, each whole stone's exact mask and its true length (px)."""
    from segflow.tools.synth import MM_PER_PX
    from segflow.tools.synth.dataset import render
    from segflow.tools.synth.scene import clipped_mask

    out = []
    for index in range(images):
        scene = render(1, "val", index)
        h, w = scene.image.shape[:2]
        whole = [s for s in scene.stones() if min(s.bbox()[:2]) >= 0 and s.bbox()[2] <= w and s.bbox()[3] <= h]
        out.append((scene.image, [clipped_mask(s, h, w) for s in whole],
                    [s.sprite.info["length_mm"] / MM_PER_PX for s in whole]))
    return out


def model_masks(model: object, images: int):
    """Per whole stone of the held-out stills: the frame, its exact mask, its true length (px) and
    the model's mask that overlaps it best (IoU >= 0.5; stones the model missed are skipped)."""
    from segflow.tools.mask_accuracy import predict_masks

    for image, truths, lengths in stills(images):
        masks = predict_masks(model, image, 320, 0.35)
        for true, length in zip(truths, lengths, strict=True):
            ious = [(true & m).sum() / (true | m).sum() for m in masks]
            if ious and max(ious) >= 0.5:
                yield image, true, length, masks[int(np.argmax(ious))]


def test_the_shipped_refiner_brings_the_models_masks_onto_the_stones():
    """On 20 held-out stills: IoU with the exact masks, area and length (max Feret, as the flagship measures it)."""
    from ultralytics import YOLO

    from segflow.vision.mask_geometry import measure
    from segflow.vision.outline import locate

    refiner = MaskRefiner(REFINER)
    rows = []
    for image, true, length, coarse in model_masks(YOLO(str(MODEL)), 20):
        result = refiner.refine(image, coarse)
        assert result.refused is None, result.refused
        row = []
        for mask in (coarse, result.mask):
            row += [(true & mask).sum() / (true | mask).sum(), mask.sum() / true.sum() - 1,
                    measure(locate(mask), skeleton=False).feret_max - length]
        rows.append(row)
    r = np.array(rows)
    assert len(r) >= 40
    model_iou, refined_iou = np.median(r[:, 0]), np.median(r[:, 3])
    assert refined_iou >= 0.95 and refined_iou > model_iou + 0.04, (model_iou, refined_iou)
    assert np.percentile(np.abs(r[:, 4]), 90) <= 0.06, sorted(r[:, 4])[-3:]  # area: 90 % within 6 %
    assert np.percentile(np.abs(r[:, 1]), 90) > 0.06  # ... where the model's own masks were not
    assert np.percentile(np.abs(r[:, 5]), 90) < np.percentile(np.abs(r[:, 2]), 90)  # lengths closer too
    assert abs(np.median(r[:, 5])) <= 0.5, np.median(r[:, 5])  # px: no bias beyond half a pixel


def test_tip_logit_lengthens_the_refined_masks_and_leaves_their_areas():
    """On 12 held-out stills, the model's real masks: with ``tip_logit: -1.5`` lengths read longer
    or the same, never past the truth in the median, while areas move by a fraction of a percent.
    (Stills have neither the video's motion blur nor its codec: here the refiner loses little at
    the ends, and the flagship's video is where the option earns its place.)"""
    from ultralytics import YOLO

    from segflow.vision.mask_geometry import measure
    from segflow.vision.outline import locate

    plain, tips = MaskRefiner(REFINER), MaskRefiner(REFINER, tip_logit=-1.5, tip_radius_px=2.0)
    rows = []
    for image, _, length, coarse in model_masks(YOLO(str(MODEL)), 12):
        a, b = plain.refine(image, coarse).mask, tips.refine(image, coarse).mask
        assert (b >= a).all()  # tips only add
        before, after = (measure(locate(m), skeleton=False).feret_max for m in (a, b))
        rows.append((after - before, after - length, b.sum() / a.sum() - 1))
    r = np.array(rows)
    assert len(r) >= 25
    assert r[:, 0].min() >= -0.05 and (r[:, 0] > 0.05).mean() >= 0.3, sorted(r[:, 0])
    assert abs(np.median(r[:, 1])) <= 0.5, np.median(r[:, 1])  # px, against the truth
    assert np.median(r[:, 2]) < 0.01 and r[:, 2].max() < 0.03, r[:, 2].max()


def context(tmp_path: Path) -> RunContext:
    return RunContext("refine-test", base_dir=tmp_path)


def node(tmp_path: Path, **params: object) -> RefineMasks:
    refine = RefineMasks("refine", RefineMasks.Params(model=str(REFINER), **params), context(tmp_path))
    refine.setup()
    return refine


def inputs(image: np.ndarray, masks: np.ndarray | None, count: int) -> Inputs:
    boxes = np.tile(np.array([[10.0, 10.0, 30.0, 30.0]]), (count, 1))
    detections = sv.Detections(xyxy=boxes, mask=masks, class_id=np.zeros(count, int))
    return Inputs({"detections": detections, "image": Frame(image, "test", 0, 0.0)}, PacketInfo("test", 0, 0.0, "t"))


def test_the_node_says_which_masks_it_refined_and_why_not(tmp_path):
    image, truths, _ = stills(1)[0]
    from ultralytics import YOLO

    from segflow.tools.mask_accuracy import predict_masks

    masks = predict_masks(YOLO(str(MODEL)), image, 320, 0.35)
    assert len(masks) >= 1
    # a mask on bare belt: the refiner finds no stone there and the model's mask is kept, with the reason
    h, w = image.shape[:2]
    far = np.zeros((h, w), bool)
    free = ~np.any(masks, axis=0) & ~np.any(np.array(truths), axis=0) if truths else ~np.any(masks, axis=0)
    ys, xs = np.nonzero(free[40:-40, 40:-40])
    cy, cx = ys[len(ys) // 2] + 40, xs[len(xs) // 2] + 40
    far[cy - 6 : cy + 6, cx - 6 : cx + 6] = True
    out = node(tmp_path).process(inputs(image, np.concatenate([masks, far[None]]), len(masks) + 1))["detections"]
    assert out.data["mask_refined"][:-1].all() and out.data["refine_fallback"][0] == ""
    if not out.data["mask_refined"][-1]:
        assert "overlaps the model's" in out.data["refine_fallback"][-1]
        assert (out.mask[-1] == far).all()
    assert not np.array_equal(out.mask[0], masks[0])


def test_both_runtimes_draw_the_same_masks(tmp_path):
    """onnxruntime (auto, where installed) and OpenCV's DNN give the same refined masks on real model masks."""
    from ultralytics import YOLO

    from segflow.tools.mask_accuracy import predict_masks

    assert MaskRefiner(REFINER).runtime == "onnxruntime"  # installed with the yolo extra, as here
    image = stills(2)[1][0]
    masks = predict_masks(YOLO(str(MODEL)), image, 320, 0.35)
    assert len(masks) >= 1
    outs = {runtime: node(tmp_path, runtime=runtime).process(inputs(image, masks, len(masks)))["detections"]
            for runtime in ("onnxruntime", "opencv")}
    assert outs["opencv"].data["mask_refined"].all()
    for a, b in zip(outs["onnxruntime"].mask, outs["opencv"].mask, strict=True):
        assert np.count_nonzero(a ^ b) <= 2  # logits agree to float rounding: at most a pixel on zero flips
    with pytest.raises(ValueError, match="runtime"):
        MaskRefiner(REFINER, runtime="tensorrt")


def test_runtime_onnxruntime_where_it_is_not_installed_is_named(tmp_path, monkeypatch):
    import segflow.nodes.models.refine as refine_module

    monkeypatch.setattr(refine_module, "onnxruntime_installed", lambda: False)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    problems = RefineMasks.check_params(RefineMasks.Params(model=str(REFINER), runtime="onnxruntime"),
                                        context(tmp_path))
    assert [p.field for p in problems] == ["runtime"] and "runtime: opencv" in problems[0].hint
    with pytest.raises(NodeError, match="onnxruntime is not installed"):
        node(tmp_path, runtime="onnxruntime")
    assert node(tmp_path, runtime="opencv").refiner.runtime == "opencv"  # OpenCV needs nothing more


def test_detections_without_masks_pass_through_marked(tmp_path):
    image = np.zeros((64, 64, 3), np.uint8)
    out = node(tmp_path).process(inputs(image, None, 2))["detections"]
    assert out.mask is None and list(out.data["refine_fallback"]) == ["no mask", "no mask"]


def test_a_frame_that_is_not_the_masks_is_a_clear_error(tmp_path):
    masks = np.zeros((1, 64, 64), bool)
    masks[0, 10:30, 10:30] = True
    with pytest.raises(NodeError, match="not the 8-bit frame of these masks") as err:
        node(tmp_path).process(inputs(np.zeros((32, 32, 3), np.uint8), masks, 1))
    assert "image: <source>.image" in (err.value.hint or "")


def test_validation_names_a_missing_wrong_or_swapped_refiner(tmp_path):
    ctx = context(tmp_path)
    missing = RefineMasks.check_params(RefineMasks.Params(model="nowhere.onnx"), ctx)
    assert missing and missing[0].field == "model" and "train --task refine" in missing[0].hint
    (tmp_path / "refiner.pt").write_bytes(b"PK\x03\x04")
    wrong = RefineMasks.check_params(RefineMasks.Params(model="refiner.pt"), ctx)
    assert wrong and "not an .onnx file" in wrong[0].message
    swapped = RefineMasks.check_params(RefineMasks.Params(model=str(REFINER), sha256="0" * 64), ctx)
    assert [p.field for p in swapped] == ["sha256"]
    with pytest.raises(NodeError, match="sha256"):
        node(tmp_path, sha256="0" * 64)
