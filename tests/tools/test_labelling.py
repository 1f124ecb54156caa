"""The labelling loop's plain logic: dataset on disk, masks from boxes and clicks, the frame's edits.

Ground truth comes from the JSON the sample generators wrote (cherries are
discs of known centre and diameter), never from the code under test.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from segflow.engine.node import RunContext
from segflow.tools.labelling.assist import Assistant, Prompt, grabcut_prompt
from segflow.tools.labelling.frame import FrameLabels
from segflow.tools.labelling.prelabel import PreLabel
from segflow.vision.outline_fill import is_trace
from segflow.vision.yolo_dataset import Label, YoloSegDataset, mask_polygon

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "assets" / "samples"


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def disc(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def shapes(h: int = 120, w: int = 160) -> list[np.ndarray]:
    a = np.zeros((h, w), np.uint8)
    cv2.rectangle(a, (10, 12), (50, 40), 1, -1)
    b = np.zeros((h, w), np.uint8)
    cv2.ellipse(b, (100, 70), (30, 18), 25, 0, 360, 1, -1)
    c = disc(h, w, 40, 90, 15)
    return [a.astype(bool), b.astype(bool), c]


# -- the dataset ---------------------------------------------------------------------------------

def test_saved_polygons_read_back_as_the_masks(tmp_path: Path):
    ds = YoloSegDataset(tmp_path / "ds")
    pixels = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    masks = shapes()
    labels = [Label(ds.class_id(n), mask_polygon(m)) for n, m in zip(["stone", "bean", "stone"], masks, strict=True)]
    split = ds.save_frame("clip_000003", pixels, labels)
    text = (tmp_path / "ds" / "labels" / split / "clip_000003.txt").read_text().splitlines()
    assert [line.split()[0] for line in text] == ["0", "1", "0"]
    for line, mask in zip(text, masks, strict=True):
        values = np.array(line.split()[1:], float).reshape(-1, 2)
        assert values.min() >= 0 and values.max() <= 1  # normalised
        poly = np.round(values * [160, 120]).astype(np.int32)
        filled = np.zeros((120, 160), np.uint8)
        cv2.fillPoly(filled, [poly], 1)
        assert iou(filled.astype(bool), mask) > 0.93
    data = yaml.safe_load((tmp_path / "ds" / "data.yaml").read_text())
    assert data["names"] == {0: "stone", 1: "bean"} and data["train"] == "images/train"
    image = cv2.imread(str(tmp_path / "ds" / "images" / split / "clip_000003.png"))
    assert np.array_equal(image, pixels)  # PNG: the frame as labelled


def test_resaving_keeps_the_split_and_other_frames(tmp_path: Path):
    ds = YoloSegDataset(tmp_path)
    pixels = np.zeros((120, 160, 3), np.uint8)
    masks = shapes()
    splits = {f"f{i}": ds.save_frame(f"f{i}", pixels, [Label(0, mask_polygon(masks[i % 3]))]) for i in range(12)}
    assert "val" in splits.values() and "train" in splits.values()
    assert splits["f1"] == "val"  # the second frame ever saved: training needs a val split
    before = {k: (tmp_path / "labels" / s / f"{k}.txt").read_text() for k, s in splits.items()}
    assert ds.save_frame("f4", pixels, []) == splits["f4"]  # all labels deleted: still the same split
    assert (tmp_path / "labels" / splits["f4"] / "f4.txt").read_text() == ""
    for k, s in splits.items():
        if k != "f4":
            assert (tmp_path / "labels" / s / f"{k}.txt").read_text() == before[k]
    assert sorted(ds.keys()) == sorted(splits)
    assert not list(tmp_path.rglob(".part-*"))


def test_class_ids_are_only_appended(tmp_path: Path):
    ds = YoloSegDataset(tmp_path)
    assert [ds.class_id(n) for n in ("stone", "bean", "stone", "twig: dry")] == [0, 1, 0, 2]
    assert YoloSegDataset(tmp_path).names() == ["stone", "bean", "twig: dry"]


# -- masks from prompts ------------------------------------------------------------------------------

def _isolated_cherries(limit: int = 5):
    info = json.loads((SAMPLES / "cherries.json").read_text())
    px = info["mm_per_px"]
    found = [(c["center_px"], c["diameter_mm"] / px / 2) for c in info["cherries"]]
    isolated = [(c, r) for c, r in found
                if all(np.hypot(c[0] - o[0], c[1] - o[1]) > r + ro + 12 for o, ro in found if o is not c)]
    return isolated[:limit]


def test_grabcut_from_a_box_matches_the_ground_truth_disc():
    image = cv2.imread(str(SAMPLES / "cherries.png"))
    h, w = image.shape[:2]
    cherries = _isolated_cherries()
    assert len(cherries) >= 3
    scores = []
    for (cx, cy), r in cherries:
        truth = disc(h, w, cx, cy, r)
        box = (cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4)  # a box drawn a little loose, as people do
        scores.append(iou(grabcut_prompt(image, Prompt(box=box)), truth))
    print(f"GrabCut box->mask IoU on {len(scores)} cherries: mean {np.mean(scores):.3f}, min {min(scores):.3f}")
    assert min(scores) > 0.8


def test_a_click_alone_gives_the_object_under_it():
    image = cv2.imread(str(SAMPLES / "cherries.png"))
    (cx, cy), r = _isolated_cherries()[0]
    assistant = Assistant(RunContext(base_dir=ROOT))  # no checkpoint: GrabCut
    result = assistant.segment(image, Prompt(points=[(cx, cy, 1)]))
    assert result.method == "GrabCut"
    assert result.mask[int(cy), int(cx)]
    assert iou(result.mask, disc(*image.shape[:2], cx, cy, r)) > 0.6


def test_a_missing_checkpoint_falls_back_to_grabcut_and_says_why(tmp_path: Path):
    image = cv2.imread(str(SAMPLES / "cherries.png"))
    (cx, cy), r = _isolated_cherries()[0]
    assistant = Assistant(RunContext(base_dir=tmp_path), checkpoint=str(tmp_path / "nowhere.pt"))
    result = assistant.segment(image, Prompt(box=(cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4)))
    assert result.method == "GrabCut" and result.mask.any()
    assert "nowhere.pt" in assistant.problem


# -- one frame's edits ------------------------------------------------------------------------------------

def test_frame_edits_save_and_reopen(tmp_path: Path):
    image = cv2.imread(str(SAMPLES / "cherries.png"))
    (cx, cy), r = _isolated_cherries()[0]
    ds = YoloSegDataset(tmp_path)
    frame = FrameLabels.open("cherries", image, ds)
    assert frame.items == [] and frame.saved_split is None
    h, w = image.shape[:2]
    frame.add_prelabels([PreLabel(m, "cherry", 0.4, "detect") for m in shapes(h, w)])
    assistant = Assistant(RunContext(base_dir=tmp_path))
    box = [cx - r - 4, cy - r - 4, cx + r + 4, cy + r + 4]
    assert frame.apply({"seq": 1, "action": "prompt", "box": box, "points": []}, assistant, "cherry")
    assert not frame.apply({"seq": 1, "action": "prompt", "box": box, "points": []}, assistant, "cherry")  # once
    assert frame.candidate is not None and "GrabCut" in frame.message
    frame.accept("ripe")
    wrong = frame.items[0].id
    frame.apply({"seq": 2, "action": "select", "id": wrong}, assistant, "cherry")
    assert frame.selected == wrong
    frame.apply({"seq": 3, "action": "delete", "id": wrong}, assistant, "cherry")
    assert len(frame.items) == 3 and frame.selected is None
    frame.save(ds)
    again = FrameLabels.open("cherries", image, ds)
    assert [i.class_name for i in again.items] == ["cherry", "cherry", "ripe"]
    for old, new in zip(frame.items, again.items, strict=True):
        assert iou(old.mask, new.mask) > 0.9
    # the two pre-labels (one region each, no holes) come back pixel for pixel: saved as their pixels'
    # outlines, which is also what training fills them back to (tests/tools/test_exact_targets.py)
    for old, new in zip(frame.items[:2], again.items[:2], strict=True):
        assert (old.mask ^ new.mask).sum() == 0
    text = (tmp_path / "labels" / frame.saved_split / "cherries.txt").read_text().splitlines()
    assert not any(is_trace(np.array(line.split()[1:], float).reshape(-1, 2) * [w, h]) for line in text)
    payload = again.payload("data:,")
    assert payload["width"] == w and len(payload["masks"]) == 3
    assert all(len(m["polygons"][0]) >= 3 for m in payload["masks"])


def test_a_resent_event_is_applied_once_and_only_to_its_frame(tmp_path: Path):
    """The canvas posts its last event again (with a counter) until a render echoes the event's seq."""
    image = np.full((60, 60, 3), 230, np.uint8)
    image[20:40, 20:40] = 20
    frame = FrameLabels("frame-a", image)
    assistant = Assistant(RunContext(base_dir=tmp_path))
    prompt = {"seq": 5.25, "frame": "frame-a", "action": "prompt", "box": [15, 15, 45, 45], "points": []}
    assert frame.payload("data:,")["seq"] is None  # nothing applied yet: a pending event is sent again
    assert frame.apply({**prompt, "resends": 1}, assistant, "x")  # the first post was lost: the resend counts
    first = frame.candidate
    assert first is not None and frame.payload("data:,")["seq"] == 5.25  # the echo the canvas waits for
    assert not frame.apply({**prompt, "resends": 2}, assistant, "x")  # a later resend is not applied again
    assert frame.candidate is first
    stepped = FrameLabels("frame-b", image)  # drawn on frame-a, arriving after a step to frame-b
    assert not stepped.apply({**prompt, "seq": 6.5}, assistant, "x")
    assert stepped.candidate is None and stepped.last_seq is None
    assert stepped.payload("data:,")["frame"] == "frame-b"


