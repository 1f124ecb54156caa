"""Export trained YOLO weights with ultralytics: the one export path of ``segflow export`` and compiled models.

``segflow export`` (:mod:`segflow.tools.export`) and ``runtime: compiled``
(:mod:`segflow.vision.compiled`) both call :func:`export_weights`, so a model
compiled on first use is byte-for-byte what the command would have written.
Ultralytics writes its result beside the weights it loaded: the export runs on a
copy in a scratch folder, so nothing next to the user's ``.pt`` is touched.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class ExportFailed(Exception):
    """The weights would not load or the exporter failed; the message says which and why."""


def export_weights(weights: Path, fmt: str, out: Path, *, imgsz: int | None = None, dynamic: bool = False,
                   opset: int | None = None, device: str = "cpu", half: bool = False) -> tuple[Path, int]:
    """Export ``weights`` to ``fmt`` at ``out`` (a file, or a folder to put the result in); the path and imgsz.

    ``imgsz`` None: the size the model was trained at. ``dynamic``: any batch and
    image size (ONNX, TensorRT). ``device``/``half``: TensorRT builds for one GPU.
    """
    from segflow.vision.ultralytics_refs import offline_ultralytics

    YOLO = offline_ultralytics().YOLO

    with tempfile.TemporaryDirectory(prefix="segflow-export-") as scratch:
        copy = Path(scratch) / weights.name
        shutil.copyfile(weights, copy)
        try:
            model = YOLO(str(copy))
        except Exception as exc:  # noqa: BLE001 - corrupt or foreign checkpoints raise anything
            raise ExportFailed(f"cannot load {weights} as YOLO weights: {exc}") from exc
        size = imgsz or int(model.overrides.get("imgsz") or 640)
        kwargs: dict[str, object] = {"format": fmt, "imgsz": size, "device": device, "verbose": False}
        if fmt in ("onnx", "engine"):
            kwargs.update(simplify=False, dynamic=dynamic)
            if opset:
                kwargs["opset"] = opset
        if half:
            kwargs["half"] = True
        try:
            result = model.export(**kwargs)
        except Exception as exc:  # noqa: BLE001 - exporters fail with many exception types
            raise ExportFailed(f"{fmt} export failed: {exc}") from exc
        if not result:
            raise ExportFailed(f"{fmt} export produced no file")
        produced = Path(result)
        dest = out / produced.name if out.is_dir() else out
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_dir() and produced.is_dir():  # a folder format (OpenVINO) exported again
            shutil.rmtree(dest)
        shutil.move(str(produced), str(dest))
    return dest, size
