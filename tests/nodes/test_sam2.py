"""segment.sam2: the real build_sam2 path with a random-weight checkpoint written here.

The checkpoint has Meta's layout ({"model": state_dict}) for the tiny SAM 2.1
config, so loading is the same strict load as with official weights; masks
mean nothing, but shapes, batching, field keeping and errors are real. The
embedding runs at 256 px (the image_size param) to keep CPU time short.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import sam2  # noqa: E402,F401  (`make setup` installs it: SAM2_BUILD_CUDA=0 pip install --no-build-isolation sam2)
import supervision as sv
import torch
from conftest_models import bus_image, random_sam2_checkpoint
from skimage import data

from segflow.engine import Frame, Inputs, NodeError, PacketInfo
from segflow.engine.node import RunContext
from segflow.nodes.models.sam2 import Sam2Segment, pick_masks

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
SMALL = {"image_size": 256, "device": "cpu"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("sam2")
    yield random_sam2_checkpoint(CONFIG, folder / "sam2.1_random.pt")
    shutil.rmtree(folder, ignore_errors=True)  # 150 MB; the suite's disk: see tmp_path_retention_policy


def make_node(checkpoint: Path, **params) -> Sam2Segment:
    ctx = RunContext(workflow_name="t", base_dir=checkpoint.parent)
    node = Sam2Segment("sam", Sam2Segment.Params(checkpoint=checkpoint.name, **{**SMALL, **params}), ctx)
    node.setup()
    return node


@pytest.fixture(scope="module")
def node(checkpoint) -> Sam2Segment:
    return make_node(checkpoint)


def detections(boxes: list[list[float]], first_id: int = 0) -> sv.Detections:
    n = len(boxes)
    if n == 0:
        return sv.Detections.empty()
    return sv.Detections(
        xyxy=np.array(boxes, dtype=np.float32),
        confidence=np.linspace(0.9, 0.5, n).astype(np.float32),
        class_id=np.arange(first_id, first_id + n),
        tracker_id=np.arange(100 + first_id, 100 + first_id + n),
        data={
            "class_name": np.array([f"thing{i}" for i in range(n)]),
            "length_mm": np.arange(n, dtype=float) + 0.5,
        },
    )


@pytest.fixture(scope="module")
def packets() -> list[Inputs]:
    bus = bus_image(270)  # 270x360
    coffee = np.ascontiguousarray(data.coffee()[::2, ::2, ::-1])  # 200x300 BGR
    cases = [
        (bus, [[10, 120, 120, 330], [100, 80, 260, 250], [0, 0, 269, 359]]),  # 3 boxes
        (coffee, [[60, 20, 240, 180]]),  # one box: sam2 squeezes its axis away
        (coffee[:, ::-1].copy(), []),  # nothing detected: must pass through
        (bus[:, ::-1].copy(), [[30, 30, 200, 200], [150, 150, 260, 350]]),
    ]
    return [
        Inputs(
            {"image": Frame(img, "cam", i, i / 30), "detections": detections(boxes, 10 * i)},
            PacketInfo("cam", i, i / 30),
        )
        for i, (img, boxes) in enumerate(cases)
    ]


def test_masks_replace_and_fields_stay(node, packets):
    outputs = node.process_batch(packets)
    assert len(outputs) == len(packets)
    for item, out in zip(packets, outputs, strict=True):
        before, after = item["detections"], out["detections"]
        h, w = item["image"].pixels.shape[:2]
        assert isinstance(after, sv.Detections) and len(after) == len(before)
        if len(before) == 0:
            assert after is before  # passed through untouched
            continue
        np.testing.assert_array_equal(after.xyxy, before.xyxy)
        np.testing.assert_array_equal(after.class_id, before.class_id)
        np.testing.assert_array_equal(after.tracker_id, before.tracker_id)
        np.testing.assert_array_equal(after.confidence, before.confidence)
        for key in ("class_name", "length_mm"):
            np.testing.assert_array_equal(after.data[key], before.data[key])
        assert after.mask.shape == (len(before), h, w) and after.mask.dtype == bool
        assert after.data["sam_score"].shape == (len(before),)
        assert before.mask is None  # the input was not modified in place


def test_batched_equals_one_at_a_time_and_embeds_once(node, packets):
    calls = []
    embed = node.predictor.set_image_batch
    node.predictor.set_image_batch = lambda imgs: calls.append(len(imgs)) or embed(imgs)
    try:
        batched = node.process_batch(packets)
        assert calls == [3], "one embedding call for the three frames with detections"
        single = [node.process(item) for item in packets]
        assert calls == [3, 1, 1, 1], "no model call for the frame without detections"
    finally:
        node.predictor.set_image_batch = embed
    for b, s in zip(batched, single, strict=True):
        b, s = b["detections"], s["detections"]
        if len(b):
            assert np.mean(b.mask != s.mask) < 1e-4
            np.testing.assert_allclose(b.data["sam_score"], s.data["sam_score"], atol=1e-4)


def test_batch_of_only_empty_frames_skips_the_model(node, packets):
    empty = packets[2]
    node_calls = []
    embed = node.predictor.set_image_batch
    node.predictor.set_image_batch = lambda imgs: node_calls.append(imgs) or embed(imgs)
    try:
        out = node.process_batch([empty, empty])
    finally:
        node.predictor.set_image_batch = embed
    assert node_calls == [] and [len(o["detections"]) for o in out] == [0, 0]


def test_higher_threshold_gives_smaller_masks(node, checkpoint, packets):
    tight = make_node(checkpoint, mask_threshold=4.0)
    loose = node.process(packets[0])["detections"].mask
    strict = tight.process(packets[0])["detections"].mask
    assert strict.sum() < loose.sum()
    assert not np.any(strict & ~loose), "a tighter threshold only removes pixels"


def test_multimask_keeps_one_mask_per_box(checkpoint, packets):
    node = make_node(checkpoint, multimask=True)
    out = node.process(packets[0])["detections"]
    assert out.mask.shape == (3, 360, 270) and out.mask.dtype == bool


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    bad = tmp_path / "other.pt"
    torch.save({"model": {"not_a_sam_weight": torch.zeros(1)}}, bad)
    with pytest.raises(NodeError, match="node 'sam': cannot build SAM 2 from .*sam2.1_hiera_t.yaml") as info:
        make_node(bad)
    assert "must match the config" in info.value.hint


@pytest.mark.parametrize(
    ("params", "field", "text", "hint"),
    [
        ({"checkpoint": "sam2.1_random.pt"}, None, "", ""),
        ({"checkpoint": "sam2.1_random.pt", "config": "configs/sam2/sam2_hiera_s.yaml"}, None, "", ""),
        ({"checkpoint": "other.pt"}, "checkpoint", "other.pt does not exist", "facebookresearch/sam2"),
        ({"checkpoint": "models/sam2.1_hiera_tiny.pt"}, "checkpoint", "sam2.1_hiera_tiny.pt does not exist",
         "fetch it: segflow models fetch sam2.1-tiny --dir "),
        ({"checkpoint": "sam2.1-tiny"}, "checkpoint", "sam2.1-tiny is not fetched yet",
         "fetch it: segflow models fetch sam2.1-tiny"),
        ({"checkpoint": "sam2.1_random.pt", "config": "configs/sam2.1/hiera_tiny.yaml"}, "config", "no config",
         "configs/sam2.1/sam2.1_hiera_t.yaml"),
    ],
)
def test_check_params(checkpoint, params, field, text, hint, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFLOW_MODELS", str(tmp_path / "empty"))
    found = Sam2Segment.check_params(Sam2Segment.Params(**params), RunContext(base_dir=checkpoint.parent))
    problems = [p for p in found if not p.warning]  # an unpinned checkpoint is a warning (test_unpinned_models.py)
    if field is None:
        assert problems == []
        return
    assert [p.field for p in problems] == [field] and text in problems[0].message
    assert hint in problems[0].hint
    if params["checkpoint"] == "sam2.1-tiny":
        assert problems[0].hint == "fetch it: segflow models fetch sam2.1-tiny"  # the model folder is the default


def test_a_known_checkpoint_name_means_the_file_in_the_model_folder(checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFLOW_MODELS", str(tmp_path))
    (tmp_path / "sam2.1_hiera_tiny.pt").symlink_to(checkpoint)
    node = Sam2Segment("sam", Sam2Segment.Params(checkpoint="sam2.1-tiny", **SMALL), RunContext(base_dir=Path("/")))
    assert [p.message for p in Sam2Segment.check_params(node.params, node.context)] == [
        "sam2.1_hiera_tiny.pt is a pickle loaded with no `sha256` pin: loading it runs any code it holds, and a "
        "swapped file would load unnoticed"]  # a warning: it still runs
    node.setup()  # loads through the real build_sam2 from the model folder
    node.close()


def test_a_known_checkpoint_with_another_models_config_is_caught(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFLOW_MODELS", str(tmp_path))
    (tmp_path / "sam2.1_hiera_large.pt").write_bytes(b"PK\x03\x04 shaped as torch.save writes")
    problems = Sam2Segment.check_params(Sam2Segment.Params(checkpoint="sam2.1-large"), RunContext(base_dir=tmp_path))
    assert [(p.field, p.hint) for p in problems if not p.warning] == [
        ("config", "config: configs/sam2.1/sam2.1_hiera_l.yaml")]


@pytest.mark.parametrize("params", [{"image_size": 300}, {"device": "gpu"}, {"mask_threshold": 99}])
def test_bad_params(params):
    with pytest.raises(ValueError):
        Sam2Segment.Params(checkpoint="x.pt", **params)


@pytest.mark.parametrize(
    ("shape", "scores", "count", "best"),
    [
        ((2, 1, 4, 5), [[0.3], [0.8]], 2, [0, 0]),
        ((1, 4, 5), [0.7], 1, [0]),  # one box, one mask: axes squeezed by sam2
        ((3, 4, 5), [0.1, 0.9, 0.4], 1, [1]),  # one box, three candidates
        ((2, 3, 4, 5), [[0.1, 0.2, 0.9], [0.8, 0.1, 0.0]], 2, [2, 0]),
    ],
)
def test_pick_masks(shape, scores, count, best):
    masks = np.zeros(shape, np.float32)
    flat = masks.reshape(count, -1, *shape[-2:])
    for i, b in enumerate(best):
        flat[i, b, i, :] = 1.0  # mark the winning candidate of box i on row i
    chosen, picked = pick_masks(masks, np.array(scores, np.float32), count)
    assert chosen.shape == (count, 4, 5) and chosen.dtype == bool
    for i in range(count):
        assert chosen[i, i].all() and chosen[i].sum() == 5
    np.testing.assert_allclose(picked, np.max(np.reshape(scores, (count, -1)), axis=1))


def test_a_yolo_file_given_as_checkpoint_is_named_for_what_it_is():
    shipped = Path(__file__).resolve().parents[2] / "assets" / "models" / "coffee-stones-seg.pt"
    with pytest.raises(NodeError) as err:
        make_node(shipped)
    assert "not a SAM 2 checkpoint (it looks like an ultralytics/YOLO model)" in str(err.value)
    assert "weights_only" not in str(err.value)


def test_sessions_that_share_models_share_the_weights_not_the_predictor(checkpoint):
    from segflow.vision.shared_models import SHARED

    ctx = RunContext(workflow_name="t", base_dir=checkpoint.parent, share_models=True)
    params = Sam2Segment.Params(checkpoint=checkpoint.name, **SMALL)
    a, b = Sam2Segment("a", params, ctx), Sam2Segment("b", params, ctx)
    a.setup()
    b.setup()
    try:
        assert a.predictor.model is b.predictor.model and a.predictor is not b.predictor
    finally:
        a.close()
        b.close()
    assert len(SHARED) == 0
