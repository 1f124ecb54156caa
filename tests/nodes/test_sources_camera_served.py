"""A camera going down and coming back, as a monitoring stack sees it through `segflow run --serve`.

A real `segflow run` child reads an MJPEG camera served on loopback; the test
kills the camera, checks that /healthz turns 503 naming the source (password
masked) and that /metrics counts the drop, restarts the camera on the same
port and checks the run is healthy again with one reconnect.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from mjpeg import MjpegServer
from prometheus_client.parser import text_string_to_metric_families

SECRET = "pa55-w0rd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_health(base: str, proc: subprocess.Popen, status: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            code, body = get(f"{base}/healthz")
        except OSError:
            code, body = 0, ""
        if code == status:
            return json.loads(body)
        time.sleep(0.05)
    raise AssertionError(f"/healthz never answered {status}")


def source_values(base: str) -> dict[str, float]:
    code, text = get(f"{base}/metrics")
    assert code == 200
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.labels.get("source") == "cam"}


def test_health_turns_503_while_the_camera_is_down_and_back_after_reconnect(tmp_path: Path) -> None:
    camera = MjpegServer(level=90)
    cam_port, port = camera.port, free_port()
    base = f"http://127.0.0.1:{port}"
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        "version: 1\nname: watched\nnodes:\n"
        f"  cam: {{type: source.camera, params: {{source: 'http://op:{SECRET}@127.0.0.1:{cam_port}/video.mjpg',"
        " read_timeout_s: 1, open_timeout_s: 2, reconnect_initial_s: 0.05, reconnect_max_s: 0.2, drop: oldest}}\n"
        f"  rec: {{type: debug.record, params: {{path: {tmp_path / 'out.jsonl'}}}, inputs: {{image: cam.image}}}}\n"
    )
    proc = subprocess.Popen([sys.executable, "-m", "segflow.engine.cli", "run", str(workflow), "--serve",
                             f"127.0.0.1:{port}", "--quiet"], stderr=subprocess.PIPE, text=True)
    restarted: list[MjpegServer] = []
    try:
        assert wait_health(base, proc, 200)["sources"] == {"cam": {"up": True, "detail": ""}}
        before = source_values(base)
        camera.kill()
        down = wait_health(base, proc, 503)
        while_down = source_values(base)
        restarted.append(MjpegServer(cam_port, level=150))
        up = wait_health(base, proc, 200)
        after = source_values(base)
    finally:
        camera.kill()
        for server in restarted:
            server.kill()
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert down["status"] == "unhealthy" and down["sources"]["cam"]["up"] is False
    detail = down["sources"]["cam"]["detail"]
    assert detail.startswith(("stream dropped", "cannot open http://op:***@127.0.0.1")), detail
    assert SECRET not in json.dumps(down) + stderr
    assert before["segflow_source_up"] == 1 and before["segflow_source_drops_total"] == 0
    assert while_down["segflow_source_drops_total"] == 1 and while_down["segflow_source_up"] == 0
    assert up["status"] == "ok" and after["segflow_source_reconnects_total"] == 1
    assert after["segflow_source_frames_total"] > while_down["segflow_source_frames_total"] > 0
