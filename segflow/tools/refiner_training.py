"""`segflow train --task refine`: a mask refiner for one segmentation model, from a YOLO-seg dataset.

The refiner (:mod:`segflow.vision.mask_refiner`) learns where objects end from
the frame's pixels, with the model's own mask as its prior. Its training pairs
are the model's masks on the dataset's images and the labels' masks: so the
labels must be outlines at pixel accuracy (generated ones, or careful hand
labels), since the refiner learns to draw what they draw.

Each image first passes through a camera's losses, as the frames it will see do:
half of them an H.264 round trip at crf 20-30 (a video's blocks and chroma
subsampling), a quarter of them JPEG at quality 60-95. The model then finds its
masks on that image, so the refiner learns the mistakes it will have to mend.
Each stone's window is cut 8 px larger than it is used and shifted at random in
training, then turned and mirrored (eight ways), with its brightness and
contrast varied; its prior is grown or shrunk by a pixel now and then.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from segflow.tools.mask_accuracy import predict_masks
from segflow.vision.mask_refiner import MaskRefiner, net_input
from segflow.vision.yolo_dataset import parse_labels, polygon_mask

WINDOW = 80  # px: the training window (the largest stone, 58 px, with 11 px either side)
JITTER = 8  # px the window is shifted in training
DEFAULT_REFINER_WIDTH = 8  # channels at the first level: the shipped refiner's
MATCH_IOU = 0.3  # a model mask is paired with the label it overlaps most, from this IoU
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class Pairs:
    """Training windows: the frame's pixels, the model's mask, the label's mask (N, S, S[, 3])."""

    pixels: np.ndarray
    coarse: np.ndarray
    truth: np.ndarray

    def __len__(self) -> int:
        return len(self.truth)

    def centre(self, size: int) -> Pairs:
        """The middle ``size`` x ``size`` of each window (validation uses them unshifted)."""
        o = (self.truth.shape[1] - size) // 2
        return Pairs(self.pixels[:, o:o + size, o:o + size], self.coarse[:, o:o + size, o:o + size],
                     self.truth[:, o:o + size, o:o + size])


def split_images(data_yaml: Path, split: str) -> list[Path]:
    """The images of one split of a YOLO-seg dataset (a folder or a list file, as ultralytics reads them)."""
    spec = yaml.safe_load(data_yaml.read_text())
    root = Path(spec.get("path") or data_yaml.parent)
    root = root if root.is_absolute() else (data_yaml.parent / root)
    where = root / spec[split]
    if where.is_file():
        return [root / line.strip() for line in where.read_text().splitlines() if line.strip()]
    return sorted(p for p in where.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def label_masks(image_path: Path, height: int, width: int) -> list[np.ndarray]:
    """The label file's masks for one image (``images/`` -> ``labels/``, ``.txt``)."""
    parts = list(image_path.parts)
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    label = Path(*parts).with_suffix(".txt")
    if not label.is_file():
        return []
    return [polygon_mask(lab.polygon, height, width) for lab in parse_labels(label.read_text(), height, width)]


def h264_round_trip(image: np.ndarray, crf: int) -> np.ndarray:
    """``image`` as a video frame at ``crf`` comes back from H.264 (yuv420p), through PyAV."""
    import av

    h, w = image.shape[:2]
    even = image[: h - h % 2, : w - w % 2]
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = even.shape[1], even.shape[0], "yuv420p"
    encoder.options = {"crf": str(crf), "preset": "medium", "threads": "1"}
    packets = list(encoder.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(even), format="bgr24")))
    packets += list(encoder.encode(None))
    decoder = av.CodecContext.create("h264", "r")
    frames = [f for p in packets for f in decoder.decode(p)] + list(decoder.decode(None))
    out = image.copy()
    out[: even.shape[0], : even.shape[1]] = frames[0].to_ndarray(format="bgr24")
    return out


def camera_losses(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    draw = rng.random()
    if draw < 0.5:
        return h264_round_trip(image, int(rng.integers(20, 31)))
    if draw < 0.75:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(60, 96))])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image


def make_pairs(model: Any, images: list[Path], imgsz: int, confidence: float, seed: int,
               progress: Callable[[int, int], None] | None = None) -> Pairs:
    """Every labelled object the model found (IoU >= 0.3) whose window lies inside its image."""
    rng = np.random.default_rng(seed)
    size = WINDOW + 2 * JITTER
    pixels, coarse, truth = [], [], []
    for n, path in enumerate(images):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        h, w = image.shape[:2]
        labels = label_masks(path, h, w)
        image = camera_losses(image, rng)
        masks = predict_masks(model, image, imgsz, confidence) if labels else []  # as detect.yolo gives them
        for true in labels:
            ious = [np.count_nonzero(true & m) / max(np.count_nonzero(true | m), 1) for m in masks]
            if not ious or max(ious) < MATCH_IOU:
                continue
            mask = masks[int(np.argmax(ious))]
            ys, xs = np.nonzero(mask)
            x0 = (int(xs.min()) + int(xs.max()) + 1) // 2 - size // 2
            y0 = (int(ys.min()) + int(ys.max()) + 1) // 2 - size // 2
            if x0 < 0 or y0 < 0 or x0 + size > w or y0 + size > h:
                continue
            window = (slice(y0, y0 + size), slice(x0, x0 + size))
            pixels.append(image[window])
            coarse.append(mask[window])
            truth.append(true[window])
        if progress:
            progress(n + 1, len(images))
    return Pairs(np.array(pixels, np.uint8).reshape(-1, size, size, 3), np.array(coarse, bool).reshape(-1, size, size),
                 np.array(truth, bool).reshape(-1, size, size))


