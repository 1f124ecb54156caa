"""The ray executor on a real multi-node Ray cluster on this machine (ray.cluster_utils.Cluster).

A head and two worker nodes; shards need the custom resource ``shard_slot``,
which only the workers have, so shards land on the workers and the sinks (on
the driver's node, the head) survive a worker being killed.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from segflow.engine.api import loads  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
SEGFLOW = [sys.executable, "-m", "segflow.engine.cli"]

WORKFLOW = """
version: 1
name: ray-test
settings:
  max_inflight: 8
  ray: {{shard_resources: {{cpu: 0.25, shard_slot: 1}}}}
nodes:
  cam1: {{type: source.test_pattern, params: {{frames: {frames}, width: 48, height: 32, seed: 1}}}}
  cam2: {{type: source.test_pattern, params: {{frames: {frames}, width: 48, height: 32, seed: 2}}}}
  cam3: {{type: source.test_pattern, params: {{frames: {frames}, width: 48, height: 32, seed: 3}}}}
  model:
    type: debug.simulated_model
    params: {{batch_size: 4, call_ms: {call_ms}, item_ms: 0.5, max_wait_ms: 5}}
    resources: {{cpu: 0.25, model_slot: 1}}
    inputs: {{image: [cam1.image, cam2.image, cam3.image]}}
  inv: {{type: debug.invert, inputs: {{image: model.image}}}}
  plain_stats: {{type: debug.stats, inputs: {{image: model.image}}}}
  inv_stats: {{type: debug.stats, inputs: {{image: inv.image}}}}
  join: {{type: debug.merge, inputs: {{a: plain_stats.value, b: inv_stats.value}}}}
  boom: {{type: debug.fail, params: {{frames: {boom}, exception: {exception}}}, inputs: {{image: inv.image}}}}
  rec: {{type: debug.record, params: {{path: {path}}}, inputs: {{image: boom.image, value: join.value}}}}
  log: {{type: sink.jsonl, params: {{path: {log}}}, inputs: {{value: join.value}}}}
