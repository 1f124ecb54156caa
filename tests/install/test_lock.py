"""requirements/lock.txt is a whole, consistent environment with one OpenCV, inside pyproject's ranges.

`make setup` installs the lock with ``--no-deps``, so nothing but this file decides
what ends up installed; these tests check it the way pip would have: every
locked distribution's own requirements (read from its installed metadata) are
met by the lock, except that the GUI OpenCV build ultralytics and trackers ask
for is met by the headless one, which provides the same ``cv2``.
"""

from __future__ import annotations

import hashlib
import sys
from importlib.metadata import PackageNotFoundError, distribution, distributions
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "lock.txt"
OPENCV = {"opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"}
EXTRAS_MAKE_INSTALLS = ("yolo", "sam", "sinks", "line", "ui", "track", "ray", "dev")


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert line.count("==") == 1 and not line.startswith("-"), f"lock line is not name==version: {line!r}"
        name, version = line.split("==")
        pins[canonicalize_name(name)] = Version(version)
    return pins


def unmet(requirement: Requirement, pins: dict[str, Version]) -> str | None:
    """Why the lock does not satisfy ``requirement``, or None when it does."""
    name = canonicalize_name(requirement.name)
    if name in OPENCV:  # any OpenCV build provides cv2: the locked one stands in for the others
        (name,) = OPENCV & pins.keys()
    if name not in pins:
        return f"{requirement} is not in the lock"
    if not requirement.specifier.contains(pins[name], prereleases=True):
        return f"{requirement} but the lock has {name}=={pins[name]}"
    return None


def applies(requirement: Requirement, extras: tuple[str, ...] = ("",)) -> bool:
    return requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras)


def test_the_lock_holds_exactly_one_opencv_the_headless_build():
    assert OPENCV & locked().keys() == {"opencv-python-headless"}


def test_pyproject_states_ranges_and_the_lock_falls_inside_them():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in EXTRAS_MAKE_INSTALLS:
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    exact = [str(r) for r in wanted if any(s.operator in ("==", "===") for s in r.specifier)]
    assert exact == [], "exact pins belong in requirements/lock.txt, ranges in pyproject.toml"
    problems = [why for r in wanted if applies(r) and (why := unmet(r, pins))]
    assert problems == []
    assert pins["torch"] == Version("2.14.1") and pins["torchvision"] == Version("0.29.1")  # served from local disk


def test_every_locked_distribution_finds_its_requirements_in_the_lock():
    pins = locked()
    problems, checked = [], 0
    for name, version in pins.items():
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        if Version(dist.version) != version:  # metadata of another release says nothing about this one
            continue
        checked += 1
        for text in dist.requires or []:
            requirement = Requirement(text)
            if applies(requirement) and (why := unmet(requirement, pins)):
                problems.append(f"{name}=={version} needs {why}")
    assert checked >= 0.9 * len(pins), f"only {checked} of {len(pins)} locked distributions are installed here"
    assert problems == []


def test_an_environment_built_by_make_setup_has_exactly_one_opencv():
    stamp = Path(sys.prefix) / ".segflow-installed"
    if not stamp.is_file():
        pytest.skip(f"{sys.prefix} was not built by `make setup` (no .segflow-installed): it may hold any OpenCV")
    installed = {canonicalize_name(d.metadata["Name"]) for d in distributions()} & OPENCV
    assert installed == {"opencv-python-headless"}
    assert hashlib.sha256(LOCK.read_bytes()).hexdigest() in stamp.read_text(), "the venv predates the lock"


def test_the_image_environments_are_pinned_from_the_current_lock():
    """requirements/edge.txt and full.txt are what scripts/image_locks.py writes from the lock today."""
    import subprocess

    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "image_locks.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    edge = (ROOT / "requirements" / "edge.txt").read_text()
    pinned = {canonicalize_name(line.split("==")[0]) for line in edge.splitlines() if "==" in line}
    assert "opencv-python-headless" in pinned and "onnxruntime" in pinned and "trackers" in pinned
    assert not {n for n in pinned if n.startswith(("torch", "nvidia-", "ultralytics", "triton"))}
    assert not pinned & (OPENCV - {"opencv-python-headless"})
