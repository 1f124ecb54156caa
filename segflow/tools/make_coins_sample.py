"""Write scikit-image's coins() photograph to assets/samples/coins.png.

The photo (Greek coins from Pompeii, public domain, shipped inside
scikit-image) is the input of workflows/coins.yaml. Run once from the
repository root: ``python tools/make_coins_sample.py``; the PNG is committed,
so scikit-image is needed only to regenerate it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2


def main(out: str = "assets/samples/coins.png") -> int:
    from skimage import data

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), data.coins()):
        print(f"could not write {path}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({data.coins().shape[1]}x{data.coins().shape[0]} gray)")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
