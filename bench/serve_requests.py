"""``segflow serve`` side by side: request batching and hot swap. One run, two figures.

    python bench/serve_requests.py [--requests 160] [--clients 16]

1. Throughput: ``--clients`` concurrent clients post conveyor frames (PNG) until
   ``--requests`` have been answered, to
   - naive:   bench/naive_server.py (FastAPI + ultralytics, one model call per request);
   - segflow: ``segflow serve`` with a detect-only workflow (same model on the same runtime,
              ``runtime: ultralytics``; same predict settings; concurrent requests micro-batched,
              batch_size 8, max_wait_ms 20);
              ``--batch-sizes 8,4`` serves one more per extra batch size, side by side;
   - ceiling: ``segflow run`` of the same workflow on the same frames in one process
              (no HTTP, no PNG decode): what the model itself allows.
   Throughput (median requests/s of ``--repeats`` runs in turns), p50/p95 latency, and the
   server's CPU time per request (user + system: on a shared machine it moves far less
   than a rate does). Goal: segflow >= 1.5x naive at a p95 no worse. ``--also DIR`` serves
   a second segflow from another checkout beside them: a change's before and after;
   ``--compiled`` serves the workflow once more with ``runtime: compiled`` (what ``auto`` does
   with a ``.pt`` on a CPU: the same model exported for this box, a dynamic ONNX on onnxruntime
   here) beside the naive server on a like export;
   ``--variant LABEL:K=V`` serves the main workflow once more with other environment variables;
   ``--naive-passive`` a second naive server whose OpenMP threads sleep while they wait, as
   ``segflow serve`` sets them (``OMP_WAIT_POLICY=PASSIVE``): what batching gives beyond that.
2. Hot swap: a pipeline on the video, looped (150 frames a pass, JSONL per frame; ``runtime: auto``): change
   ``detect.confidence`` (applied live) at frame 100, then the model file (drain and resume)
   at 140, so the resumed run goes round the end of the file; stopped 80 frames later. Frames
   lost or twice at the sink (goal 0: the sink's frame numbers 0..n-1 once each, and each
   frame's place in the file and the loop, from its timestamp, the one its number says), the
   output gap at each swap against the p95 gap.
The soak (10,000 requests, good and bad, errors and RSS) is bench/serve_soak.py.
The machine may be shared: the figures are ratios taken in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "assets" / "samples" / "conveyor.mp4"
MODEL = ROOT / "assets" / "models" / "coffee-stones-seg.pt"
SHA256 = "e889c9c678abb1b472c74b966b9eb16090d5bb15eb8b6b218916ea7f6ee1df71"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def detect_workflow(source: str, sink: str, model: Path = MODEL, confidence: float = 0.35, batch_size: int = 8,
                    name: str = "stones-detect", runtime: str = "ultralytics", sha256: str = SHA256) -> str:
    return f"""version: 1
