"""`segflow calibrate` and `segflow lens-blur`: a camera's intrinsics, distortion and lens blur from photos.

Print a checkerboard or a ChArUco board, photograph it flat from a dozen
angles that fill different parts of the frame, and run::

    segflow calibrate shots/*.png --board charuco --squares 9x6 --square-mm 20 --out camera.yaml

OpenCV finds the board corners (sub-pixel) and solves the pinhole model with
five distortion coefficients; the file written is what ``undistort.image``
applies. A ChArUco board may be partly hidden or cut by the frame edge; a
checkerboard must be wholly visible.

``segflow lens-blur card.png`` measures the lens's blur from the edges of large
flat patches (:mod:`segflow.vision.lens_blur`) and prints the two lines
``measure.masks`` takes (``lens_blur_px``, ``lens_blur_px_u``).
"""

from __future__ import annotations

import argparse
import glob
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.vision.calibration import BoardInfo, Calibration, save_calibration
from segflow.vision.lens_blur import LensBlur, lens_blur

MIN_VIEWS = 3
MIN_CHARUCO_CORNERS = 6


def parse_squares(text: str) -> tuple[int, int]:
    """'9x6' -> (9, 6): squares across and down."""
    try:
        cols, rows = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--squares wants COLSxROWS such as 9x6, got {text!r}") from exc
    if cols < 3 or rows < 3:
        raise argparse.ArgumentTypeError(f"a board needs at least 3x3 squares, got {text!r}")
    return cols, rows


def find_corners(gray: np.ndarray, board: BoardInfo) -> tuple[np.ndarray, np.ndarray] | None:
    """(object points in mm, image points in px) of one view, or None where no board is found."""
    cols, rows = board.squares
    if board.type == "checkerboard":
        ok, corners = cv2.findChessboardCornersSB(gray, (cols - 1, rows - 1), cv2.CALIB_CB_ACCURACY)
        if not ok:
            return None
        grid = np.mgrid[1:cols, 1:rows].T.reshape(-1, 2).astype(np.float32) * board.square_mm
        return np.column_stack([grid, np.zeros(len(grid), np.float32)]), corners.reshape(-1, 2)
    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, board.dictionary or "DICT_4X4_50"))
    charuco = cv2.aruco.CharucoBoard((cols, rows), board.square_mm, board.marker_mm, dictionary)
    corners, ids, _, _ = cv2.aruco.CharucoDetector(charuco).detectBoard(gray)
    if ids is None or len(ids) < MIN_CHARUCO_CORNERS:
        return None
    objects = charuco.getChessboardCorners()[ids.ravel()].astype(np.float32)
    return objects, corners.reshape(-1, 2).astype(np.float32)


def read_gray(paths: list[Path]) -> Iterator[tuple[str, np.ndarray]]:
    """(name, grey image) of each path, read when needed."""
    for path in paths:
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise ValueError(f"{path}: not an image OpenCV can read")
        yield str(path), gray


def calibrate(
    views: Iterable[tuple[str, np.ndarray]], board: BoardInfo, free_k3: bool = False
) -> tuple[Calibration, list[str]]:
    """Solve from the (name, grey image) views in which the board is found; also returns the names without one.

    The third radial term k3 stays 0 unless ``free_k3``: for ordinary lenses it only
    trades off against k2 inside the boards' reach and bends the model wildly
    beyond it (several pixels in corners no board covered).
    """
    objects, images, missed = [], [], []
    size: tuple[int, int] | None = None
    total = 0
    for name, gray in views:
        total += 1
        here = (gray.shape[1], gray.shape[0])
        if size is not None and here != size:
            raise ValueError(
                f"{name} is {here[0]}x{here[1]} px, the images before it {size[0]}x{size[1]}: "
                "calibrate one camera at one resolution"
            )
        size = here
        found = find_corners(gray, board)
        if found is None:
            missed.append(name)
            continue
        objects.append(found[0])
        images.append(found[1])
    if len(objects) < MIN_VIEWS or size is None:
        raise ValueError(
            f"the board was found in {len(objects)} of {total} images; at least {MIN_VIEWS} are needed "
            f"(check --board, --squares {board.squares[0]}x{board.squares[1]} and the photos' focus)"
        )
    flags = 0 if free_k3 else cv2.CALIB_FIX_K3
    rms, k, dist, _, _ = cv2.calibrateCamera(objects, images, size, None, None, flags=flags)
    calibration = Calibration(
        image_size=size,
        camera_matrix=k.tolist(),
        distortion=dist.ravel().tolist(),
        rms_px=float(rms),
        views=len(objects),
        board=board,
    )
    return calibration, missed


def _expand(patterns: list[str]) -> list[Path]:
    """Paths as given, with any glob patterns (quoted on the command line) expanded, sorted."""
    out: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        out.extend(Path(m) for m in matches)
    return out


