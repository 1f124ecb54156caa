"""`segflow train`: train a YOLO segmentation model on a YOLO-seg dataset, offline.

With ``--task classify`` it trains an image classifier from a folder of class
folders instead (:mod:`segflow.tools.train_classify`); with ``--task refine``, a
mask refiner for a trained segmentation model (:mod:`segflow.tools.refiner_training`).

Wraps ultralytics training so it never touches the network (no font, AMP-check,
hub or update downloads), shows one progress line per epoch, and ends with the
best weights plus a metrics summary JSON (per-class mask mAP50 on the val split)
that model cards copy their numbers from.  From a ``.yaml`` model config it
trains from scratch; from a ``.pt`` it fine-tunes; ``--resume`` continues an
interrupted run from its ``last.pt``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.tools.exact_targets import exact_mask_targets
from segflow.tools.ultralytics_offline import EpochProgress, offline_ultralytics


def validate(weights: Path, data: str, imgsz: int, batch: int, device: str) -> dict:
    """Per-class and overall box/mask mAP of ``weights`` on the dataset's val split."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    with exact_mask_targets():  # mask mAP against the targets the model was trained to meet
        metrics = model.val(
            data=data,
            imgsz=imgsz,
            batch=batch,
            device=device,
            split="val",
            plots=False,
            verbose=False,
            workers=0,
        )
    names = metrics.names
    per_class = {}
    for i, c in enumerate(metrics.ap_class_index):
        per_class[names[int(c)]] = {
            "mask_map50": round(float(metrics.seg.ap50[i]), 4),
            "mask_map50_95": round(float(metrics.seg.ap[i]), 4),
            "box_map50": round(float(metrics.box.ap50[i]), 4),
        }
    return {
        "split": "val",
        "images": _count_images(data),
        "mask_map50": round(float(metrics.seg.map50), 4),
        "mask_map50_95": round(float(metrics.seg.map), 4),
        "box_map50": round(float(metrics.box.map50), 4),
        "per_class": per_class,
    }


def _count_images(data: str) -> int | None:
    """Number of images in the dataset's val split (None when it cannot be resolved)."""
    from ultralytics.data.utils import IMG_FORMATS, check_det_dataset

    try:
        val = check_det_dataset(data)["val"]
    except Exception:  # noqa: BLE001 - only a summary field; never fail a finished run for it
        return None
    folders = val if isinstance(val, list) else [val]
    return sum(
        1
        for folder in map(Path, folders)
        if folder.is_dir()
        for f in folder.rglob("*")
        if f.suffix[1:].lower() in IMG_FORMATS
    )


