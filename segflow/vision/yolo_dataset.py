"""A YOLO-segmentation dataset that grows one frame at a time and never loses a label.

Layout (what ``segflow train`` and ultralytics read)::

    <root>/data.yaml                  train/val paths (relative to this file) and class names
    <root>/images/{train,val}/<key>.png
    <root>/labels/{train,val}/<key>.txt   "class x1 y1 x2 y2 ..." polygons, normalised to 0..1
    <root>/collected/images/<key>.jpg     hard frames a running line collected (sink.dataset),
    <root>/collected/labels/<key>.txt     with its pre-labels: reviewed in the editor, then saved

Saving a frame rewrites only that frame's two files (each written under a
temporary name, then renamed), so an interrupted save leaves the earlier labels
intact. A frame keeps the split it was first saved to; new frames go to val
when val is empty or by a stable hash of their key (about one in five), so a
re-save never moves a frame between splits. Class names are only ever appended:
a class id written earlier keeps its meaning.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from segflow.engine.paths import write_atomic
from segflow.vision.outline_fill import polygon_pixels

SPLITS = ("train", "val")
VAL_EVERY = 5  # about one frame in five goes to val
IMAGE_EXT = ".png"
MIN_POLYGON_AREA_PX = 4.0


@dataclass
class Label:
    """One object: its class and its outline in pixels, (K, 2) float (x, y)."""

    class_id: int
    polygon: np.ndarray

    def mask(self, height: int, width: int) -> np.ndarray:
        return polygon_mask(self.polygon, height, width)


def safe_key(text: str) -> str:
    """A file-name-safe frame key (letters, digits, - _ . only)."""
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._")
    return key or "frame"


def mask_polygon(mask: np.ndarray, epsilon: float = 0.7) -> np.ndarray:
    """The outline of the largest region of a bool mask, (K, 2) float, lightly simplified.

    ``epsilon`` (px) drops points that lie on a straight run; the outline stays within
    it of the mask's own border, so the polygon filled again covers the same pixels
    to within the border row.
    """
    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    biggest = max(contours, key=cv2.contourArea)
    if epsilon > 0 and len(biggest) > 8:
        biggest = cv2.approxPolyDP(biggest, epsilon, True)
    return biggest.reshape(-1, 2).astype(np.float32)


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """The pixel-edge outline of the largest region of a bool mask, (K, 2) float, in continuous coordinates.

    Unlike :func:`mask_polygon` (the centres of the border pixels, half a pixel
    inside), this traces the pixels' outer edges (a pixel spans [i, i+1]), 1/8 px
    inside them, so its area is the mask's less an eighth of its perimeter: the label
    a model should learn to reproduce when its masks are measured (``segflow train`` fills labels this way,
    :mod:`segflow.tools.exact_targets`).
    """
    fine = cv2.resize(np.asarray(mask, np.uint8), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    contours, _ = cv2.findContours(fine, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros((0, 2), np.float32)
    biggest = cv2.approxPolyDP(max(contours, key=cv2.contourArea), 1.0, True)
    return ((biggest.reshape(-1, 2).astype(np.float64) + 0.5) / 4.0).astype(np.float32)


def polygon_mask(polygon: np.ndarray, height: int, width: int) -> np.ndarray:
    """A label's pixels, read in its own convention: an outline, or an old trace (:mod:`.outline_fill`)."""
    return polygon_pixels(polygon, height, width)


def format_labels(labels: list[Label], height: int, width: int) -> str:
    lines = []
    for label in labels:
        poly = np.asarray(label.polygon, np.float64)
        if len(poly) < 3 or cv2.contourArea(poly.astype(np.float32)) < MIN_POLYGON_AREA_PX:
            continue
        xs = np.clip(poly[:, 0] / width, 0, 1)
        ys = np.clip(poly[:, 1] / height, 0, 1)
        lines.append(f"{int(label.class_id)} " + " ".join(f"{x:.6f} {y:.6f}" for x, y in zip(xs, ys, strict=True)))
    return "\n".join(lines) + ("\n" if lines else "")


def parse_labels(text: str, height: int, width: int) -> list[Label]:
    labels = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 7 or (len(parts) - 1) % 2:
            continue
        values = np.array([float(v) for v in parts[1:]], np.float32).reshape(-1, 2)
        labels.append(Label(int(parts[0]), values * np.array([width, height], np.float32)))
    return labels


def encode_image(pixels: np.ndarray, ext: str = IMAGE_EXT) -> bytes:
    ok, data = cv2.imencode(ext, pixels, [cv2.IMWRITE_JPEG_QUALITY, 92] if ext == ".jpg" else [])
    if not ok:
        raise OSError(f"OpenCV could not encode a {pixels.shape} image as {ext}")
    return data.tobytes()