class CalibrateCommand:
    help = "solve camera intrinsics and lens distortion from checkerboard/ChArUco photos"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("images", nargs="+", help="photos of the board (files or quoted glob patterns)")
        parser.add_argument("--board", choices=("checkerboard", "charuco"), required=True, help="board type")
        parser.add_argument(
            "--squares",
            type=parse_squares,
            default=(9, 6),
            help="squares across x down, e.g. 9x6 (default; a checkerboard has one inner corner fewer each way)",
        )
        parser.add_argument("--square-mm", type=float, required=True, help="side of one square in mm")
        parser.add_argument(
            "--marker-mm", type=float, default=None, help="charuco: side of a marker in mm (default 0.75 x square)"
        )
        parser.add_argument("--dictionary", default="DICT_4X4_50", help="charuco: ArUco dictionary")
        parser.add_argument(
            "--free-k3",
            action="store_true",
            help="also solve the third radial term (wide-angle lenses; needs boards in every corner)",
        )
        parser.add_argument("--out", default="calibration.yaml", help="calibration file to write (.yaml or .json)")

    def run(self, args: argparse.Namespace) -> int:
        if args.square_mm <= 0:
            print("segflow calibrate: --square-mm must be positive", file=sys.stderr)
            return EXIT_INVALID
        if args.board == "charuco" and not hasattr(cv2.aruco, str(args.dictionary)):
            print(f"segflow calibrate: unknown ArUco dictionary {args.dictionary!r}", file=sys.stderr)
            return EXIT_INVALID
        marker = args.marker_mm if args.marker_mm is not None else 0.75 * args.square_mm
        if args.board == "charuco" and not 0 < marker < args.square_mm:
            print("segflow calibrate: --marker-mm must be between 0 and --square-mm", file=sys.stderr)
            return EXIT_INVALID
        board = BoardInfo(
            type=args.board,
            squares=args.squares,
            square_mm=args.square_mm,
            marker_mm=marker if args.board == "charuco" else None,
            dictionary=args.dictionary if args.board == "charuco" else None,
        )
        paths = _expand(args.images)
        absent = [p for p in paths if not p.is_file()]
        if absent or not paths:
            print(f"segflow calibrate: no such image: {', '.join(map(str, absent)) or args.images}", file=sys.stderr)
            return EXIT_INVALID
        try:
            calibration, missed = calibrate(read_gray(paths), board, args.free_k3)
        except ValueError as exc:
            print(f"segflow calibrate: {exc}", file=sys.stderr)
            return EXIT_INVALID
        out = Path(args.out)
        try:
            save_calibration(calibration, out)
        except OSError as exc:
            print(f"segflow calibrate: cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_FAILED
        for name in missed:
            print(f"no board found in {name} (skipped)", file=sys.stderr)
        print(f"{out}: {calibration.views} views, RMS reprojection error {calibration.rms_px:.3f} px")
        return EXIT_OK


CALIBRATE = CalibrateCommand()


class LensBlurCommand:
    help = "measure the lens's blur (sigma, px) from pictures of sharp-edged patches, for measure.masks"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("images", nargs="+",
                            help="pictures of large dark patches on a light card (or the reverse), taken where "
                                 "the parts will be and in the same focus (files or quoted glob patterns)")

    def run(self, args: argparse.Namespace) -> int:
        paths = _expand(args.images)
        absent = [p for p in paths if not p.is_file()]
        if absent or not paths:
            print(f"segflow lens-blur: no such image: {', '.join(map(str, absent)) or args.images}", file=sys.stderr)
            return EXIT_INVALID
        found: list[LensBlur] = []
        for path in paths:
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                print(f"segflow lens-blur: {path}: not an image OpenCV can read", file=sys.stderr)
                return EXIT_INVALID
            blur = lens_blur(image)
            if isinstance(blur, str):
                print(f"segflow lens-blur: {path}: {blur}", file=sys.stderr)
                return EXIT_INVALID
            print(f"{path}: sigma {blur.sigma:.3f} px ± {blur.sigma_u:.3f} from {blur.patches} patches "
                  f"(spread {blur.spread:.3f} px)")
            found.append(blur)
        sigmas = [b.sigma for b in found]
        sigma = float(np.mean(sigmas))
        # the pictures' own scatter, or their stated uncertainties, whichever is larger
        scatter = float(np.std(sigmas, ddof=1)) if len(sigmas) > 1 else 0.0
        stated = max(b.sigma_u for b in found)
        sigma_u = max(scatter, stated)
        if scatter > 3 * stated:
            print("segflow lens-blur: the pictures disagree beyond their uncertainties: is the focus the same in "
                  "each?", file=sys.stderr)
        print("\nfor measure.masks' params:")
        print(f"  lens_blur_px: {sigma:.3f}")
        print(f"  lens_blur_px_u: {sigma_u:.3f}")
        return EXIT_OK


LENS_BLUR = LensBlurCommand()