class TrainCommand:
    help = ("train a YOLO segmentation model on a YOLO-seg data.yaml, (--task classify) a classifier "
            "on a folder of class folders, or (--task refine) a mask refiner for a segmentation model "
            "(offline, CPU-friendly)")
    DEFAULTS = {"segment": {"model": "yolov8n-seg.yaml", "imgsz": 320, "epochs": 80},
                "classify": {"model": "yolo11n-cls.yaml", "imgsz": 64, "epochs": 30},
                "refine": {"model": "", "imgsz": 320, "epochs": 24}}

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("data", help="dataset YAML (YOLO-seg), e.g. from `segflow generate dataset`; with "
                            "--task classify, a folder of class folders (or of train/ and val/ holding them)")
        parser.add_argument("--task", choices=tuple(self.DEFAULTS), default="segment",
                            help="segment (default), classify, or refine (a mask refiner for --model's masks)")
        parser.add_argument(
            "--model",
            default=None,
            help="model config .yaml (train from scratch) or weights .pt (fine-tune); default "
            "yolov8n-seg.yaml, or yolo11n-cls.yaml with --task classify; with --task refine, the trained "
            "segmentation .pt whose masks the refiner learns to redraw (required)",
        )
        parser.add_argument("--epochs", type=int, default=None, help="number of epochs (default 80; classify 30)")
        parser.add_argument("--imgsz", type=int, default=None, help="training image size (default 320; classify 64; "
                            "refine: the size --model runs at, default 320)")
        parser.add_argument("--val-fraction", type=float, default=0.2,
                            help="classify, class folders given directly: share of each class held out for "
                            "val (default 0.2)")
        parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
        parser.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
        parser.add_argument("--device", default="cpu", help="'cpu', '0' for the first GPU, ...")
        parser.add_argument("--workers", type=int, default=2, help="data-loader workers (default 2)")
        parser.add_argument("--patience", type=int, default=100, help="early-stop patience in epochs")
        parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
        parser.add_argument(
            "--mask-ratio", type=int, default=1,
            help="segment: mask targets at 1/N of the training size (default 1, full size: the sharpest "
            "outlines; ultralytics' own default is 4, which makes masks fat on small objects)",
        )
        parser.add_argument(
            "--fine-tune", action="store_true",
            help="segment, --model a .pt: continue it gently (AdamW, lr0 5e-4, no warm-up, mosaic off for the "
            "last third of the epochs) instead of a from-scratch schedule",
        )
        parser.add_argument(
            "--fixed-light", action="store_true",
            help="refine: keep each training window as photographed instead of turning and mirroring it; "
            "for a line lit from one side, where an object's shaded side reaches further than it shows",
        )
        parser.add_argument(
            "--width", type=int, default=None, metavar="CHANNELS",
            help="refine: the network's channels at its first level (default 8: 63 k weights; 12: 140 k, "
            "about 1.7x the time per mask)",
        )
        parser.add_argument(
            "--even-objects", action="store_true",
            help="refine: every object's window weighs the same in the loss, however small the object (else a "
            "window's weight grows with its object's outline, and small objects' edges count for little)",
        )
        parser.add_argument(
            "--resume",
            action="store_true",
            help="continue the interrupted run in --out from its weights/last.pt",
        )

    def run(self, args: argparse.Namespace) -> int:
        for name, default in self.DEFAULTS[args.task].items():
            if getattr(args, name) is None:
                setattr(args, name, default)
        refine_only = [flag for flag, on in (("--fixed-light", args.fixed_light),
                                             ("--even-objects", args.even_objects),
                                             ("--width", args.width is not None)) if on]
        if args.task != "refine" and refine_only:
            print(f"segflow train: {' and '.join(refine_only)}: for --task refine only (how a refiner's windows "
                  f"are weighed and turned, and how wide it is); leave it out for --task {args.task}",
                  file=sys.stderr)
            return EXIT_INVALID
        if args.width is not None and not 4 <= args.width <= 64:
            print(f"segflow train: --width {args.width}: a refiner's first level has 4 to 64 channels "
                  "(8, the default, is the shipped one's)", file=sys.stderr)
            return EXIT_INVALID
        if args.task == "classify":
            return self.run_classify(args)
        if args.task == "refine":
            return self.run_refine(args)
        data = Path(args.data)
        out = Path(args.out).resolve()
        last = out / "weights" / "last.pt"
        if not args.resume and not data.is_file():
            print(
                f"segflow train: dataset file {data} not found; make one with `segflow generate dataset --out DIR`",
                file=sys.stderr,
            )
            return EXIT_INVALID
        if args.fine_tune and not str(args.model).endswith(".pt"):
            print("segflow train: --fine-tune continues a trained model: give --model a .pt file", file=sys.stderr)
            return EXIT_INVALID
        if args.mask_ratio < 1:
            print(f"segflow train: --mask-ratio must be 1 or more, got {args.mask_ratio}", file=sys.stderr)
            return EXIT_INVALID
        if args.resume and not last.is_file():
            print(f"segflow train: nothing to resume: {last} does not exist", file=sys.stderr)
            return EXIT_INVALID
        model_arg = str(args.model)
        if not args.resume and model_problem(args) is not None:
            print(model_problem(args), file=sys.stderr)
            return EXIT_INVALID
        offline_ultralytics()
        from ultralytics import YOLO

        out.mkdir(parents=True, exist_ok=True)
        progress = EpochProgress(out / "epochs.jsonl")
        t0 = time.monotonic()
        schedule = ({"optimizer": "AdamW", "lr0": 5e-4, "warmup_epochs": 0, "close_mosaic": max(1, args.epochs // 3)}
                    if args.fine_tune else {})
        try:
            with exact_mask_targets():
                if args.resume:
                    model = YOLO(str(last))
                    model.add_callback("on_fit_epoch_end", progress)
                    model.train(resume=True, plots=False, amp=False)
                else:
                    model = YOLO(model_arg)
                    model.add_callback("on_fit_epoch_end", progress)
                    model.train(
                        data=str(data.resolve()),
                        epochs=args.epochs,
                        imgsz=args.imgsz,
                        batch=args.batch,
                        device=args.device,
                        workers=args.workers,
                        project=str(out.parent),
                        name=out.name,
                        exist_ok=True,
                        patience=args.patience,
                        seed=args.seed,
                        deterministic=True,
                        plots=False,
                        amp=False,
                        verbose=False,
                        val=True,
                        flipud=0.5,
                        pretrained=model_arg.endswith(".pt"),
                        mask_ratio=args.mask_ratio,
                        **schedule,
                    )
        except (FileNotFoundError, RuntimeError, SyntaxError, KeyError) as exc:
            print(f"segflow train: training failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        trainer = model.trainer
        best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
        data_yaml = str(trainer.args.data)
        summary = {
            "command": _command_line(args),
            "data": data_yaml,
            "model": str(trainer.args.model),
            "epochs": int(trainer.epochs),
            "epochs_run": int(trainer.epoch) + 1,
            "imgsz": int(trainer.args.imgsz),
            "weights": str(best),
            "train_time_s": round(time.monotonic() - t0, 1),
            "val": validate(
                best,
                data_yaml,
                int(trainer.args.imgsz),
                int(trainer.args.batch),
                str(trainer.args.device),
            ),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(json.dumps(summary["val"], indent=2))
        print(f"best weights: {best}\nsummary: {out / 'summary.json'}")
        return EXIT_OK


    def run_refine(self, args: argparse.Namespace) -> int:
        from segflow.tools.refiner_training import DEFAULT_REFINER_WIDTH, train_refiner

        data, model = Path(args.data), Path(str(args.model))
        if args.resume:
            print("segflow train: --resume is for segmentation runs; run the refine command again", file=sys.stderr)
            return EXIT_INVALID
        if not data.is_file():
            print(f"segflow train: dataset file {data} not found; a refiner learns from a YOLO-seg data.yaml "
                  "with outlines at pixel accuracy (`segflow generate dataset --out DIR` makes one)", file=sys.stderr)
            return EXIT_INVALID
        if model.suffix != ".pt" or not model.is_file():
            print(f"segflow train: --task refine needs --model, the trained segmentation .pt whose masks it "
                  f"redraws (got {str(args.model)!r})", file=sys.stderr)
            return EXIT_INVALID
        offline_ultralytics()
        try:
            summary = train_refiner(data, model, Path(args.out), args.imgsz, args.epochs, args.batch, args.seed,
                                    _command_line(args), turn=not args.fixed_light, even=args.even_objects,
                                    width=args.width or DEFAULT_REFINER_WIDTH)
        except (ValueError, KeyError, OSError) as exc:
            print(f"segflow train: refiner training failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        print(json.dumps(summary["val"], indent=2))
        print(f"refiner: {summary['weights']}\nsummary: {Path(args.out) / 'summary.json'}")
        return EXIT_OK

    def run_classify(self, args: argparse.Namespace) -> int:
        from segflow.tools.train_classify import train_classify

        if args.resume:
            print("segflow train: --resume is for segmentation runs; run the classify command again",
                  file=sys.stderr)
            return EXIT_INVALID
        if not 0 < args.val_fraction < 1:
            print(f"segflow train: --val-fraction must be between 0 and 1, got {args.val_fraction}", file=sys.stderr)
            return EXIT_INVALID
        problem = model_problem(args)
        if problem is not None:
            print(problem, file=sys.stderr)
            return EXIT_INVALID
        return train_classify(args, _command_line(args))


def model_problem(args: argparse.Namespace) -> str | None:
    """Why ``--model`` cannot be trained from, or ``None``."""
    model_arg = str(args.model)
    config = TrainCommand.DEFAULTS[args.task]["model"]
    if model_arg.endswith(".pt") and not Path(model_arg).is_file():
        return (f"segflow train: weights {model_arg} not found (this command never downloads "
                f"weights; pass a local .pt or a config such as {config})")
    if not model_arg.endswith((".pt", ".yaml", ".yml")):
        return f"segflow train: --model must be a .yaml config or a .pt file, got {model_arg!r}"
    return None


def _command_line(args: argparse.Namespace) -> str:
    """The `segflow train` invocation equivalent to ``args`` (recorded in the summary)."""
    if args.resume:
        data, out = shlex.quote(str(args.data)), shlex.quote(str(args.out))
        return f"segflow train {data} --out {out} --resume"
    parts = ["segflow", "train", str(args.data), "--model", str(args.model)]
    if args.task != "segment":
        parts += ["--task", args.task]
    flags = ("epochs", "imgsz", "batch", "out", "seed") if args.task == "refine" else (
        "epochs", "imgsz", "batch", "out", "device", "workers", "patience", "seed")
    for flag in flags:
        parts += [f"--{flag}", str(getattr(args, flag))]
    if args.task == "segment":
        parts += ["--mask-ratio", str(args.mask_ratio)] + (["--fine-tune"] if args.fine_tune else [])
    if args.task == "refine":
        parts += (["--fixed-light"] if args.fixed_light else []) + (["--even-objects"] if args.even_objects else [])
        parts += ["--width", str(args.width)] if args.width is not None else []
    return " ".join(shlex.quote(p) for p in parts)


TRAIN = TrainCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow train", description=TRAIN.help)
    TRAIN.add_arguments(parser)
    return TRAIN.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
