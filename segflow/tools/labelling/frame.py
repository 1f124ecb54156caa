"""The labels of the frame being labelled: accepted masks, the candidate from the current prompt, the selection.

What the Label mode's canvas sends (``prompt``, ``select``, ``delete`` events)
is applied here, and what it draws (``payload``) comes from here, so the
editing rules are tested without a browser.
"""

from __future__ import annotations

import colorsys
import itertools
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from segflow.tools.labelling.assist import Assistant, Prompt
from segflow.tools.labelling.prelabel import PreLabel
from segflow.vision.yolo_dataset import Label, YoloSegDataset, mask_outline, polygon_mask

_ids = itertools.count(1)


@dataclass
class Item:
    mask: np.ndarray  # (H, W) bool
    class_name: str
    source: str  # "saved", "pre-label (detect)", "GrabCut", "SAM 2 (...)", "collected"
    confidence: float | None = None
    id: str = field(default_factory=lambda: f"m{next(_ids)}")


@dataclass
class FrameLabels:
    key: str
    pixels: np.ndarray
    items: list[Item] = field(default_factory=list)
    candidate: Item | None = None
    selected: str | None = None
    prompt_rev: int = 0
    last_seq: Any = None
    message: str = ""
    saved_split: str | None = None  # the split it was saved in; None when not saved yet
    edited: bool = False  # changed since loaded or saved

    @property
    def shape(self) -> tuple[int, int]:
        return self.pixels.shape[:2]

    # -- loading ------------------------------------------------------------------------------

    @classmethod
    def open(cls, key: str, pixels: np.ndarray, dataset: YoloSegDataset) -> FrameLabels:
        """The frame with the labels saved for it, or those a line collected with it, or none."""
        frame = cls(key, pixels)
        h, w = frame.shape
        names = dataset.names()
        saved = dataset.labels_of(key, h, w)
        if saved is not None:
            frame.saved_split = dataset.split_of(key)
            frame.items = [Item(polygon_mask(label.polygon, h, w), _name(names, label.class_id), "saved")
                           for label in saved]
            frame.message = f"{len(saved)} saved labels ({frame.saved_split})"
        elif key in dataset.collected():
            loaded = dataset.load_collected(key)
            if loaded is not None:
                frame.items = [Item(polygon_mask(label.polygon, h, w), _name(names, label.class_id), "collected")
                               for label in loaded[1]]
                frame.message = f"{len(frame.items)} labels from the line (not reviewed yet)"
        return frame

    # -- editing ------------------------------------------------------------------------------

    def apply(self, event: dict[str, Any], assistant: Assistant, class_name: str) -> bool:
        """Apply one canvas event (each at most once); True when something changed.

        The canvas posts its last event again until a render echoes its ``seq`` (``payload``), so a
        repeat is skipped; an event drawn on another frame is not applied to this one.
        """
        if not isinstance(event, dict) or event.get("seq") == self.last_seq:
            return False
        if event.get("frame", self.key) != self.key:
            return False
        self.last_seq = event.get("seq")
        action = event.get("action")
        if action == "prompt":
            prompt = Prompt(box=event.get("box"), points=[tuple(p) for p in event.get("points") or []])
            if prompt.is_empty():
                self.candidate = None
                self.message = ""
                return True
            result = assistant.segment(self.pixels, prompt)
            if not result.mask.any():
                self.candidate = None
                self.message = f"{result.method} found no object there: draw a bigger box or add points"
                return True
            self.candidate = Item(result.mask, class_name, result.method, result.score)
            self.message = f"mask by {result.method} ({int(result.mask.sum())} px): Accept it or refine the prompt"
            return True
        if action == "select":
            self.selected = event.get("id") if any(i.id == event.get("id") for i in self.items) else None
            return True
        if action == "delete":
            return self.delete(str(event.get("id")))
        return False

    def accept(self, class_name: str) -> Item | None:
        if self.candidate is None:
            return None
        item, self.candidate = self.candidate, None
        item.class_name = class_name
        self.items.append(item)
        self.prompt_rev += 1
        self.edited = True
        self.message = f"accepted a {class_name} mask made by {item.source}"
        return item

    def discard(self) -> None:
        self.candidate = None
        self.prompt_rev += 1
        self.message = "candidate discarded"

    def delete(self, item_id: str) -> bool:
        before = len(self.items)
        self.items = [i for i in self.items if i.id != item_id]
        if self.selected == item_id:
            self.selected = None
        if len(self.items) != before:
            self.edited = True
            self.message = "mask deleted"
            return True
        return False

    def set_class(self, item_id: str, class_name: str) -> None:
        for item in self.items:
            if item.id == item_id:
                item.class_name = class_name
                self.edited = True

    def add_prelabels(self, prelabels: list[PreLabel]) -> int:
        """Replace earlier pre-labels with these (masks the user drew or saved stay)."""
        self.items = [i for i in self.items if not i.source.startswith("pre-label")]
        for p in prelabels:
            self.items.append(Item(p.mask, p.class_name, f"pre-label ({p.node})", p.confidence))
        self.edited = True
        self.message = f"{len(prelabels)} pre-labels from node '{prelabels[0].node}'" if prelabels else \
            "the workflow found nothing on this frame"
        return len(prelabels)

    def save(self, dataset: YoloSegDataset) -> str:
        labels = []
        for item in self.items:
            polygon = mask_outline(item.mask)  # its pixels' edges: what training fills back exactly
            if len(polygon) >= 3:
                labels.append(Label(dataset.class_id(item.class_name), polygon))
        self.saved_split = dataset.save_frame(self.key, self.pixels, labels)
        self.edited = False
        self.message = f"saved {len(labels)} labels to {self.saved_split}"
        return self.saved_split

    # -- drawing ------------------------------------------------------------------------------

    def payload(self, image_url: str) -> dict[str, Any]:
        h, w = self.shape
        classes = sorted({i.class_name for i in self.items})
        masks = []
        for item in self.items:
            masks.append({"id": item.id, "polygons": outlines(item.mask), "colour": colour(item.class_name, classes),
                          "label": item.class_name + (f" {item.confidence:.2f}" if item.confidence is not None else ""),
                          "kind": "prelabel" if item.source.startswith("pre-label") else "accepted"})
        if self.candidate is not None:
            masks.append({"id": "candidate", "polygons": outlines(self.candidate.mask), "colour": "#ffd400",
                          "label": f"new ({self.candidate.source})", "kind": "candidate"})
        return {"image": image_url, "frame": self.key, "seq": self.last_seq, "width": w, "height": h, "masks": masks,
                "prompt_rev": self.prompt_rev, "selected": self.selected, "message": self.message}


def _name(names: list[str], class_id: int) -> str:
    return names[class_id] if 0 <= class_id < len(names) else f"class {class_id}"


def outlines(mask: np.ndarray, limit: int = 8) -> list[list[list[float]]]:
    """Outer contours of a mask, biggest first, as lists of [x, y] (what the canvas draws)."""
    contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    contours = sorted(contours, key=cv2.contourArea, reverse=True)[:limit]
    return [c.reshape(-1, 2).astype(float).tolist() for c in contours if len(c) >= 3]


def colour(name: str, classes: list[str]) -> str:
    index = classes.index(name) if name in classes else 0
    r, g, b = colorsys.hsv_to_rgb((0.58 + 0.31 * index) % 1.0, 0.75, 0.95)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"
