"""Soak ``segflow serve``: many requests from several clients, good and bad mixed; nothing may go wrong.

    python bench/serve_soak.py [--requests 10000] [--clients 8] [--workflow light|detect]

The workflow served:
- ``light``: a simulated model (5 ms a call + 1 ms an image, batches of 8) and the
  image's mean brightness: the server's own paths (HTTP, upload, decode, batching,
  results) at the rate they allow, so 10,000 requests take minutes;
- ``detect``: the detect-only stones workflow of bench/serve_requests.py (the real
  model on conveyor frames, ``runtime: auto`` as shipped, so compiled): the model's memory
  too, at the model's rate.

One request in three is bad, in turn of seven kinds, each with the status it must
get (junk bytes 422, a wrong content type 415, too many pixels 422, a cut PNG 422,
bad base64 422, an unknown workflow 404, a body over ``--max-body-mb`` 413). A good
one must get 200 and its own image's result (``light``: the mean of the uniform
image it sent; ``detect``: the log sink's rows). Anything else is an error: another
status, a wrong result, a transport error, the server gone. Goal: 0 errors.

Reported: latency p50/p95/p99 of good and of bad requests, throughput, and the
server's RSS after a warm-up, at each tenth of the run and at the end: a leak
grows steadily; a cache or an allocator's pool fills once and stays.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_requests import VIDEO, detect_workflow, frames, free_port, rss_mb, start, stop  # noqa: E402

LIGHT = """version: 1
name: soak
settings: {on_error: skip, max_inflight: 32}
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  model:
    type: debug.simulated_model
    params: {call_ms: 5, item_ms: 1, batch_size: 8, max_wait_ms: 5}
    inputs: {image: cam.image}
  stats: {type: debug.stats, inputs: {image: model.image}}
  means: {type: sink.jsonl, params: {path: OUT/means.jsonl, per: frame}, inputs: {value: stats.value}}
"""
MAX_BODY_MB = 2


@dataclass
class Case:
    """One kind of request: how to send it, the status it must get, and how to check a 200's body."""

    name: str
    path: str
    body: dict[str, Any]
    status: int
    check: Any = None  # (response json) -> bool, for good requests


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"good": [], "bad": []})
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


def png(pixels: np.ndarray) -> bytes:
    return cv2.imencode(".png", pixels)[1].tobytes()


def good_cases(kind: str, name: str) -> list[Case]:
    run = f"/workflows/{name}/run"
    if kind == "light":
        def mean_is(value: int) -> Any:
            return lambda answer: answer["results"][0]["records"]["means"][0]["value"]["mean"] == value

        return [Case(f"grey {v}", run, {"files": {"image": (f"{v}.png", png(np.full((64, 64, 3), v, np.uint8)))}},
                     200, mean_is(v)) for v in range(0, 256, 5)]
    return [Case(f"frame {i}", run, {"files": {"image": (f"f{i}.png", data)}}, 200,
                 lambda answer: "log" in answer["results"][0]["records"]) for i, data in enumerate(frames(32))]


def bad_cases(name: str, sample: bytes) -> list[Case]:
    run = f"/workflows/{name}/run"
    big = png(np.zeros((4200, 4200, 3), np.uint8))  # 17.6 M pixels, a small file
    return [Case("junk", run, {"files": {"image": ("junk.png", os.urandom(2048))}}, 422),
            Case("text", run, {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415),
            Case("pixels", run, {"files": {"image": ("big.png", big)}}, 422),
            Case("cut", run, {"files": {"image": ("cut.png", sample[: len(sample) // 3])}}, 422),
            Case("base64", run, {"json": {"images": ["not base64!"]}}, 422),
            Case("unknown", "/workflows/nope/run", {"files": {"image": ("f.png", sample)}}, 404),
            Case("too big", run, {"content": b"0" * (MAX_BODY_MB * 2**20 + 1),
                                  "headers": {"content-type": "application/json"}}, 413)]


def hammer(url: str, good: list[Case], bad: list[Case], clients: int, total: int, tally: Tally,
           progress: Any = None) -> float:
    """``total`` requests from ``clients`` threads, one in three bad; seconds taken."""
    counter = itertools.count()

    def client(_: int) -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            while (n := next(counter)) < total:
                case = bad[(n // 3) % len(bad)] if n % 3 == 2 else good[n % len(good)]
                began = time.perf_counter()
                try:
                    answer = http.post(case.path, **case.body)
                    status = answer.status_code
                    wrong = status != case.status or (case.check is not None and not case.check(answer.json()))
                    problem = f"{case.name}: {status} {answer.text[:200]}" if wrong else ""
                except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
                    status, problem = -1, f"{case.name}: {type(exc).__name__}: {exc}"
                took = time.perf_counter() - began
                with tally.lock:
                    tally.latencies["bad" if case.check is None else "good"].append(took)
                    tally.statuses[status] += 1
                    if problem:
                        tally.errors.append(problem)
                if progress is not None:
                    progress(n)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workflow", choices=("light", "detect"), default="light")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        workflow = tmp / "soak.yaml"
        if args.workflow == "light":
            workflow.write_text(LIGHT.replace("OUT", str(tmp)))
            name = "soak"
        else:
            workflow.write_text(detect_workflow(f"{{path: {VIDEO}, loop: true}}", str(tmp / "run.jsonl"),
                                                runtime="auto"))  # as shipped: the .pt compiled
            name = "stones-detect"
        good = good_cases(args.workflow, name)
        bad = bad_cases(name, good[0].body["files"]["image"][1])
        port = free_port()
        served = start([sys.executable, "-m", "segflow.serve", "--port", str(port), "--max-body-mb",
                        str(MAX_BODY_MB), str(workflow)], port, tmp / "serve.log")
        url = f"http://127.0.0.1:{port}"
        try:
            hammer(url, good, bad, args.clients, 300, Tally())  # warm-up: first model calls, allocator pools
            rss = [(0, rss_mb(served.pid))]
            tenth = max(args.requests // 10, 1)

            def sample(n: int) -> None:
                if (n + 1) % tenth == 0 and served.poll() is None:
                    rss.append((n + 1, rss_mb(served.pid)))

            tally = Tally()
            took = hammer(url, good, bad, args.clients, args.requests, tally, sample)
            alive = served.poll() is None
            end = rss_mb(served.pid) if alive else 0.0
        finally:
            stop(served)
    report(args, tally, took, rss, end, alive)


def report(args: argparse.Namespace, tally: Tally, took: float, rss: list[tuple[int, float]], end: float,
           alive: bool) -> None:
    print(f"{args.requests} requests ({args.workflow} workflow, {args.clients} clients, one in three bad) in "
          f"{took:.0f} s: {args.requests / took:.1f} req/s; load average now {os.getloadavg()[0]:.1f}")
    for kind, values in tally.latencies.items():
        if values:
            p50, p95, p99 = (float(np.percentile(values, q)) * 1000 for q in (50, 95, 99))
            print(f"   {kind:4} {len(values):6}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms")
    print(f"   statuses {dict(sorted(tally.statuses.items()))}")
    print(f"   errors {len(tally.errors)} (goal 0); server alive at the end: {alive}")
    for problem in tally.errors[:10]:
        print(f"     {problem}")
    start_mb = rss[0][1]
    print(f"   RSS after warm-up {start_mb:.0f} MB, at the end {end:.0f} MB ({end - start_mb:+.1f} MB; goal < 50)")
    print("   RSS by requests done: " + ", ".join(f"{n}: {mb:.0f}" for n, mb in rss))


if __name__ == "__main__":
    main()