"""


def workflow(tmp_path: Path, frames: int = 25, call_ms: float = 2, boom=(), exception: str = "NodeError") -> str:
    return WORKFLOW.format(frames=frames, call_ms=call_ms, boom=list(boom), exception=exception,
                           path=tmp_path / "rec.jsonl", log=tmp_path / "log.jsonl")


def records(path: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[row["source"]].append(row)
    return dict(out)


def start_cluster() -> tuple[Cluster, list]:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "resources": {"model_slot": 1}})
    workers = [cluster.add_node(num_cpus=1, resources={"shard_slot": 2}) for _ in range(2)]
    cluster.wait_for_nodes()
    return cluster, workers


@pytest.fixture(scope="module")
def cluster():
    cluster, _ = start_cluster()
    yield cluster
    cluster.shutdown()


def test_ray_equals_sequential_and_shards_run_on_different_nodes(cluster, tmp_path):
    report = loads(workflow(tmp_path)).run(executor="ray", address=cluster.address)
    assert report.exit_code == 0 and report.frames == 75 and report.failures == 0
    ray_rows = records(tmp_path / "rec.jsonl")
    plain_dir = tmp_path / "plain"
    plain_dir.mkdir()
    loads(workflow(plain_dir)).run_sequential()
    assert ray_rows == records(plain_dir / "rec.jsonl")  # same values, same per-source order
    for rows in ray_rows.values():
        assert [r["frame"] for r in rows] == list(range(25))
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(logged) == 75 and len({r["record_id"].split("-cam")[0] for r in logged}) == 1  # one run, one id
    nodes = {p["ray_node"] for p in report.placement}
    assert len(report.placement) == 3 and len(nodes) == 2  # three shards over the two worker nodes
    ray.init(address=cluster.address)
    try:
        hosts_models = {n["NodeID"] for n in ray.nodes() if n["Alive"] and n["Resources"].get("model_slot")}
    finally:
        ray.shutdown()
    assert len(hosts_models) == 1 and not hosts_models & nodes  # the head runs no shard
    model = next(m for m in report.nodes if m.node_id == "model")
    assert model.items == 75 and model.calls < 75  # batches gathered across the shards
    inv = next(m for m in report.nodes if m.node_id == "inv")
    assert inv.items == 75  # one node's metrics, merged from the three shards


def test_the_drivers_hooks_hear_of_every_source_and_every_failure_on_the_shards(cluster, tmp_path):
    from segflow.engine.observe.hooks import RunHooks

    class Heard(RunHooks):
        def __init__(self):
            self.sources, self.failures, self.done = {}, [], 0

        def on_start(self, *, sources=None, **kwargs):
            self.sources = {sid: view.health().up for sid, view in (sources or {}).items()}

        def on_failure(self, *, node, info, **kwargs):
            self.failures.append((node, info.source_id, info.frame_index))

        def on_packet_done(self, **kwargs):
            self.done += 1

    heard = Heard()
    report = loads(workflow(tmp_path, boom=[3, 7])).run(executor="ray", address=cluster.address, hooks=heard)
    assert report.exit_code == 0 and report.failures == 6
    assert heard.sources == {"cam1": True, "cam2": True, "cam3": True}
    assert sorted(heard.failures) == [("boom", cam, frame) for cam in ("cam1", "cam2", "cam3") for frame in (3, 7)]
    assert heard.done == report.frames == 75


@pytest.mark.parametrize("exception", ["SystemExit", "KeyboardInterrupt", "GeneratorExit"])
def test_a_base_exception_on_a_shard_ends_the_run_with_the_node_named(cluster, tmp_path, exception):
    started = time.monotonic()
    report = loads(workflow(tmp_path, frames=400, boom=[3], exception=exception)).run(
        executor="ray", address=cluster.address)
    assert report.exit_code == 1
    assert report.frames < 3 * 400
    named = [f for f in report.failure_log if f["node"] == "boom" and exception in f["error"]]
    assert named and named[0]["frame"] == 3
    assert time.monotonic() - started < 120  # bounded: it did not run to the end or hang


def test_sigterm_drains_the_whole_cluster(cluster, tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text(workflow(tmp_path, frames=0, call_ms=5))  # endless sources
    metrics = tmp_path / "metrics.json"
    proc = subprocess.Popen([*SEGFLOW, "run", str(path), "--executor", "ray", "--address", cluster.address,
                             "--quiet", "--metrics", str(metrics)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for_lines(tmp_path / "log.jsonl", 30, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    report = json.loads(metrics.read_text())
    assert report["stopped_by"] == "SIGTERM"
    logged = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(logged) == report["frames"] > 30  # every frame that was started reached the sink


def wait_for_lines(path: Path, count: int, proc: subprocess.Popen, limit_s: float = 120) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
    raise AssertionError(f"{path} never reached {count} lines")


def test_a_worker_node_that_dies_ends_the_run_with_exit_1_and_nothing_written_twice(tmp_path):
    cluster, workers = start_cluster()  # its own cluster: this test kills a node
    try:
        path = tmp_path / "wf.yaml"
        path.write_text(workflow(tmp_path, frames=0, call_ms=5))
        proc = subprocess.Popen([*SEGFLOW, "run", str(path), "--executor", "ray", "--address", cluster.address,
                                 "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_lines(tmp_path / "log.jsonl", 30, proc)
            cluster.remove_node(workers[1])
            _, err = proc.communicate(timeout=180)
        finally:
            proc.kill()
        assert proc.returncode == 1, err
        assert "died" in err and "source 'cam" in err and "Traceback" not in err
        ids = Counter(json.loads(line)["record_id"] for line in (tmp_path / "log.jsonl").read_text().splitlines())
        assert ids and max(ids.values()) == 1
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("case, extra, message", [
    ("unreachable", ["--address", "127.0.0.1:9"], "cannot reach the Ray cluster at 127.0.0.1:9"),
    ("alone", [], "node 'model' (debug.simulated_model) asks for {GPU: 1, CPU: 1} per actor, which no Ray node has"),
    # each shard fits a worker node alone (cpu 0.75 of 1), three do not fit the two of them
    ("in total", [], "do not fit on the cluster together: 3 x shard worker at {CPU: 0.75, shard_slot: 1}"),
])
def test_ray_errors_before_any_frame_exit_2(cluster, tmp_path, case, extra, message):
    text = workflow(tmp_path)
    if case == "alone":
        text = text.replace("resources: {cpu: 0.25, model_slot: 1}", "resources: {gpu: 1}")
    if case == "in total":
        text = text.replace("shard_resources: {cpu: 0.25,", "shard_resources: {cpu: 0.75,")
    if case != "unreachable":
        extra = ["--address", cluster.address]
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    res = subprocess.run([*SEGFLOW, "run", str(path), "--executor", "ray", *extra], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr  # one line, with its hint
    assert not (tmp_path / "rec.jsonl").exists() or not (tmp_path / "rec.jsonl").read_text()


def test_without_ray_installed_the_error_says_how_to_get_it(tmp_path):
    path = tmp_path / "wf.yaml"
    path.write_text(workflow(tmp_path))
    script = ("import sys; sys.modules['ray'] = None\n"
              "from segflow.engine.cli import main\n"
              f"sys.exit(main(['run', {str(path)!r}, '--executor', 'ray']))")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert res.returncode == 2, res.stderr
    assert "needs Ray, which is not installed" in res.stderr and "segflow[ray]" in res.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mjpeg_server():
    """tests/nodes/mjpeg.py, the camera on loopback (loaded by path: tests/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("mjpeg", Path(__file__).parents[1] / "nodes" / "mjpeg.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MjpegServer


def get(url: str) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def served(base: str, proc: subprocess.Popen, status: int, limit_s: float = 120) -> tuple[dict, dict]:
    """Poll /healthz until it answers ``status``; then (its body, this source's and model's /metrics samples)."""
    from prometheus_client.parser import text_string_to_metric_families

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            code, body = get(f"{base}/healthz")
        except OSError:
            code, body = 0, ""
        if code == status:
            _, text = get(f"{base}/metrics")
            samples = {(s.name, s.labels.get("source") or s.labels.get("node")): s.value
                       for f in text_string_to_metric_families(text) for s in f.samples}
            return json.loads(body), samples
        time.sleep(0.1)
    raise AssertionError(f"/healthz never answered {status}")


def test_health_and_source_metrics_under_ray_follow_a_camera_that_goes_down(cluster, tmp_path):
    mjpeg = _mjpeg_server()
    camera = mjpeg(level=90)
    port = free_port()
    path = tmp_path / "wf.yaml"
    path.write_text(
        "version: 1\nname: watched\nsettings: {ray: {shard_resources: {cpu: 0.25, shard_slot: 1}}}\nnodes:\n"
        f"  cam: {{type: source.camera, params: {{source: 'http://127.0.0.1:{camera.port}/video.mjpg',"
        " read_timeout_s: 1, open_timeout_s: 2, reconnect_initial_s: 0.05, reconnect_max_s: 0.2, drop: oldest}}\n"
        "  model: {type: debug.simulated_model, params: {call_ms: 1, item_ms: 0}, resources: {cpu: 0.25},"
        " inputs: {image: cam.image}}\n"
        f"  rec: {{type: debug.record, params: {{path: {tmp_path / 'out.jsonl'}}}, inputs: {{image: model.image}}}}\n")
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*SEGFLOW, "run", str(path), "--executor", "ray", "--address", cluster.address,
                             "--serve", f"127.0.0.1:{port}", "--quiet"], stderr=subprocess.PIPE, text=True)
    restarted = []
    try:
        up, before = served(base, proc, 200)
        deadline = time.monotonic() + 120
        while before.get(("segflow_source_frames_total", "cam"), 0) < 1 and time.monotonic() < deadline:
            # the stream must have been read before it goes away, or it is "cannot open", not a drop
            time.sleep(0.1)
            up, before = served(base, proc, 200)
        camera.kill()
        down, while_down = served(base, proc, 503)
        restarted.append(mjpeg(camera.port, level=150))
        again, after = served(base, proc, 200)
    finally:
        camera.kill()
        for server in restarted:
            server.kill()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert up == {"status": "ok", "workflow": "watched", "sources": {"cam": {"up": True, "detail": ""}}}
    assert down["status"] == "unhealthy" and down["sources"]["cam"]["up"] is False
    assert down["sources"]["cam"]["detail"].startswith(("stream dropped", "cannot open")), down
    assert again["status"] == "ok"
    assert before[("segflow_source_up", "cam")] == 1 and while_down[("segflow_source_up", "cam")] == 0
    assert while_down[("segflow_source_drops_total", "cam")] == 1
    assert after[("segflow_source_reconnects_total", "cam")] == 1
    # the shard's source and the model's actor both report live, and keep counting
    assert after[("segflow_source_frames_total", "cam")] > while_down[("segflow_source_frames_total", "cam")] > 0
    assert after[("segflow_node_items_total", "model")] > 0

