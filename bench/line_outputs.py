"""Frame capture to value on the server: sink.modbus and sink.opcua side by side in one run.

    python bench/line_outputs.py [--frames 500] [--fps 50] [--warmup 50]

One workflow, one source, both sinks: a paced source stamps each frame's
capture time (``time.perf_counter()``), ``detect.threshold`` finds the blob
drawn in it, and each sink writes the frame number, sink.modbus to a holding
register of pymodbus' own server, sink.opcua to a variable of asyncua's own
server (mode write). Both servers run on loopback in this process and stamp
each write on arrival, so latency = arrival - capture for the same frame,
through the whole graph and the sink's queue and sender. Reported: p50, p95
and max over ``--frames`` frames after ``--warmup`` frames that are not counted
(the first second of a run also pays for asyncua's start: its import and
handshake hold the GIL), with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import Field

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sinks"))

from linekit import ModbusServer, OpcuaServer  # noqa: E402  (the tests' loopback servers)

from segflow.engine import Frame, LiveSourceParams, SourceNode, node_type  # noqa: E402
from segflow.engine.api import loads  # noqa: E402
from segflow.engine.registry import Registry, default_registry  # noqa: E402

CAPTURED: dict[int, float] = {}


class StampedParams(LiveSourceParams):
    frames: int = Field(500, ge=1)
    fps: float = Field(50.0, gt=0)


@node_type("bench.stamped")
class Stamped(SourceNode):
    """A paced camera stand-in: a bright square on a dark 320x240 frame, capture time stamped."""

    Params = StampedParams
    params: StampedParams

    def is_live(self) -> bool:
        return True

    def frames(self) -> Iterator[Frame]:
        image = np.zeros((240, 320, 3), np.uint8)
        image[100:140, 140:190] = 220
        period, start = 1.0 / self.params.fps, time.perf_counter()
        for index in range(self.params.frames):
            delay = start + index * period - time.perf_counter()
            if delay > 0 and self.context.stop_event.wait(delay):
                return
            CAPTURED[index] = time.perf_counter()
            yield self.make_frame(image, index, index * period)


WORKFLOW = """\
version: 1
name: line-bench
nodes:
  cam: {{type: bench.stamped, params: {{frames: {frames}, fps: {fps}}}}}
  blobs: {{type: detect.threshold, params: {{channel: gray, method: fixed, threshold: 128, min_area: 50}},
          inputs: {{image: cam.image}}}}
  plc:
    type: sink.modbus
    params: {{port: {modbus_port}, only_when: "count > 0", writes: [{{register: 0, value: frame, data_type: uint32}}]}}
    inputs: {{detections: blobs.detections}}
  scada:
    type: sink.opcua
    params: {{endpoint: "{endpoint}", namespace: "{namespace}", only_when: "count > 0",
             variables: [{{node: "s=Line1.Frame", value: frame}}]}}
    inputs: {{detections: blobs.detections}}
"""


def percentiles(latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return f"p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   max {ms[-1]:7.2f} ms   ({len(ms)} frames)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--fps", type=float, default=50.0)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    registry = Registry()
    registry.types.update(default_registry().types)
    registry.register(Stamped, "bench")
    plc, scada = ModbusServer().start(), OpcuaServer().start()
    try:
        text = WORKFLOW.format(frames=args.frames + args.warmup, fps=args.fps, modbus_port=plc.port,
                               endpoint=scada.endpoint, namespace=scada.namespace)
        report = loads(text, registry=registry).run()
    finally:
        plc.close()
        scada.close()
    modbus = {}
    for arrival, _, _, (high, low) in ((w[0], w[1], w[2], w[3]) for w in plc.writes if w[1] == "register"):
        modbus.setdefault(high << 16 | low, arrival)
    opcua: dict[int, float] = {}
    for arrival, _, frame in scada.writes:
        opcua.setdefault(frame, arrival)
    load1, load5, _ = os.getloadavg()
    counted = range(args.warmup, args.warmup + args.frames)
    modbus = {f: modbus[f] for f in counted if f in modbus}
    opcua = {f: opcua[f] for f in counted if f in opcua}
    print(f"line outputs: frame capture -> value on the server, {args.frames} frames at {args.fps:g} FPS "
          f"(after {args.warmup} warm-up frames)")
    print(f"  machine: {os.cpu_count()} cores, load average {load1:.2f} (1 min) {load5:.2f} (5 min)")
    print(f"  run: {report.frames} frames, {report.failures} failures, {report.dropped} dropped")
    print(f"  sink.modbus (pymodbus server)  : {percentiles([modbus[f] - CAPTURED[f] for f in modbus])}")
    print(f"  sink.opcua  (asyncua server)   : {percentiles([opcua[f] - CAPTURED[f] for f in opcua])}")
    missing = {"modbus": args.frames - len(modbus), "opcua": args.frames - len(opcua)}
    if any(missing.values()):
        print(f"  frames that never landed: {missing}")


if __name__ == "__main__":
    main()
