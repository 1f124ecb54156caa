"""`segflow export`: convert trained YOLO weights for deployment (ONNX first).

ONNX is the edge path: the exported file runs through onnxruntime with no
torch installed.  Other ultralytics formats are passed through where their
packages are installed; this command never installs packages or downloads
anything, and says which package is missing instead.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.vision.yolo_export import ExportFailed, export_weights

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
            return EXIT_INVALID
        if not model_path.is_file():
            print(f"segflow export: model file {model_path} not found", file=sys.stderr)
            return EXIT_INVALID
        if model_path.suffix != ".pt":
            print(
                f"segflow export: expected PyTorch weights (.pt), got {model_path.name}",
                file=sys.stderr,
            )
            return EXIT_INVALID
        package = FORMATS[fmt]
        if package is not None and not _installed(package):
            print(
                f"segflow export: format '{fmt}' needs the '{package}' package, which is not "
                f"installed; install it (pip install {package}) and run again",
                file=sys.stderr,
            )
            return EXIT_INVALID
        out = Path(args.out) if args.out else model_path.parent
        try:
            produced, imgsz = export_weights(model_path, fmt, out, imgsz=args.imgsz, dynamic=bool(args.dynamic),
                                             opset=args.opset)
        except ExportFailed as exc:
            print(f"segflow export: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(f"exported {model_path} -> {produced} (format {fmt}, imgsz {imgsz})")
        return EXIT_OK


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
