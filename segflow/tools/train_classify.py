"""`segflow train --task classify DATA_DIR`: an image classifier from a folder of class folders.

Two layouts are accepted, read before anything trains, and every problem with
them is named with its path (no traceback):

- ``DATA_DIR/train/<class>/*.png`` and ``DATA_DIR/val/<class>/*.png`` (and an
  optional ``DATA_DIR/test/<class>``, held out: scored at the end, never seen
  while training or choosing the best epoch) — used as they are;
- ``DATA_DIR/<class>/*.png`` (one level) — split for you: in each class, the
  files in name order are shuffled with ``--seed`` and ``--val-fraction`` of
  them (at least one) go to ``val``; the split is written as links (copies
  where links are refused) under ``OUT/data`` and listed in the summary, so
  the same command gives the same split.

The run ends with ``OUT/weights/best.pt``, its ONNX export ``OUT/weights/best.onnx``
(dynamic batch: the edge runtime batches crops through it), ``OUT/summary.json``
and ``OUT/MODEL_CARD.md`` with top-1 accuracy and per-class recall on val (and
test), measured by ultralytics' own predictor on the files themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK

IMAGE_SUFFIXES = (".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
SPLIT_NAMES = ("train", "val", "test")


class DataError(ValueError):
    """A class-folder dataset that cannot be trained on; the message names the path."""


@dataclass(frozen=True)
class ClassFolders:
    """Image files per class per split, as found on disk."""

    root: Path
    splits: dict[str, dict[str, list[Path]]]  # split -> class -> files
    made_split: bool  # True: DATA_DIR was one level and segflow split it

    @property
    def classes(self) -> list[str]:
        return sorted(self.splits["train"])


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_classes(folder: Path) -> dict[str, list[Path]]:
    """Each class's image files in a folder of class folders; every problem named with its path."""
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    loose = images_in(folder)
    classes = {p.name: images_in(p) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")}
    if loose and not classes:
        raise DataError(f"{folder}: {len(loose)} images but no class folders; put each class's images in a "
                        f"folder named after the class, e.g. {folder / 'stone' / loose[0].name}")
    if loose:
        raise DataError(f"{folder}: {len(loose)} images outside any class folder (e.g. {loose[0].name}); "
                        "move them into the folder of their class")
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise DataError(f"{folder / empty[0]}: no images ({', '.join(IMAGE_SUFFIXES)}) in this class folder"
                        + (f" (nor in {', '.join(empty[1:])})" if len(empty) > 1 else ""))
    if len(classes) < 2:
        found = f"only '{next(iter(classes))}'" if classes else "none"
        raise DataError(f"{folder}: a classifier needs at least two class folders, found {found}")
    return classes


def read_dataset(root: Path, val_fraction: float, seed: int) -> ClassFolders:
    """The dataset at ``root`` in either layout (see the module docstring)."""
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (give the folder that holds the class folders)")
    if (root / "train").is_dir():
        if not (root / "val").is_dir():
            raise DataError(f"{root}: has train/ but no val/; add {root / 'val'} with the same class folders, "
                            f"or give the class folders directly (one level) and segflow splits them")
        splits = {name: read_classes(root / name) for name in SPLIT_NAMES if (root / name).is_dir()}
        for name, classes in splits.items():
            if sorted(classes) != sorted(splits["train"]):
                missing = sorted(set(splits["train"]) ^ set(classes))
                raise DataError(f"{root / name}: its class folders differ from train/'s ({', '.join(missing)}); "
                                "every split needs the same classes")
        return ClassFolders(root, splits, made_split=False)
    classes = read_classes(root)
    rng = random.Random(seed)
    train: dict[str, list[Path]] = {}
    val: dict[str, list[Path]] = {}
    for name, files in classes.items():
        if len(files) < 2:
            raise DataError(f"{root / name}: one image cannot be split into train and val; add more")
        shuffled = list(files)
        rng.shuffle(shuffled)
        n_val = min(max(1, round(len(files) * val_fraction)), len(files) - 1)
        val[name], train[name] = sorted(shuffled[:n_val]), sorted(shuffled[n_val:])
    return ClassFolders(root, {"train": train, "val": val}, made_split=True)


def write_split(data: ClassFolders, out: Path) -> Path:
    """The split as ``out/<split>/<class>/`` links (copies where links are refused); returns ``out``."""
    if out.exists():
        shutil.rmtree(out)
    for split, classes in data.splits.items():
        for name, files in classes.items():
            folder = out / split / name
            folder.mkdir(parents=True)
            for src in files:
                try:
                    os.link(src, folder / src.name)
                except OSError:
                    shutil.copy2(src, folder / src.name)
    return out


def score(weights: Path, classes: dict[str, list[Path]], imgsz: int, device: str, batch: int = 64) -> dict:
    """Top-1 accuracy and per-class recall of ``weights`` on the files of one split (ultralytics' predictor)."""
    from ultralytics import YOLO

    model = YOLO(str(weights))
    names = model.names
    per_class = {}
    right = total = 0
    for name, files in classes.items():
        hits = 0
        for start in range(0, len(files), batch):
            chunk = [str(f) for f in files[start : start + batch]]
            for result in model.predict(chunk, imgsz=imgsz, device=device, verbose=False):
                hits += names[int(result.probs.top1)] == name
        per_class[name] = {"images": len(files), "recall": round(hits / len(files), 4)}
        right, total = right + hits, total + len(files)
    return {"images": total, "top1": round(right / total, 4), "per_class": per_class}


def model_card(summary: dict) -> str:
    """A model card of the run, from its summary (numbers copied, never retyped)."""
    lines = [
        f"# {Path(summary['weights']).name} (classifier)",
        "",
        f"- Architecture: `{summary['model']}`, input {summary['imgsz']} px "
        "(short side resized, centre crop; ultralytics' classify transforms)",
        f"- Classes: {', '.join(f'{i}: {n}' for i, n in enumerate(summary['classes']))}",
        f"- Data: `{summary['data']}`"
        + (f" (split by segflow: {summary['split']})" if summary.get("split") else ""),
        f"- Epochs: {summary['epochs_run']} of {summary['epochs']}, {summary['train_time_s']} s",
        f"- Command: `{summary['command']}`",
        f"- ONNX export: `{summary['onnx']}`" if summary.get("onnx") else "- ONNX export: failed (see the log)",
        "",
        "| split | images | top-1 | " + " | ".join(f"{n} recall" for n in summary["classes"]) + " |",
        "|---|---|---|" + "---|" * len(summary["classes"]),
    ]
    for split in ("val", "test"):
        if split in summary["scores"]:
            s = summary["scores"][split]
            cells = " | ".join(f"{s['per_class'][n]['recall']:.3f}" for n in summary["classes"])
            lines.append(f"| {split} | {s['images']} | {s['top1']:.3f} | {cells} |")
    return "\n".join(lines) + "\n"


def train_classify(args: argparse.Namespace, command: str) -> int:
    """The ``--task classify`` path of ``segflow train``."""
    from segflow.tools.export import EXPORT
    from segflow.tools.ultralytics_offline import EpochProgress, offline_ultralytics

    out = Path(args.out).resolve()
    try:
        data = read_dataset(Path(args.data), args.val_fraction, args.seed)
    except DataError as exc:
        print(f"segflow train: {exc}", file=sys.stderr)
        return EXIT_INVALID
    root = write_split(data, out / "data") if data.made_split else data.root.resolve()
    offline_ultralytics()
    from ultralytics import YOLO

    progress = EpochProgress(out / "epochs.jsonl", metrics={"top-1": "metrics/accuracy_top1"})
    t0 = time.monotonic()
    try:
        model = YOLO(str(args.model))
        model.add_callback("on_fit_epoch_end", progress)
        model.train(data=str(root), epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, device=args.device,
                    workers=args.workers, project=str(out.parent), name=out.name, exist_ok=True,
                    patience=args.patience, seed=args.seed, deterministic=True, plots=False, amp=False,
                    verbose=False, pretrained=str(args.model).endswith(".pt"))
    except (FileNotFoundError, RuntimeError, SyntaxError, KeyError, ValueError) as exc:  # ValueError: settings
        print(f"segflow train: training failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    onnx = best.with_suffix(".onnx")
    exported = EXPORT.run(argparse.Namespace(model=str(best), format="onnx", imgsz=args.imgsz, out=str(onnx),
                                             dynamic=True, opset=None)) == 0
    summary = {
        "command": command,
        "data": str(args.data),
        "split": (f"{args.val_fraction:.0%} of each class to val, shuffled with seed {args.seed}, "
                  f"written under {root}") if data.made_split else None,
        "model": str(args.model),
        "classes": data.classes,
        "epochs": int(trainer.epochs),
        "epochs_run": int(trainer.epoch) + 1,
        "imgsz": int(args.imgsz),
        "weights": str(best),
        "onnx": str(onnx) if exported else None,
        "train_time_s": round(time.monotonic() - t0, 1),
        "scores": {split: score(best, data.splits[split], args.imgsz, args.device) for split in ("val", "test")
                   if split in data.splits},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(model_card(summary))
    print(json.dumps(summary["scores"], indent=2))
    print(f"best weights: {best}\nonnx: {summary['onnx']}\nmodel card: {out / 'MODEL_CARD.md'}")
    return EXIT_OK if exported else EXIT_FAILED
