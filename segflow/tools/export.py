"""`segflow export`: convert trained YOLO weights for deployment (ONNX first).

ONNX is the edge path: the exported file runs through onnxruntime with no
torch installed.  Other ultralytics formats are passed through where their
packages are installed; this command never installs packages or downloads
anything, and says which package is missing instead.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import sys
import tempfile
from pathlib import Path

from segflow.tools.ultralytics_offline import offline_ultralytics

# Formats ultralytics can export to from a CPU machine, with the package each one needs.
FORMATS = {
    "onnx": "onnx",
    "torchscript": None,
    "openvino": "openvino",
    "tflite": "tensorflow",
    "saved_model": "tensorflow",
    "ncnn": "ncnn",
    "coreml": "coremltools",
    "paddle": "paddlepaddle",
    "mnn": "MNN",
}


class ExportCommand:
    help = "export trained YOLO weights (.pt) to onnx or another deployment format"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("model", help="trained weights, e.g. assets/models/coffee-stones-seg.pt")
        parser.add_argument("--format", default="onnx", help=f"one of {', '.join(FORMATS)} (default onnx)")
        parser.add_argument(
            "--imgsz",
            type=int,
            default=None,
            help="input size (default: the size it was trained at)",
        )
        parser.add_argument("--out", default=None, help="where to put the result (default: beside MODEL)")
        parser.add_argument("--dynamic", action="store_true", help="dynamic batch and image size (onnx)")
        parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: best)")

    def run(self, args: argparse.Namespace) -> int:
        model_path = Path(args.model)
        fmt = str(args.format).lower()
        if fmt not in FORMATS:
            close = difflib.get_close_matches(fmt, list(FORMATS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            print(
                f"segflow export: unknown format '{args.format}'{hint}; choose one of {', '.join(FORMATS)}",
                file=sys.stderr,
            )
            return 2
        if not model_path.is_file():
            print(f"segflow export: model file {model_path} not found", file=sys.stderr)
            return 2
        if model_path.suffix != ".pt":
            print(
                f"segflow export: expected PyTorch weights (.pt), got {model_path.name}",
                file=sys.stderr,
            )
            return 2
        package = FORMATS[fmt]
        if package is not None and not _installed(package):
            print(
                f"segflow export: format '{fmt}' needs the '{package}' package, which is not "
                f"installed; install it (pip install {package}) and run again",
                file=sys.stderr,
            )
            return 2
        offline_ultralytics()
        if not args.out:
            return _export(model_path, model_path, fmt, args)
        # ultralytics writes its result beside the weights: with --out, export from a copy in a
        # scratch folder, so a file of the same name next to MODEL is never overwritten.
        with tempfile.TemporaryDirectory(prefix="segflow-export-") as scratch:
            copy = Path(scratch) / model_path.name
            shutil.copyfile(model_path, copy)
            return _export(model_path, copy, fmt, args)


def _export(model_path: Path, source: Path, fmt: str, args: argparse.Namespace) -> int:
    from ultralytics import YOLO

    try:
        model = YOLO(str(source))
    except Exception as exc:  # noqa: BLE001 - corrupt or foreign checkpoints raise anything
        print(f"segflow export: cannot load {model_path} as YOLO weights: {exc}", file=sys.stderr)
        return 1
    imgsz = args.imgsz or int(model.overrides.get("imgsz") or 640)
    kwargs = {"format": fmt, "imgsz": imgsz, "device": "cpu", "verbose": False}
    if fmt == "onnx":
        kwargs.update(simplify=False, dynamic=bool(args.dynamic))
        if args.opset:
            kwargs["opset"] = args.opset
    try:
        result = model.export(**kwargs)
    except Exception as exc:  # noqa: BLE001 - exporters fail with many exception types
        print(f"segflow export: {fmt} export failed: {exc}", file=sys.stderr)
        return 1
    if not result:
        print(f"segflow export: {fmt} export produced no file", file=sys.stderr)
        return 1
    produced = Path(result)
    if args.out:
        dest = Path(args.out)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists() and dest.is_dir() and produced.is_file():
            dest = dest / produced.name
        shutil.move(str(produced), str(dest))
        produced = dest
    print(f"exported {model_path} -> {produced} (format {fmt}, imgsz {imgsz})")
    return 0


def _installed(package: str) -> bool:
    import importlib.util

    module = {"paddlepaddle": "paddle", "MNN": "MNN"}.get(package, package)
    return importlib.util.find_spec(module) is not None


EXPORT = ExportCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow export", description=EXPORT.help)
    EXPORT.add_arguments(parser)
    return EXPORT.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
