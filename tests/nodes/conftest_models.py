"""Model files for tests (import as `conftest_models`), built from configs with random weights.

The machines that run the tests have no internet, so no official weights.
A model built from its config and saved to a file still exercises the real
loading path of the node under test (``YOLO(path)``, ``build_sam2(config, ckpt)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

# ultralytics must neither phone home nor try to download fonts in tests.
os.environ.setdefault("YOLO_OFFLINE", "1")

VENV_SITE = Path(cv2.__file__).resolve().parents[1]
BUS_JPG = VENV_SITE / "ultralytics" / "assets" / "bus.jpg"


def bus_image(width: int = 0) -> np.ndarray:
    """ultralytics' bus.jpg (a real street photo, 810x1080), optionally resized to ``width``."""
    image = cv2.imread(str(BUS_JPG))
    assert image is not None, f"missing {BUS_JPG}"
    if width:
        height = round(image.shape[0] * width / image.shape[1])
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image


def coco_names() -> dict[int, str]:
    """The 80 COCO class names, from the dataset file ultralytics ships."""
    import yaml

    with open(VENV_SITE / "ultralytics" / "cfg" / "datasets" / "coco.yaml", encoding="utf-8") as f:
        return {int(k): str(v) for k, v in yaml.safe_load(f)["names"].items()}


def random_yolo(config: str, path: Path, seed: int = 0, spread: float = 500.0) -> Path:
    """Save a YOLO model built from ``config`` (e.g. ``yolov8n-seg.yaml``) to ``path``.

    Default init gives every anchor the same score (no detections at all), so
    convolutions get variance-preserving weights and the class logits are
    spread by ``spread``: the model then finds boxes (meaningless ones) on
    real images, which is what shape, batching and export tests need. Class
    names are COCO's, as in the official weights (configs alone name them '0'..'79').
    """
    import torch
    from ultralytics import YOLO

    torch.manual_seed(seed)
    model = YOLO(config)
    with torch.no_grad():
        for module in model.model.modules():
            if isinstance(module, torch.nn.Conv2d):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        head = model.model.model[-1]
        for branch in getattr(head, "cv3", []):
            branch[-1].weight.mul_(spread)
            branch[-1].bias.fill_(0.0)
    if len(model.names) == 80:
        model.model.names = coco_names()
    model.save(str(path))
    return path


def random_sam2_checkpoint(config: str, path: Path, seed: int = 0) -> Path:
    """Write ``{"model": state_dict}`` of SAM 2 built from ``config`` with random weights.

    The same layout as Meta's released checkpoints, so ``build_sam2(config,
    path)`` loads it strictly (every key present, none extra).
    """
    import sam2  # noqa: F401 - initialises hydra's config search path
    import torch
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    cfg = compose(config_name=config)
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    torch.save({"model": model.state_dict()}, path)
    return path


ROOT = Path(__file__).resolve().parents[2]
SHIPPED_PT = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
_exports: dict[tuple[str, ...], Path] = {}


def shipped_onnx(folder: Path, *flags: str) -> Path:
    """The shipped model exported by the project's own `segflow export` (once per session and flags).

    An ONNX file of the shipped model is 13 MB, so it is made here rather than committed.
    """
    if flags not in _exports:
        import subprocess
        import sys

        out = folder / ("coffee-stones-seg" + "".join(f.strip("-") for f in flags) + ".onnx")
        res = subprocess.run(
            [sys.executable, "-m", "segflow.engine.cli", "export", str(SHIPPED_PT), "--format", "onnx",
             "--out", str(out), *flags],
            capture_output=True, text=True, timeout=300, cwd=folder,
        )
        assert res.returncode == 0 and out.stat().st_size > 1_000_000, res.stderr
        _exports[flags] = out
    return _exports[flags]