def network(width: int = DEFAULT_REFINER_WIDTH) -> Any:
    """The refiner: a three-level U-Net (63 k weights at width 8) whose logits start from the prior's."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def block(a: int, b: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(a, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True),
                             nn.Conv2d(b, b, 3, padding=1), nn.BatchNorm2d(b), nn.ReLU(inplace=True))

    class Refiner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            c = width
            self.e1, self.e2, self.e3 = block(4, c), block(c, 3 * c), block(3 * c, 6 * c)
            self.d2, self.d1 = block(9 * c, 3 * c), block(4 * c, c)
            self.out = nn.Conv2d(c, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.e1(x)
            b = self.e2(F.max_pool2d(a, 2))
            c = self.e3(F.max_pool2d(b, 2))
            b = self.d2(torch.cat([F.interpolate(c, scale_factor=2.0, mode="bilinear"), b], 1))
            a = self.d1(torch.cat([F.interpolate(b, scale_factor=2.0, mode="bilinear"), a], 1))
            return self.out(a) + 2.0 * x[:, 3:4]  # the prior (+-1) gives the start: the model's own mask

    return Refiner()


def edge_band(truth: np.ndarray, radius: int = 2) -> np.ndarray:
    """Pixels within ``radius`` of each label's outline: the loss weighs them 5 times."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return np.array([cv2.dilate(t.astype(np.uint8), kernel) != cv2.erode(t.astype(np.uint8), kernel) for t in truth])


def loss_weights(truth: np.ndarray, even: bool = False) -> np.ndarray:
    """Each window's per-pixel loss weights: 1, and 5 on the edge band.

    ``even``: each window's edge band carries the same extra weight in all (4 times the mean
    band's pixel count), spread over its pixels. Without it a 20 px stone's band has about a
    third of a 55 px stone's pixels, so a refiner can leave small stones a fraction of a pixel
    fat for a loss it barely notices, though that fraction is three times their area's share.
    """
    band = edge_band(truth)
    if not even or not len(band):
        return 1.0 + 4.0 * band
    counts = band.sum(axis=(1, 2), keepdims=True).astype(np.float64)
    return 1.0 + 4.0 * band * (counts.mean() / np.maximum(counts, 1.0))


