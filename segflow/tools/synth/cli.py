"""`segflow generate`: write the synthetic datasets, videos and sample images.

``segflow generate samples --out assets/samples`` regenerates every sample the
example workflows use; ``segflow generate dataset --out DIR`` writes the YOLO-seg
training set the shipped coffee-stones model was trained on; ``segflow generate
crops --out DIR`` the class-folder crops the shipped conveyor classifier was.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK

KINDS = ("dataset", "crops", "video", "cherries", "concrete", "pipes", "parts", "tilted", "tray", "small_stones",
         "objects", "hairlines", "samples")
DEFAULT_SEEDS = {"dataset": 0, "crops": 0, "video": 7, "cherries": 3, "concrete": 5, "pipes": 11, "parts": 21,
                 "tilted": 22, "tray": 31, "small_stones": 31, "objects": 32, "hairlines": 41}
MODULES = {"parts": "parts", "tilted": "parts", "objects": "crops"}  # kinds written by a module of another name


def _bar(done: int, total: int) -> None:
    n = int(30 * done / total)
    sys.stderr.write(f"\r[{'#' * n}{'-' * (30 - n)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def write_samples(out: Path) -> list[Path]:
    """Write every sample (video + images, each with its ground-truth JSON) into ``out``."""
    from segflow.tools.synth.cherries import write_cherries
    from segflow.tools.synth.concrete import write_concrete
    from segflow.tools.synth.crops import write_objects
    from segflow.tools.synth.hairlines import write_hairlines
    from segflow.tools.synth.parts import write_parts, write_tilted
    from segflow.tools.synth.pipes import write_pipes
    from segflow.tools.synth.small_stones import write_small_stones
    from segflow.tools.synth.tray import write_tray
    from segflow.tools.synth.video import write_conveyor

    out = Path(out)
    write_conveyor(out / "conveyor.mp4", seed=DEFAULT_SEEDS["video"])
    write_cherries(out / "cherries.png", seed=DEFAULT_SEEDS["cherries"])
    write_concrete(out / "concrete.png", seed=DEFAULT_SEEDS["concrete"])
    write_pipes(out / "pipes.png", seed=DEFAULT_SEEDS["pipes"])
    write_parts(out / "parts.png", seed=DEFAULT_SEEDS["parts"])
    write_tilted(out / "tilted.png", seed=DEFAULT_SEEDS["tilted"])
    write_tray(out / "tray.png", seed=DEFAULT_SEEDS["tray"])
    write_small_stones(out / "small_stones.jpg", seed=DEFAULT_SEEDS["small_stones"])
    write_objects(out / "objects.png", seed=DEFAULT_SEEDS["objects"])
    write_hairlines(out / "hairlines.png", seed=DEFAULT_SEEDS["hairlines"])
    names = ("conveyor.mp4", "cherries.png", "concrete.png", "pipes.png", "parts.png", "tilted.png", "tray.png",
             "small_stones.jpg", "objects.png", "hairlines.png", "lens_card.png")
    extra = [out / "tilted_camera.yaml"]
    return [out / n for n in names] + [(out / n).with_suffix(".json") for n in names] + extra


class GenerateCommand:
    help = "generate synthetic data with ground truth: a YOLO-seg dataset, the conveyor video, samples"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "what",
            choices=KINDS,
            help="dataset (YOLO-seg folder), crops (class folders: bean, debris, stone), video (.mp4), "
            "cherries/concrete/pipes/parts/tilted/tray/objects/hairlines (.png; tilted also writes its camera "
            "calibration, hairlines the lens card lens_card.png beside it), "
            "small_stones (.jpg, 3200 px wide, for tiled detection), samples (all of the sample files into a folder)",
        )
        parser.add_argument(
            "--out",
            required=True,
            help="output folder (dataset, samples) or file (video .mp4, images .png)",
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed (default per kind)")
        parser.add_argument("--train", type=int, default=240,
                            help="dataset: training images; crops: training crops per class (default 240)")
        parser.add_argument("--val", type=int, default=60,
                            help="dataset: validation images; crops: validation crops per class (default 60)")
        parser.add_argument("--test", type=int, default=150, help="crops: held-out crops per class (default 150)")
        parser.add_argument("--videos", type=int, default=0,
                            help="dataset: also the frames of this many generated conveyor videos, through H.264, "
                            "in the training split (a moving belt's motion blur and a video's compression; default 0)")
        parser.add_argument("--val-videos", type=int, default=0,
                            help="dataset: the frames of this many more videos in the validation split (default 0)")
        parser.add_argument("--every", type=int, default=3,
                            help="dataset: keep every this many frames of each video (default 3: 50 of 150)")

    def run(self, args: argparse.Namespace) -> int:
        out = Path(args.out)
        seed = DEFAULT_SEEDS.get(args.what, 0) if args.seed is None else args.seed
        suffix = {"video": ".mp4", "cherries": ".png", "concrete": ".png", "pipes": ".png", "parts": ".png",
                  "tilted": ".png", "tray": ".png", "small_stones": ".jpg", "objects": ".png",
                  "hairlines": ".png"}.get(args.what)
        if suffix and out.suffix.lower() != suffix:
            print(
                f"segflow generate {args.what}: --out must be a {suffix} file, got {out}",
                file=sys.stderr,
            )
            return EXIT_INVALID
        if args.what in ("dataset", "crops") and (args.train < 1 or args.val < 1):
            print(f"segflow generate {args.what}: --train and --val must be at least 1", file=sys.stderr)
            return EXIT_INVALID
        if args.videos < 0 or args.val_videos < 0 or args.every < 1:
            print(f"segflow generate {args.what}: --videos and --val-videos must be at least 0, --every at least 1",
                  file=sys.stderr)
            return EXIT_INVALID
        try:
            if args.what == "dataset":
                from segflow.tools.synth.dataset import write_dataset

                data = write_dataset(out, args.train, args.val, seed=seed, progress=_bar, videos=args.videos,
                                     val_videos=args.val_videos, every=args.every)
                print(f"dataset: {data}  (train with: segflow train {data})")
            elif args.what == "crops":
                from segflow.tools.synth.crops import write_crops

                splits = {"train": args.train, "val": args.val, "test": args.test}
                counts = write_crops(out, {k: n for k, n in splits.items() if n > 0}, seed=seed, progress=_bar)
                print(f"crops: {out}  {counts}  (train with: segflow train --task classify {out})")
            elif args.what == "video":
                from segflow.tools.synth.video import write_conveyor

                truth = write_conveyor(out, seed=seed)
                print(f"video: {out}  ground truth: {out.with_suffix('.json')}  stones: {truth['stone_count']}")
            elif args.what == "samples":
                for path in write_samples(out):
                    print(path)
            else:
                module = __import__(f"segflow.tools.synth.{MODULES.get(args.what, args.what)}", fromlist=["x"])
                getattr(module, f"write_{args.what}")(out, seed=seed)
                print(f"{args.what}: {out}  ground truth: {out.with_suffix('.json')}")
        except OSError as exc:
            print(f"segflow generate {args.what}: cannot write {out}: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK


GENERATE = GenerateCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow generate", description=GENERATE.help)
    GENERATE.add_arguments(parser)
    return GENERATE.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
