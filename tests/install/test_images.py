"""The edge container image, built from the repo's definitions and run as a user would.

containers/build.sh makes the Debian base with mmdebstrap (no registry pull is
possible here), gathers requirements/edge.txt's wheels with this machine's pip,
and builds with podman. The test then runs the image: no torch inside, one
OpenCV, the stone line on the shipped model's ONNX export finds stones, and
the image's own command (`segflow serve` off loopback, with a token) answers a
posted conveyor frame with its stones. Minutes on a fresh machine (the base
alone is about 3), seconds once the base exists.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TAG = f"localhost/segflow-edge:test-{os.getpid()}"  # two suites on one machine never share a tag
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
RUN = ["--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1000:1000"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("podman") is None or shutil.which("mmdebstrap") is None,
                       reason="podman and mmdebstrap are installed by `make test` (scripts/system-deps.sh)"),
]


def podman(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def edge_image() -> str:
    res = subprocess.run(["bash", str(ROOT / "containers" / "build.sh"), "edge", TAG],
                         capture_output=True, text=True, timeout=2400, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    yield TAG
    podman("rmi", "-f", TAG)


def run_in(image: str, script: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return podman("run", "--rm", *RUN, image, "sh", "-c", script, timeout=timeout)


def test_the_edge_image_has_no_torch_and_one_opencv(edge_image):
    res = run_in(edge_image, "python -c 'import torch' 2>&1; pip list 2>/dev/null; "
                 "python -m pip --version 2>&1; python -c 'import cv2, onnxruntime; print(cv2.__file__)'")
    assert "No module named 'torch'" in res.stdout
    assert "/opt/segflow/lib/python3.11/site-packages/cv2/" in res.stdout
    listed = run_in(edge_image, "ls /opt/segflow/lib/python3.11/site-packages").stdout.split()
    assert [n for n in listed if n.lower().startswith("opencv")] == [
        n for n in listed if n.lower().startswith("opencv_python_headless")]
    size = int(podman("image", "inspect", "--format", "{{.Size}}", edge_image).stdout)
    assert size < 1_000_000_000, f"the edge image is {size / 1e6:.0f} MB"


def test_the_edge_image_runs_the_stone_line_on_onnx(edge_image):
    script = ("segflow run workflows/edge_stones.yaml --max-frames 12 >/dev/null 2>run.err; echo rc=$?; "
              "cat out/edge_stones/stones.jsonl; tail -3 run.err >&2")
    res = run_in(edge_image, script)
    lines = res.stdout.splitlines()
    assert lines[0] == "rc=0", res.stderr
    stones = [json.loads(line) for line in lines[1:]]
    assert len(stones) >= 12 and {s["class"] for s in stones} == {"stone"}, shlex.quote(res.stderr)
    assert all(3 < s["feret_max_mm"] < 25 for s in stones)  # the sample's stones are 4-16 mm long
    assert {s["edge_method"] for s in stones} == {"mask"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def conveyor_frame(index: int = 110) -> bytes:
    import cv2

    video = cv2.VideoCapture(str(ROOT / "assets" / "samples" / "conveyor.mp4"))
    for _ in range(index + 1):
        ok, frame = video.read()
        assert ok
    video.release()
    return cv2.imencode(".png", frame)[1].tobytes()


def test_the_edge_image_serves_the_stone_line_to_a_posted_frame(edge_image, tmp_path):
    import httpx

    token = tmp_path / "token"
    token.write_text("s3cret-for-the-test\n")
    token.chmod(0o644)  # read by the image's unprivileged user
    port, name = free_port(), f"segflow-test-{free_port()}"
    # The image's own command, on a free port (this machine's containers share the host's network).
    res = podman("run", "-d", "--name", name, *RUN, "-v", f"{token}:/run/secrets/segflow-token:ro", edge_image,
                 "segflow", "serve", "--host", "0.0.0.0", "--port", str(port),
                 "--token-file", "/run/secrets/segflow-token", "workflows/edge_stones.yaml")
    assert res.returncode == 0, res.stderr
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180  # the model loads before the server answers; busy machines are slow
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, podman("logs", name).stderr[-3000:]
            time.sleep(1)
        refused = httpx.post(f"{url}/workflows/edge-stones/run", files={"image": ("f.png", b"x", "image/png")},
                             timeout=60)
        assert refused.status_code == 401  # off loopback, no token: no answer but a refusal
        answer = httpx.post(f"{url}/workflows/edge-stones/run", headers={"Authorization": "Bearer s3cret-for-the-test"},
                            files={"image": ("frame.png", conveyor_frame(), "image/png")}, timeout=300)
        assert answer.status_code == 200, answer.text
        [result] = answer.json()["results"]
        stones = result["records"]["log"]
        assert len(stones) >= 4 and {s["class"] for s in stones} == {"stone"}, result  # 7 stones in frame 110
        assert all(3 < s["feret_max_mm"] < 25 for s in stones)
        assert "s3cret" not in podman("logs", name).stderr
    finally:
        podman("rm", "-f", name)