@pytest.mark.parametrize("event", [None, {"seq": 9}, {"seq": 10, "action": "nonsense"}])
def test_odd_events_change_nothing(tmp_path: Path, event):
    frame = FrameLabels("k", np.zeros((20, 20, 3), np.uint8))
    assert not frame.apply(event, Assistant(RunContext(base_dir=tmp_path)), "x")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_with_a_checkpoint_the_mask_comes_from_sam2(tmp_path: Path):
    """SAM 2.1 tiny with random weights (Meta's are the user's download): the loading and prompting path."""
    import importlib.util
    import sys

    pytest.importorskip("sam2")
    spec = importlib.util.spec_from_file_location("conftest_models", ROOT / "tests/nodes/conftest_models.py")
    models = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("conftest_models", models)
    spec.loader.exec_module(models)
    checkpoint = models.random_sam2_checkpoint("configs/sam2.1/sam2.1_hiera_t.yaml", tmp_path / "sam2_random.pt")
    image = cv2.imread(str(SAMPLES / "cherries.png"))
    assistant = Assistant(RunContext(base_dir=tmp_path), checkpoint=str(checkpoint),
                          sam_params={"image_size": 256, "device": "cpu"})
    result = assistant.segment(image, Prompt(box=(100, 100, 160, 150), points=[(130, 125, 1)]))
    assert assistant.problem == ""
    assert result.method == "SAM 2 (sam2_random.pt)" and result.score is not None
    assert result.mask.shape == image.shape[:2] and result.mask.dtype == bool
    assistant.close()
