"""Small pure helpers for nodes built on ultralytics: model references, devices, classes.

Kept apart from the node so that validation (is this a file or a model name?)
and class-name resolution are testable without importing ultralytics or torch.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from segflow.engine.paths import existing_path_problem, stat_or_none

# Names ultralytics fetches from its GitHub release assets on first use,
# e.g. yolo11n-seg.pt, yolov8s.pt, yolo26n-seg.pt, rtdetr-l.pt, yoloe-11s-seg.pt.
HUB_NAME = re.compile(r"^(yolo(v\d+|e)?|rtdetr|sam|fastsam|mobile_sam)[a-z0-9_.+-]*\.pt$", re.IGNORECASE)
DEVICE = r"^(auto|cpu|mps|cuda|cuda:\d+|\d+(,\d+)*)$"
SUPPORTED_TASKS = ("detect", "segment")
TASK_WORDS = {
    "classify": "an image classifier (one label per image, no boxes)",
    "pose": "a pose (keypoint) model",
    "obb": "an oriented-box model",
    "detect": "a detection model",
    "segment": "a segmentation model",
}


def is_hub_name(model: str) -> bool:
    """True for a bare ultralytics model name (no folder part) that ultralytics can download."""
    return Path(model).name == model and bool(HUB_NAME.match(model))


# What an exported model folder holds: OpenVINO (.xml + .bin), TF SavedModel, NCNN, Paddle.
FOLDER_MODELS = ("*.xml", "saved_model.pb", "*.param", "*.pdmodel", "*.pdiparams")


def model_problem(model: str, resolved: Path) -> str | None:
    """Why ``model`` cannot be loaded here, or ``None``: a missing path is named in full."""
    if is_hub_name(model) and stat_or_none(resolved) == (None, None):
        return None
    problem = existing_path_problem(resolved, "model file")
    if problem is None and resolved.is_dir() and not any(any(resolved.glob(p)) for p in FOLDER_MODELS):
        return (f"{resolved} is a folder with no exported model in it (an OpenVINO folder holds an .xml "
                "and a .bin file)")
    return problem


def torch_device(device: str) -> str | None:
    """The ``device`` param as ultralytics takes it: ``auto`` lets it pick CUDA when present."""
    return None if device == "auto" else device


class UnknownClass(ValueError):
    """A ``classes`` entry that the model does not have."""


def resolve_classes(wanted: Iterable[str | int] | None, names: Mapping[int, str]) -> list[int] | None:
    """Class ids for ``wanted`` names or ids, checked against the model's ``names``.

    Names match exactly, then case-insensitively; digit strings are ids.
    Raises :class:`UnknownClass` naming the close matches and every class.
    """
    if wanted is None:
        return None
    by_name = {name: i for i, name in names.items()}
    by_lower = {name.lower(): i for i, name in names.items()}
    ids: list[int] = []
    for entry in wanted:
        if isinstance(entry, int) or (isinstance(entry, str) and entry.strip().isdigit()):
            cid = int(entry)
            if cid not in names:
                raise UnknownClass(f"class id {cid} is out of range: the model has ids 0..{max(names, default=-1)}")
        elif entry in by_name or entry.lower() in by_lower:
            cid = by_name.get(entry, by_lower.get(entry.lower(), -1))
        else:
            close = difflib.get_close_matches(entry, list(by_name), n=3, cutoff=0.6)
            guess = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
            listed = ", ".join(names[i] for i in sorted(names))
            raise UnknownClass(f"the model has no class {entry!r}{guess}; its classes: {listed}")
        if cid not in ids:
            ids.append(cid)
    return ids


def offline_ultralytics():
    """Import ultralytics with every network path switched off (no downloads, no pip installs, quiet)."""
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_VERBOSE", "False")
    import ultralytics

    return ultralytics