class YoloSegDataset:
    """One dataset folder: read and write frames, their labels and the class names."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def data_yaml(self) -> Path:
        return self.root / "data.yaml"

    # -- class names ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        if not self.data_yaml.is_file():
            return []
        data = yaml.safe_load(self.data_yaml.read_text()) or {}
        names = data.get("names") or {}
        if isinstance(names, list):
            return [str(n) for n in names]
        return [str(names[k]) for k in sorted(names, key=int)]

    def class_id(self, name: str) -> int:
        """The id of class ``name``, appended to data.yaml when new (ids never change)."""
        names = self.names()
        if name in names:
            return names.index(name)
        names.append(name)
        self.write_yaml(names)
        return len(names) - 1

    def write_yaml(self, names: list[str] | None = None) -> Path:
        names = self.names() if names is None else names
        text = ("# YOLO-segmentation dataset written by the segflow editor's Label mode and sink.dataset.\n"
                "# Paths are relative to this file's folder; class ids are only ever appended.\n"
                "train: images/train\nval: images/val\nnames:\n"
                + "".join(f"  {i}: {json.dumps(n)}\n" for i, n in enumerate(names)))  # JSON strings are YAML
        write_atomic(self.data_yaml, text.encode())
        return self.data_yaml

    # -- frames ----------------------------------------------------------------------------------

    def split_of(self, key: str) -> str | None:
        for split in SPLITS:
            if (self.root / "labels" / split / f"{key}.txt").is_file():
                return split
        return None

    def keys(self, split: str | None = None) -> list[str]:
        splits = [split] if split else list(SPLITS)
        found = []
        for s in splits:
            folder = self.root / "labels" / s
            if folder.is_dir():
                found += sorted(p.stem for p in folder.glob("*.txt"))
        return found

    def choose_split(self, key: str) -> str:
        existing = self.split_of(key)
        if existing:
            return existing
        if self.keys("train") and not self.keys("val"):
            return "val"  # training needs a val split: the second frame ever saved goes there
        digest = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
        return "val" if digest % VAL_EVERY == 0 and self.keys("train") else "train"

    def save_frame(self, key: str, pixels: np.ndarray, labels: list[Label]) -> str:
        """Write (or rewrite) one frame and its labels; returns the split it is in."""
        key = safe_key(key)
        split = self.choose_split(key)
        if not self.data_yaml.is_file():
            self.write_yaml([])
        h, w = pixels.shape[:2]
        write_atomic(self.root / "images" / split / f"{key}{IMAGE_EXT}", encode_image(pixels))
        write_atomic(self.root / "labels" / split / f"{key}.txt", format_labels(labels, h, w).encode())
        for ext in (".jpg", ".txt"):  # a reviewed collected frame leaves the inbox
            (self.root / "collected" / ("labels" if ext == ".txt" else "images") / f"{key}{ext}").unlink(
                missing_ok=True)
        return split

    def labels_of(self, key: str, height: int, width: int) -> list[Label] | None:
        split = self.split_of(safe_key(key))
        if split is None:
            return None
        return parse_labels((self.root / "labels" / split / f"{safe_key(key)}.txt").read_text(), height, width)

    def counts(self) -> dict[str, int]:
        return {s: len(self.keys(s)) for s in SPLITS} | {"collected": len(self.collected())}

    # -- frames a running line collected -----------------------------------------------------------

    def collected(self) -> list[str]:
        folder = self.root / "collected" / "images"
        return sorted(p.stem for p in folder.glob("*.jpg")) if folder.is_dir() else []

    def add_collected(self, key: str, pixels: np.ndarray, labels: list[Label]) -> None:
        key = safe_key(key)
        h, w = pixels.shape[:2]
        # Labels first: an image without its labels file would look like a frame with no objects.
        write_atomic(self.root / "collected" / "labels" / f"{key}.txt", format_labels(labels, h, w).encode())
        write_atomic(self.root / "collected" / "images" / f"{key}.jpg", encode_image(pixels, ".jpg"))

    def load_collected(self, key: str) -> tuple[np.ndarray, list[Label]] | None:
        image = self.root / "collected" / "images" / f"{key}.jpg"
        pixels = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if pixels is None:
            return None
        label_file = self.root / "collected" / "labels" / f"{key}.txt"
        h, w = pixels.shape[:2]
        return pixels, parse_labels(label_file.read_text(), h, w) if label_file.is_file() else []