name: {name}
settings: {{max_inflight: 32}}
nodes:
  belt: {{type: source.video, params: {source}}}
  detect:
    type: detect.yolo
    params: {{model: {model}, confidence: {confidence}, imgsz: 320, retina_masks: true, batch_size: {batch_size},
             max_wait_ms: 20, sha256: {sha256}, runtime: {runtime}}}
    inputs: {{image: belt.image}}
  log:
    type: sink.jsonl
    params: {{path: {sink}, per: frame, flush_interval_s: 0.2}}
    inputs: {{detections: detect.detections}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env or ENV, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{command[:3]} exited:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(1)
    process.kill()
    raise SystemExit(f"{command[:3]} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def frames(count: int) -> list[bytes]:
    capture = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < count:
        ok, pixels = capture.read()
        if not ok:
            break
        out.append(cv2.imencode(".png", pixels)[1].tobytes())
    capture.release()
    return out


def hammer(url: str, bodies: list[dict], clients: int, total: int) -> tuple[float, list[float], dict[int, int]]:
    """``total`` posts from ``clients`` threads; wall-clock requests/s, latencies, status counts."""
    counter = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(_: int) -> None:
        with httpx.Client(timeout=600) as http:
            while (n := next(counter)) < total:
                start = time.perf_counter()
                status = http.post(url, **bodies[n % len(bodies)]).status_code
                with lock:
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return total / (time.perf_counter() - began), latencies, statuses


def checked(name: str, process: subprocess.Popen[bytes], url: str, bodies: list[dict], clients: int,
            total: int) -> tuple[float, list[float], dict[int, int]]:
    """:func:`hammer`, or an exit that names the server whose connection failed and how it ended."""
    try:
        return hammer(url, bodies, clients, total)
    except httpx.TransportError as exc:
        ended = process.poll()
        raise SystemExit(f"{name}: {exc} (server {'exited ' + str(ended) if ended is not None else 'still running'})"
                         ) from exc


def mean_batch(metrics: str) -> float:
    """The detector's packets per call, from the server's /metrics."""
    found = {}
    for line in metrics.splitlines():
        if 'node="detect"' in line and line.startswith(("segflow_node_items_total", "segflow_node_calls_total")):
            found[line.split("{")[0]] = float(line.rsplit(" ", 1)[1])
    return found.get("segflow_node_items_total", 0.0) / max(found.get("segflow_node_calls_total", 1.0), 1.0)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class _Finished:
    """Finish times of packets, for a rate that leaves the model's first (warm-up) calls out."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def on_start(self, **_: object) -> None: ...

    def on_failure(self, **_: object) -> None: ...

    def on_end(self, **_: object) -> None: ...

    def on_packet_done(self, **_: object) -> None:
        self.times.append(time.perf_counter())

    def rate(self, skip: int) -> float:
        kept = self.times[skip:]
        return (len(kept) - 1) / (kept[-1] - kept[0]) if len(kept) > 1 else 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used: less at the mercy of other load than a rate."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(args: argparse.Namespace, tmp: Path, images: list[bytes], workflow: Path,
               served: subprocess.Popen[bytes], port: int) -> None:
    """Every server up and warmed, then measured in turns (naive, segflow, ..., naive, ...)."""
    bodies = [{"files": {"image": (f"f{i}.png", data)}} for i, data in enumerate(images)]
    run_path = "/workflows/stones-detect/run"
    naive_port = free_port()
    servers = {"naive": (start([sys.executable, "bench/naive_server.py", str(naive_port)], naive_port,
                               tmp / "naive.log"), f"http://127.0.0.1:{naive_port}/run"),
               "segflow": (served, f"http://127.0.0.1:{port}{run_path}")}
    if args.naive_passive:  # how much of the difference is segflow serve's OpenMP wait policy, not batching
        passive_port = free_port()
        servers["naive, OMP passive"] = (
            start([sys.executable, "bench/naive_server.py", str(passive_port)], passive_port, tmp / "passive.log",
                  {**ENV, "OMP_WAIT_POLICY": "PASSIVE"}), f"http://127.0.0.1:{passive_port}/run")
    for size in args.batch_sizes[1:]:  # the same server code with another batch size: latency against throughput
        size_port, name = free_port(), f"stones-detect-b{size}"
        size_workflow = tmp / f"{name}.yaml"
        size_workflow.write_text(detect_workflow(f"{{path: {VIDEO}, loop: true}}", str(tmp / f"{name}.jsonl"),
                                                 batch_size=size, name=name))
        servers[f"segflow, batch {size}"] = (
            start([sys.executable, "-m", "segflow.serve", "--port", str(size_port), str(size_workflow)], size_port,
                  tmp / f"{name}.log"), f"http://127.0.0.1:{size_port}/workflows/{name}/run")
    if args.compiled:  # the naive server on an ONNX export like runtime: compiled's (ultralytics on onnxruntime)
        from segflow.vision.yolo_export import export_weights

        (tmp / "naive-onnx").mkdir()
        exported, _ = export_weights(MODEL, "onnx", tmp / "naive-onnx", imgsz=320, dynamic=True)
        onnx_port = free_port()
        servers["naive, ONNX"] = (start([sys.executable, "bench/naive_server.py", str(onnx_port), str(exported)],
                                        onnx_port, tmp / "naive-onnx.log"), f"http://127.0.0.1:{onnx_port}/run")
        # beside it segflow with runtime: compiled (its export cached under ~/.cache/segflow after the first run)
        compiled_port, name = free_port(), "stones-detect-compiled"
        compiled = tmp / "compiled"
        compiled.mkdir()
        (compiled / f"{name}.yaml").write_text(detect_workflow(f"{{path: {VIDEO}, loop: true}}",
                                                               str(tmp / f"{name}.jsonl"), name=name,
                                                               batch_size=args.batch_sizes[0], runtime="compiled"))
        servers["segflow, compiled"] = (
            start([sys.executable, "-m", "segflow.serve", "--port", str(compiled_port), str(compiled / f"{name}.yaml")],
                  compiled_port, tmp / f"{name}.log"), f"http://127.0.0.1:{compiled_port}/workflows/{name}/run")
    for label, extra in args.variant:  # the same code under other environment variables (e.g. thread counts)
        variant_port = free_port()
        servers[f"segflow, {label}"] = (
            start([sys.executable, "-m", "segflow.serve", "--port", str(variant_port), str(workflow)], variant_port,
                  tmp / f"{label}.log", {**ENV, **extra}), f"http://127.0.0.1:{variant_port}{run_path}")
    if args.also:  # another checkout's code, served side by side: a change's before and after in one run
        also_port = free_port()
        servers[f"segflow@{Path(args.also).name}"] = (
            start([sys.executable, "-m", "segflow.serve", "--port", str(also_port), str(workflow)], also_port,
                  tmp / "also.log", {**ENV, "PYTHONPATH": str(Path(args.also).resolve())}),
            f"http://127.0.0.1:{also_port}{run_path}")
    runs: dict[str, list[tuple[float, list[float], float]]] = {name: [] for name in servers}
    try:
        for name, (process, url) in servers.items():
            checked(name, process, url, bodies, args.clients, 2 * args.clients)  # warm-up: first calls are slow
        for _ in range(args.repeats):
            for name, (process, url) in servers.items():
                before = cpu_s(process.pid)
                rate, latencies, statuses = checked(name, process, url, bodies, args.clients, args.requests)
                assert statuses == {200: args.requests}, f"{name}: {statuses}"
                runs[name].append((rate, latencies, (cpu_s(process.pid) - before) / args.requests * 1000))
    finally:
        for name, (process, _) in servers.items():
            if name != "segflow":
                stop(process)
    served_batch = mean_batch(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)
    from segflow.engine.api import loads

    finished = _Finished()
    report = loads(workflow.read_text()).run(max_frames=args.requests + 32, hooks=finished)  # type: ignore[arg-type]
    print(f"\n1. {args.clients} concurrent clients, {args.requests} conveyor frames per run, {args.repeats} runs each "
          "in turns; latencies of all runs")
    print(f"   {'':22} {'median req/s':>12} {'best':>6} {'p50 ms':>7} {'p95 ms':>7} {'server CPU ms/req':>18}")
    summary = {}
    for name, measured in runs.items():
        rate = statistics.median(r for r, _, _ in measured)
        latencies = [t for _, ts, _ in measured for t in ts]
        cpu = statistics.median(c for _, _, c in measured)
        summary[name] = rate, percentile(latencies, 95), cpu
        print(f"   {name:22} {rate:12.2f} {max(r for r, _, _ in measured):6.2f} {percentile(latencies, 50):7.0f} "
              f"{percentile(latencies, 95):7.0f} {cpu:18.1f}")
    print(f"   {'ceiling':22} {finished.rate(32):12.2f}  (segflow run in process, after 32 frames)")
    detect = next(m for m in report.nodes if m.node_id == "detect")
    for base in (n for n in summary if n.startswith("naive")):
        for name in (n for n in summary if n.startswith("segflow")):
            (rate, p95, cpu), (naive_rate, naive_p95, naive_cpu) = summary[name], summary[base]
            print(f"   {name} / {base}: {rate / naive_rate:.2f}x throughput (median), p95 {p95:.0f} vs "
                  f"{naive_p95:.0f} ms, {naive_cpu / cpu:.2f}x less server CPU per request")
    print(f"   mean batch served {served_batch:.1f}, in process {detect.items / max(detect.calls, 1):.1f}")


def hot_swap(tmp: Path, port: int) -> None:
    sink = tmp / "swap.jsonl"
    copy = tmp / "copy-of-model.pt"
    resave(MODEL, copy)  # new bytes, the same weights: as a retrained file would, it is compiled on the swap
    source = f"{{path: {VIDEO}, loop: true}}"
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=600) as http:
        # runtime: auto, as shipped: the .pt compiled on first use, and the new file compiled on the swap
        pid = http.post("/pipelines", json={"yaml": detect_workflow(source, str(sink), runtime="auto")}).json()["id"]

        def done() -> int:  # frames the pipeline put through, all its runs together
            return int(http.get(f"/pipelines/{pid}").json()["frames_done"])

        swaps = []
        for at, text in ((100, detect_workflow(source, str(sink), confidence=0.5, runtime="auto")),
                         (140, detect_workflow(source, str(sink), model=copy, confidence=0.5, runtime="auto",
                                               sha256=file_sha256(copy)))):
            while done() < at:
                time.sleep(0.2)
            began = time.time()
            answer = http.put(f"/pipelines/{pid}", json={"yaml": text}).json()
            swaps.append((answer["how"], began, time.time() - began))
        resumed_at = done()
        while done() < resumed_at + 80:
            time.sleep(0.2)
        stopped = http.delete(f"/pipelines/{pid}").json()
        assert stopped["state"] == "stopped", stopped
    records = [json.loads(line) for line in sink.read_text().splitlines()]
    indices = [r["frame"] for r in records]
    played = [round(r["timestamp"] * 15) for r in records]  # passes so far * 150 + file frame, at 15 fps
    times = sorted(time_of(r["time"]) for r in records)
    gaps = np.diff(times)
    usual = float(np.percentile(gaps, 95))  # frames reach the sink in batches: the gap between batches
    print(f"\n2. hot swap on a looped 150-frame video pipeline, {len(records)} frames "
          f"({max(played) // 150 + 1} passes)")
    unique, expected = len(set(indices)), set(range(max(indices) + 1))
    misplaced = sum(i != p for i, p in zip(indices, played, strict=True))
    print(f"   frames at the sink: {len(records)}; lost {len(expected - set(indices))}, twice "
          f"{len(indices) - unique}, at the wrong place in the file {misplaced}")
    for how, began, took in swaps:
        near = [g for t, g in zip(times[1:], gaps, strict=True) if began - 1 <= t <= began + took + 5]
        print(f"   {how:9}: PUT answered in {took:.2f} s; largest output gap around it {max(near, default=0):.2f} s "
              f"(p95 gap {usual:.2f} s); model reloaded: {'yes' if how == 'restarted' else 'no'}")


def resave(weights: Path, out: Path) -> None:
    """The checkpoint saved again with one more key: other bytes (another sha256), the same network."""
    import torch

    checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
    checkpoint["bench_note"] = "re-saved by bench/serve_requests.py"
    torch.save(checkpoint, out)


def file_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def time_of(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def variant(text: str) -> tuple[str, dict[str, str]]:
    label, _, pairs = text.partition(":")
    try:
        return label, dict(pair.split("=", 1) for pair in pairs.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: write LABEL:NAME=VALUE[,NAME=VALUE]") from None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--frames", type=int, default=32, help="distinct conveyor frames posted")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--also", metavar="DIR", help="also serve the segflow/ of another checkout, e.g. an "
                        "earlier commit's (git archive COMMIT segflow | tar -x -C DIR)")
    parser.add_argument("--parts", default="throughput,swap", help="which figures, comma-separated")
    parser.add_argument("--batch-sizes", default="8", type=lambda text: [int(n) for n in text.split(",")],
                        help="detect batch_size of segflow serve, comma-separated: the first is the main "
                             "server, each other one more server side by side (e.g. 8,4)")
    parser.add_argument("--naive-passive", action="store_true", help="also the naive server with "
                        "OMP_WAIT_POLICY=PASSIVE, the OpenMP wait policy segflow serve sets")
    parser.add_argument("--compiled", action="store_true", help="also serve the workflow with runtime: compiled "
                        "(the .pt exported for this box on first use): what the model runtime adds to batching")
    parser.add_argument("--variant", action="append", default=[], type=variant, metavar="LABEL:K=V[,K=V]",
                        help="also serve the main workflow with these environment variables, side by side "
                             "(e.g. threads1:OMP_NUM_THREADS=1); repeatable")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    images = frames(args.frames)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        workflow = tmp / "stones_detect.yaml"
        workflow.write_text(detect_workflow(f"{{path: {VIDEO}, loop: true}}", str(tmp / "run.jsonl"),
                                            batch_size=args.batch_sizes[0]))
        port = free_port()
        served = start([sys.executable, "-m", "segflow.serve", "--port", str(port), str(workflow)], port,
                       tmp / "serve.log")
        parts = args.parts.split(",")
        try:
            if "throughput" in parts:
                throughput(args, tmp, images, workflow, served, port)
            if "swap" in parts:
                hot_swap(tmp, port)
        finally:
            stop(served)


if __name__ == "__main__":
    main()
