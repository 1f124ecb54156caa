"""`segflow run --serve`: a real run in a child process, scraped over HTTP on loopback while it runs."""

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

from prometheus_client.parser import text_string_to_metric_families

SEGFLOW = [sys.executable, "-m", "segflow.engine.cli"]

WORKFLOW = """\
version: 1
name: served
nodes:
  cam: {type: source.test_pattern, params: {frames: 0, width: 32, height: 24, fps: 50, realtime: true}}
  slow: {type: debug.simulated_model, params: {call_ms: 1, item_ms: 0, batch_size: 4, max_wait_ms: 20},
         inputs: {image: cam.image}}
  rec: {type: debug.record, params: {path: OUT}, inputs: {image: slow.image}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def scrape_until(url: str, done, proc: subprocess.Popen, timeout: float = 60.0):
    """Scrape until ``done(families)`` holds; the child must stay alive meanwhile."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            status, content_type, text = get(url)
        except OSError:  # not listening yet
            time.sleep(0.1)
            continue
        assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
        last = {f.name: f for f in text_string_to_metric_families(text)}
        try:
            if done(last):
                return last
        except KeyError:  # scraped before the run set its nodes up: no sample yet, not a failure
            pass
        time.sleep(0.1)
    raise AssertionError(f"the scrape never showed what was expected; last: {last}")


def value(families, name: str, **labels: str) -> float:
    """The sample called ``name`` (a counter's without ``_total``) with these labels, in any family."""
    for family in families.values():
        for sample in family.samples:
            if sample.name in (name, f"{name}_total") and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise KeyError((name, labels))


def test_metrics_and_health_are_served_during_a_run(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.replace("OUT", str(tmp_path / "out.jsonl")))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*SEGFLOW, "run", str(path), "--serve", f"127.0.0.1:{port}", "--quiet"],
                            stderr=subprocess.PIPE, text=True)
    try:
        got = scrape_until(f"{base}/metrics",
                           lambda f: "segflow_node_calls" in f and value(f, "segflow_node_items", node="slow") >= 20,
                           proc)
        status, content_type, body = get(f"{base}/healthz")
        later = scrape_until(f"{base}/metrics",
                             lambda f: value(f, "segflow_source_frames", source="cam")
                             > value(got, "segflow_source_frames", source="cam"), proc)
        missing = get(f"{base}/nope")[0]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "serving metrics on http://127.0.0.1:" in stderr
    assert status == 200 and content_type == "application/json" and missing == 404
    assert json.loads(body) == {"status": "ok", "workflow": "served", "sources": {"cam": {"up": True, "detail": ""}}}
    assert value(got, "segflow_run_info", workflow="served") == 1
    assert value(got, "segflow_source_up", source="cam") == 1
    assert value(got, "segflow_source_fps", source="cam") > 0
    assert value(got, "segflow_node_errors", node="slow", type="debug.simulated_model") == 0
    # histograms: cumulative buckets ending in +Inf == _count == the node's calls; batch sum == items
    for name in ("segflow_node_latency_seconds", "segflow_node_batch_size"):
        family = later[name]
        assert family.type == "histogram"
        buckets = [s for s in family.samples if s.name == f"{name}_bucket" and s.labels["node"] == "slow"]
        counts = [s.value for s in buckets]
        assert counts == sorted(counts) and buckets[-1].labels["le"] == "+Inf"
        assert value(later, f"{name}_count", node="slow") == counts[-1]
    calls = value(later, "segflow_node_calls", node="slow")
    items = value(later, "segflow_node_items", node="slow")
    assert value(later, "segflow_node_latency_seconds_count", node="slow") == calls
    assert value(later, "segflow_node_batch_size_sum", node="slow") == items
    assert value(later, "segflow_node_latency_seconds_bucket", node="slow", le="0.001") == 0  # each call sleeps 1 ms


def test_a_port_in_use_is_refused_before_the_run(tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.replace("OUT", str(tmp_path / "out.jsonl")).replace("frames: 0", "frames: 3"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*SEGFLOW, "run", str(path), "--serve", f"127.0.0.1:{port}"],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"--serve 127.0.0.1:{port}: cannot listen there" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_a_bad_address_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([*SEGFLOW, "run", str(tmp_path / "wf.yaml"), "--serve", "9100"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "is not HOST:PORT, e.g. 127.0.0.1:9100" in result.stderr
