"""sink.images: whole frames and mask-cut crops (PNG alpha) of a real photograph, gated."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import supervision as sv
from sinkkit import feed, make_node, rendered_detections

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sinks.images import ImagesSink

COINS = cv2.cvtColor(cv2.resize(skimage.data.coins(), (80, 60)), cv2.COLOR_GRAY2BGR)


def test_frames_only_when_a_stone_is_present(tmp_path: Path) -> None:
    node = make_node(
        ImagesSink,
        tmp_path,
        folder="img",
        only_when="class == stone",
        format="png",
        name="{source}/{frame:04d}",
    )
    dets = rendered_detections()
    beans = dets[dets.data["class_name"] == "bean"]
    for i in range(4):
        feed(node, i, dets if i in (1, 3) else beans, image=COINS)
    node.close()
    files = sorted(p.relative_to(tmp_path / "img").as_posix() for p in (tmp_path / "img").rglob("*.png"))
    assert files == ["cam/0001.png", "cam/0003.png"]
    assert np.array_equal(cv2.imread(str(tmp_path / "img/cam/0001.png")), COINS)  # PNG is lossless


def test_crops_carry_the_mask_as_alpha(tmp_path: Path) -> None:
    node = make_node(ImagesSink, tmp_path, folder="img", save="crops", padding_px=2, name="{frame}")
    dets = rendered_detections()
    feed(node, 7, dets, image=COINS)
    node.close()
    crops = sorted((tmp_path / "img").glob("*.png"))
    assert [p.name for p in crops] == ["7_000_stone.png", "7_001_bean.png", "7_002_stone.png"]
    bean = cv2.imread(str(crops[1]), cv2.IMREAD_UNCHANGED)
    assert bean.shape == (9 + 1 + 9 + 2 * 2, 9 + 1 + 9 + 2 * 2, 4)  # radius 9, padding 2
    x1, y1, x2, y2 = dets.xyxy[1].astype(int)
    expected_alpha = dets.mask[1][y1 - 2 : y2 + 3, x1 - 2 : x2 + 3]
    assert np.array_equal(bean[..., 3] > 0, expected_alpha)
    assert np.array_equal(bean[..., :3], COINS[y1 - 2 : y2 + 3, x1 - 2 : x2 + 3])


def test_both_with_annotation_and_no_leftover_temp_files(tmp_path: Path) -> None:
    node = make_node(ImagesSink, tmp_path, folder="img", save="both", annotate=True, every_n_frames=2)
    for i in range(4):
        feed(node, i, rendered_detections(), image=COINS)
    feed(node, 4, sv.Detections.empty(), image=COINS)
    node.close()
    jpgs = sorted((tmp_path / "img/cam").glob("*.jpg"))
    pngs = sorted((tmp_path / "img/cam").glob("*.png"))
    assert len(jpgs) == 3 and len(pngs) == 6  # frames 0, 2, 4; crops of 0 and 2
    assert not list((tmp_path / "img").rglob(".part-*"))
    frame = cv2.imread(str(jpgs[0]))
    assert np.abs(frame.astype(int) - COINS.astype(int)).mean() > 5  # drawn on


def test_unwritable_folder(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("x")
    problems = ImagesSink.check_params(ImagesSink.Params(folder="blocker/img"), RunContext(base_dir=tmp_path))
    assert problems and "is a file" in problems[0].message
    node = make_node(ImagesSink, tmp_path, folder="blocker/img")
    with pytest.raises(NodeError, match=r"sink.images 'sink': cannot save images of frame 0"):
        feed(node, 0, image=COINS)


@pytest.mark.parametrize(("name", "ok"), [("{source}/{frame:06d}", True), ("{camera}", False), ("{frame", False)])
def test_name_template(name: str, ok: bool) -> None:
    if ok:
        ImagesSink.Params(name=name)
    else:
        with pytest.raises(ValueError, match="name"):
            ImagesSink.Params(name=name)
