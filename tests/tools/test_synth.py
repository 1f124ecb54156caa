"""The generators are deterministic and their ground truth matches the rendered pixels."""

import cv2
import numpy as np
import pytest
from skimage.measure import regionprops

from segflow.tools.exact_targets import exact_polygon_mask
from segflow.tools.synth import MM_PER_PX
from segflow.tools.synth.dataset import MIN_VISIBLE, label_lines, render, video_seed, write_dataset
from segflow.tools.synth.scene import clipped_mask
from segflow.tools.synth.sprites import STONE_COLOURS, stone
from segflow.tools.synth.video import render_conveyor


def _label_masks(lines, h, w):
    """Each label filled as ``segflow train`` fills it."""
    return [exact_polygon_mask((h, w), [np.array(line.split()[1:], float).reshape(-1, 2) * [w, h]]).astype(bool)
            for line in lines]


def test_same_seed_same_bytes_and_labels():
    a, b = render(0, "train", 3), render(0, "train", 3)
    assert a.image.tobytes() == b.image.tobytes()
    assert label_lines(a) == label_lines(b)


@pytest.mark.parametrize("other", [(1, "train", 3), (0, "val", 3), (0, "train", 4)])
def test_other_seed_split_or_index_differs(other):
    assert render(0, "train", 3).image.tobytes() != render(*other).image.tobytes()


@pytest.mark.parametrize("seed,index", [(0, 0), (0, 1), (2, 5), (9, 7)])
def test_labels_match_rendered_masks(seed, index):
    scene = render(seed, "train", index)
    h, w = scene.image.shape[:2]
    lines = label_lines(scene)
    stones = scene.stones()
    assert len(lines) == len(stones)
    for line, mask, placed in zip(lines, _label_masks(lines, h, w), stones, strict=True):
        truth = clipped_mask(placed, h, w)
        iou = (mask & truth).sum() / (mask | truth).sum()
        assert iou > 0.99, iou
        # Shoelace area of the label polygon (the pixels' outer edges, traced 1/8 px inside)
        # is the pixel count less about an eighth of the perimeter.
        poly = np.array(line.split()[1:], float).reshape(-1, 2) * [w, h]
        x, y = poly[:, 0], poly[:, 1]
        area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        perimeter = cv2.arcLength(poly.astype(np.float32), True)
        assert truth.sum() - perimeter / 6 - 1 <= area <= truth.sum()


