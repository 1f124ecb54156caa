"""Write requirements/edge.txt and full.txt: the images' environments, pinned from the lock.

edge.txt is the torch-free environment (the edge, track, sinks and serve extras);
full.txt adds YOLO on ultralytics and SAM2 (torch).

The closure is walked through the installed distributions' own metadata
(Requires-Dist, markers evaluated for this interpreter), so no index is
asked. Versions come from requirements/lock.txt. The GUI OpenCV that
`trackers` declares is left out: the lock's headless build provides the same
`cv2`, and two builds in one environment overwrite each other.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
ENVIRONMENTS = {
    "edge": ("edge", "track", "sinks", "serve"),
    "full": ("yolo", "sam", "edge", "track", "sinks", "serve"),
}
# Installed beside an extra rather than by it: sam2 ships only as an sdist built against torch.
ALSO = {"full": ("sam2",)}
LEFT_OUT = {"opencv-python": "the GUI build; opencv-python-headless provides cv2",
            "opencv-contrib-python": "a second OpenCV build"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#") and "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = f"{name}=={version.strip()}"
    return pins


def applies(req: Requirement, extras: set[str]) -> bool:
    """Whether ``req`` is needed for this interpreter when its owner was asked with ``extras``."""
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": extra}) for extra in extras | {""})


def closure(pins: dict[str, str], extras: tuple[str, ...], also: tuple[str, ...] = ()) -> list[str]:
    wanted = [Requirement(r) for r in metadata.requires("segflow") or []]
    wanted = [r for r in wanted if applies(r, set(extras))] + [Requirement(r) for r in also]
    seen: set[str] = set()
    while wanted:
        req = wanted.pop()
        name = canonical(req.name)
        if name in seen or name in LEFT_OUT:
            continue
        if name not in pins:
            raise SystemExit(f"{req.name} (needed by the edge environment) is not in {LOCK.name}")
        seen.add(name)
        subs = [Requirement(r) for r in metadata.requires(req.name) or []]
        wanted.extend(r for r in subs if applies(r, set(req.extras)))
    return sorted(pins[n] for n in seen)


def render(name: str, extras: tuple[str, ...], pins: dict[str, str]) -> str:
    lines = closure(pins, extras, ALSO.get(name, ()))
    header = [
        f"# The {name} image's environment: segflow's {', '.join(extras)} extras"
        + "".join(f" and {a}" for a in ALSO.get(name, ())) + ", pinned from lock.txt.",
        "# Written by `make image-locks` (scripts/image_locks.py); install with --no-deps, then segflow itself:",
        f"#   pip install --no-deps -r requirements/{name}.txt && pip install --no-deps segflow",
        "# Left out: " + "; ".join(f"{k} ({v})" for k, v in LEFT_OUT.items()),
    ]
    return "\n".join(header + lines) + "\n"


def main(argv: list[str]) -> int:
    """Write the files, or with --check say which are stale (exit 1)."""
    pins = lock_pins()
    stale = []
    for name, extras in ENVIRONMENTS.items():
        path = ROOT / "requirements" / f"{name}.txt"
        text = render(name, extras, pins)
        if "--check" in argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
            continue
        path.write_text(text)
        print(f"{path.relative_to(ROOT)}: {text.count(chr(10)) - 4} packages")
    if stale:
        print(f"stale: {', '.join(stale)}; run `make image-locks`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
