"""A real ``segflow serve`` on a free loopback port, started once per module and killed by PID."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "assets/samples/conveyor.mp4"
MODEL = ROOT / "assets/models/coffee-stones-seg.pt"
TOKEN = "s3rve-t0ken-for-tests"
CONFIDENCE_INPUT = "inputs:\n  confidence: {kind: number, default: 0.35, min: 0, max: 1}"
START_TIMEOUT_S = 300.0  # two cores shared by many: loading the model may take minutes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def conveyor_frame(index: int) -> bytes:
    capture = cv2.VideoCapture(str(VIDEO))
    capture.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, pixels = capture.read()
    capture.release()
    assert ok, f"cannot read frame {index} of {VIDEO}"
    return cv2.imencode(".png", pixels)[1].tobytes()


class Server:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url = url
        self.process = process
        self.log = log

    def alive(self) -> bool:
        return self.process.poll() is None


def start_server(tmp: Path, *args: str) -> Server:
    port = free_port()
    log = tmp / f"serve-{port}.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "segflow.serve", "--port", str(port), *args], cwd=ROOT,
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return Server(url, process, log)
        except httpx.TransportError:
            pass
        time.sleep(1)
    stop_server(process)
    raise AssertionError(f"the server did not answer within {START_TIMEOUT_S:g} s:\n{log.read_text()}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(30)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Server:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is not there (make it: assets/models/MODEL_CARD.md)")
    tmp = tmp_path_factory.mktemp("serve")
    with_input = tmp / "stones_at.yaml"  # the flagship with its detector's confidence as a workflow input
    text = (ROOT / "workflows/coffee_stones.yaml").read_text()
    with_input.write_text(text.replace("name: coffee-stones", f"name: stones-at\n{CONFIDENCE_INPUT}")
                          .replace("confidence: 0.35", "confidence: $inputs.confidence"))
    running = start_server(tmp, "workflows/coffee_stones.yaml", str(with_input), "--token", TOKEN,
                           "--max-pixels", "1000000", "--max-body-mb", "4")
    yield running
    stop_server(running.process)