def training_batch(pairs: Pairs, weights: np.ndarray, index: np.ndarray, rng: np.random.Generator,
                   turn: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One batch of windows, shifted, relit and with their priors grown or shrunk at random.

    ``turn`` also turns and mirrors each window (eight ways): the objects may lie any way, but so
    may the light then, and a refiner that has seen light from every side cannot learn that on
    this line the shaded side of an object reaches further than it shows.
    """
    pixels, coarse, truth, weight = [], [], [], []
    one = np.ones((3, 3), np.uint8)
    for i in index:
        dx, dy = rng.integers(0, 2 * JITTER + 1, 2)
        window = (slice(dy, dy + WINDOW), slice(dx, dx + WINDOW))
        image = pairs.pixels[i][window].astype(np.float32) * rng.uniform(0.85, 1.15) + rng.uniform(-10, 10)
        prior = pairs.coarse[i][window]
        draw = rng.random()
        if draw < 0.15:
            prior = cv2.dilate(prior.astype(np.uint8), one) > 0
        elif draw < 0.3:
            prior = cv2.erode(prior.astype(np.uint8), one) > 0
        turns, mirror = int(rng.integers(4)), bool(rng.random() < 0.5)  # drawn either way: same shifts per seed
        if not turn:
            turns, mirror = 0, False

        def turned(a: np.ndarray, turns: int = turns, mirror: bool = mirror) -> np.ndarray:
            a = np.rot90(a, turns, axes=(0, 1))
            return np.ascontiguousarray(a[:, ::-1] if mirror else a)

        pixels.append(turned(np.clip(image, 0, 255).astype(np.uint8)))
        coarse.append(turned(prior))
        truth.append(turned(pairs.truth[i][window]))
        weight.append(turned(weights[i][window]))
    return (net_input(np.array(pixels), np.array(coarse)), np.array(truth, np.float32)[:, None],
            np.array(weight, np.float32)[:, None])


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a & b).sum(axis=(1, 2)) / np.maximum((a | b).sum(axis=(1, 2)), 1)


def train(pairs: Pairs, val: Pairs, epochs: int, batch: int, seed: int,
          report: Callable[[dict[str, Any]], None], turn: bool = True, even: bool = False,
          width: int = DEFAULT_REFINER_WIDTH) -> Any:
    """The trained network (torch, eval mode); ``report`` gets each epoch's loss and val IoU."""
    import torch
    from torch.nn import functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = network(width)
    weights = loss_weights(pairs.truth, even)
    steps_per_epoch = max(1, len(pairs) // batch)
    optimiser = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, 4e-3, total_steps=epochs * steps_per_epoch)
    held = val.centre(WINDOW)
    held_input = torch.from_numpy(net_input(held.pixels, held.coarse))
    for epoch in range(epochs):
        net.train()
        order, total, t0 = rng.permutation(len(pairs)), 0.0, time.monotonic()
        for step in range(steps_per_epoch):
            x, target, weight = training_batch(pairs, weights, order[step * batch:(step + 1) * batch], rng, turn)
            loss = (F.binary_cross_entropy_with_logits(net(torch.from_numpy(x)), torch.from_numpy(target),
                                                       reduction="none") * torch.from_numpy(weight)).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item()
        net.eval()
        with torch.no_grad():
            refined = net(held_input)[:, 0].numpy() > 0
        report({"epoch": epoch + 1, "loss": round(total / steps_per_epoch, 5),
                "val_iou_median": round(float(np.median(iou(refined, held.truth))), 4) if len(held) else math.nan,
                "time_s": round(time.monotonic() - t0, 1)})
    return net


def export(net: Any, path: Path) -> Path:
    """The network as ONNX (opset 13, any window size), as ``segment.refine`` loads it."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, 4, WINDOW, WINDOW)
    with warnings.catch_warnings():  # the TorchScript exporter, chosen on purpose: OpenCV reads its graph
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(net, example, str(path), input_names=["window"], output_names=["logits"],
                          opset_version=13,
                          dynamic_axes={"window": {2: "height", 3: "width"}, "logits": {2: "height", 3: "width"}},
                          dynamo=False)
    return path


def evaluate(onnx: Path, val: Pairs) -> dict[str, float]:
    """The model's masks and the refined ones against the labels, on the held-out windows.

    Through the runtime ``segment.refine`` picks by default (onnxruntime where installed, else OpenCV).
    """
    refiner = MaskRefiner(onnx)
    held = val.centre(WINDOW)
    refined = np.array([refiner.logits(p, c) > 0 for p, c in zip(held.pixels, held.coarse, strict=True)])
    refined = refined.reshape(held.truth.shape)
    area = lambda masks: masks.sum(axis=(1, 2)) / np.maximum(held.truth.sum(axis=(1, 2)), 1) - 1  # noqa: E731
    out: dict[str, float] = {"windows": len(held)}
    for name, masks in (("model", held.coarse), ("refined", refined)):
        scores, areas = iou(masks, held.truth), area(masks)
        out |= {f"{name}_iou_median": round(float(np.median(scores)), 4),
                f"{name}_iou_p10": round(float(np.percentile(scores, 10)), 4),
                f"{name}_area_error_median": round(float(np.median(areas)), 4),
                f"{name}_area_error_p90_abs": round(float(np.percentile(np.abs(areas), 90)), 4)}
    return out


def train_refiner(data: Path, model_path: Path, out: Path, imgsz: int, epochs: int, batch: int, seed: int,
                  command: str, confidence: float = 0.25, turn: bool = True, even: bool = False,
                  width: int = DEFAULT_REFINER_WIDTH) -> dict[str, Any]:
    """The whole run: pairs from both splits, training, the ONNX file and its figures (``summary.json``)."""
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(max(1, min(4, torch.get_num_threads())))
    model = YOLO(str(model_path))
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)

    def progress(split: str) -> Callable[[int, int], None]:
        def show(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                print(f"  {split}: model masks on {done}/{total} images", flush=True)
        return show

    pairs = make_pairs(model, split_images(data, "train"), imgsz, confidence, seed, progress("train"))
    val = make_pairs(model, split_images(data, "val"), imgsz, confidence, seed + 1, progress("val"))
    if len(pairs) < batch or len(val) == 0:
        raise ValueError(f"{len(pairs)} training and {len(val)} validation objects were found by the model: "
                         f"too few to train on (at least {batch} and 1)")
    log = out / "epochs.jsonl"
    log.write_text("")

    def report(row: dict[str, Any]) -> None:
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"  epoch {row['epoch']}/{epochs}: loss {row['loss']:.4f}, val IoU {row['val_iou_median']:.4f} "
              f"({row['time_s']:.0f} s)", flush=True)

    net = train(pairs, val, epochs, batch, seed, report, turn, even, width)
    onnx = export(net, out / "refiner.onnx")
    summary = {"command": command, "data": str(data), "model": str(model_path), "imgsz": imgsz, "epochs": epochs,
               "train_windows": len(pairs), "turned": turn, "even_objects": even, "width": width,
               "weights": str(onnx),
               "train_time_s": round(time.monotonic() - t0, 1),
               "val": evaluate(onnx, val)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