def test_stone_pixels_in_image_are_stone_coloured_not_bean_coloured():
    scene = render(0, "train", 1)
    hsv = cv2.cvtColor(scene.image, cv2.COLOR_BGR2HSV)
    h, w = scene.image.shape[:2]
    for p in scene.stones():
        inner = cv2.erode(clipped_mask(p, h, w).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        assert np.median(hsv[..., 1][inner]) < 90  # grey/beige stones; beans are > 120
    beans = [p for p in scene.objects if p.sprite.kind == "bean"]
    sat = [np.median(hsv[..., 1][clipped_mask(p, h, w)]) for p in beans]
    assert np.median(sat) > 120


@pytest.mark.parametrize("length_mm", [4.0, 9.0, 16.0])
def test_stone_length_truth_matches_an_independent_feret_measurement(length_mm):
    spr = stone(np.random.default_rng(1), MM_PER_PX, length_mm=length_mm)
    feret = regionprops(spr.mask.astype(np.uint8))[0].feret_diameter_max * MM_PER_PX
    assert spr.info["length_mm"] == pytest.approx(length_mm, abs=2 * MM_PER_PX)
    assert feret == pytest.approx(spr.info["length_mm"], abs=2 * MM_PER_PX)


def test_write_dataset_layout(tmp_path):
    data = write_dataset(tmp_path / "ds", n_train=2, n_val=1, seed=4)
    import yaml

    cfg = yaml.safe_load(data.read_text())
    assert cfg["names"] == {0: "stone"} and cfg["train"] == "images/train"
    assert sorted(p.name for p in (tmp_path / "ds/images/val").iterdir()) == ["val_00000.png"]
    text = (tmp_path / "ds/labels/train/train_00001.txt").read_text()
    assert len(text.splitlines()) == len(render(4, "train", 1).stones())
    img = cv2.imread(str(tmp_path / "ds/images/train/train_00001.png"))
    assert img.tobytes() == render(4, "train", 1).image.tobytes()


def test_write_dataset_adds_video_frames_through_h264_with_their_stones_labelled(tmp_path):
    data = write_dataset(tmp_path / "ds", n_train=1, n_val=1, seed=4, videos=1, val_videos=1, every=50)
    assert "conveyor videos" in data.read_text()
    seeds = {split: video_seed(4, split, 0) for split in ("train", "val")}
    assert len(set(seeds.values())) == 2 and 7 not in seeds.values()  # never the video sample's seed
    for split, seed in seeds.items():
        names = sorted(p.name for p in (tmp_path / "ds/images" / split).iterdir())
        assert names == [f"{split}_00000.png"] + [f"{split}_video000_{k:04d}.png" for k in (0, 50, 100)]
        video = render_conveyor(seed=seed)
        labelled = 0
        for k in (0, 50, 100):
            image = cv2.imread(str(tmp_path / f"ds/images/{split}/{split}_video000_{k:04d}.png"))
            rendered = video.frames[k]
            # The frame went through the encoder: not the rendered bytes, but close to them.
            assert image.tobytes() != rendered.tobytes()
            assert cv2.PSNR(image, rendered) > 30
            h, w = image.shape[:2]
            lines = (tmp_path / f"ds/labels/{split}/{split}_video000_{k:04d}.txt").read_text().splitlines()
            wanted = [m for i in range(len(video.stones)) if (m := video.stone_mask(i, k)).sum()
                      >= MIN_VISIBLE * video.stones[i].sprite.mask.sum()]
            assert len(lines) == len(wanted)
            for mask, truth in zip(_label_masks(lines, h, w), wanted, strict=True):
                assert (mask & truth).sum() / (mask | truth).sum() > 0.99
            labelled += len(lines)
        assert labelled >= 3


@pytest.fixture(scope="module")
def short_video():
    return render_conveyor(seed=3, seconds=2.0, fps=15, n_stones=3, beans_per_frame=30)


def test_video_is_deterministic(short_video):
    again = render_conveyor(seed=3, seconds=2.0, fps=15, n_stones=3, beans_per_frame=30)
    assert again.truth == short_video.truth
    assert all(a.tobytes() == b.tobytes() for a, b in zip(again.frames, short_video.frames, strict=True))


def test_video_truth_points_at_stones(short_video):
    truth = short_video.truth
    assert len(short_video.frames) == truth["frames"] == 30
    assert truth["stone_count"] == len(truth["stones"]) == 3
    for s in truth["stones"]:
        a, b = s["fully_visible"]
        assert b - a + 1 >= 8 and s["first_frame"] <= a <= b <= s["last_frame"]
        x0, y0, x1, y1 = s["bbox_at_first_full"]
        assert 0 <= x0 < x1 <= truth["width"] and 0 <= y0 < y1 <= truth["height"]
        frame = short_video.frames[a]
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        patch = cv2.cvtColor(frame[cy - 1 : cy + 2, cx - 1 : cx + 2], cv2.COLOR_BGR2HSV)
        assert np.median(patch[..., 1]) < 90, s  # the centre of the box is grey stone
        assert s["colour_name"] in STONE_COLOURS


def test_video_objects_move_at_belt_speed(short_video):
    f0, f1 = short_video.frames[10].astype(float), short_video.frames[11].astype(float)
    speed = short_video.truth["belt_speed_px_per_frame"]
    errors = {dx: np.abs(f1[:, dx:] - f0[:, : f0.shape[1] - dx]).mean() for dx in range(0, 16)}
    assert min(errors, key=errors.get) == speed
