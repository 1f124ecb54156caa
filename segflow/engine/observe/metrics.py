"""Per-node run metrics: calls, batch sizes, latency percentiles, throughput, errors.

Each node's metrics are written by the one worker thread that runs the node,
so no locks are needed; readers take a snapshot after the run (or tolerate a
slightly stale view during it).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from segflow.engine.observe.exit_codes import EXIT_OK, decide_exit_code

LATENCY_SAMPLES = 4096  # a ring of the latest call latencies: bounded memory on long runs
# Upper bounds (seconds) of the call-latency histogram, and (packets) of the batch-size one:
# cumulative counts over the whole run, which is what a Prometheus histogram needs.
LATENCY_BOUNDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                  2.5, 5.0, 10.0)
BATCH_BOUNDS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass
class NodeMetrics:
    node_id: str
    node_type: str
    calls: int = 0
    items: int = 0
    errors: int = 0
    busy_s: float = 0.0
    _latencies: list[float] = field(default_factory=list, repr=False)
    _next: int = 0
    # One count per bound plus one past the last: calls by latency and by batch size.
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1), repr=False)
    batch_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BOUNDS) + 1), repr=False)
    dropped: int = 0  # sources: frames dropped by the `drop` policy because the graph was behind

    def record(self, items: int, seconds: float) -> None:
        self.calls += 1
        self.items += items
        self.busy_s += seconds
        self.latency_counts[bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self.batch_counts[min(max(items - 1, 0).bit_length(), len(BATCH_BOUNDS))] += 1
        if len(self._latencies) < LATENCY_SAMPLES:
            self._latencies.append(seconds)
        else:
            self._latencies[self._next] = seconds
            self._next = (self._next + 1) % LATENCY_SAMPLES

    def absorb(self, other: NodeMetrics) -> None:
        """Add another worker's metrics of the same node (Ray runs one node on several shards)."""
        self.calls += other.calls
        self.items += other.items
        self.errors += other.errors
        self.busy_s += other.busy_s
        self.dropped += other.dropped
        self.latency_counts = [a + b for a, b in zip(self.latency_counts, other.latency_counts, strict=True)]
        self.batch_counts = [a + b for a, b in zip(self.batch_counts, other.batch_counts, strict=True)]
        self._latencies = (self._latencies + other._latencies)[-LATENCY_SAMPLES:]
        self._next = 0

    def percentile(self, q: float) -> float:
        if not self._latencies:
            return 0.0
        ordered = sorted(self._latencies)
        return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {
            "node": self.node_id,
            "type": self.node_type,
            "calls": self.calls,
            "items": self.items,
            "mean_batch": round(self.items / self.calls, 3) if self.calls else 0.0,
            "p50_ms": round(self.percentile(50) * 1000, 3),
            "p95_ms": round(self.percentile(95) * 1000, 3),
            "items_per_s": round(self.items / self.busy_s, 1) if self.busy_s > 0 else 0.0,
            "errors": self.errors,
        }


@dataclass(frozen=True)
class Undelivered:
    """Records a sink was given but could not write to its target, and where they are kept instead."""

    node: str
    node_type: str
    records: int
    kept_in: str  # a spool folder or rejected file; "" when even that could not be written
    reason: str = ""

    def describe(self) -> str:
        where = f"kept in {self.kept_in}" if self.kept_in else "LOST: they could not be saved anywhere"
        why = f" ({self.reason})" if self.reason else ""
        return f"sink '{self.node}' ({self.node_type}): {self.records} records not written{why}; {where}"


@dataclass
class RunReport:
    """What a run did: frames, time, per-node metrics, failures, and why it ended."""

    workflow_name: str
    frames: int = 0
    dropped: int = 0
    failures: int = 0
    elapsed_s: float = 0.0
    stopped_by: str = "end of input"
    exit_code: int = EXIT_OK
    nodes: list[NodeMetrics] = field(default_factory=list)
    failure_log: list[dict[str, Any]] = field(default_factory=list)
    placement: list[dict[str, Any]] = field(default_factory=list)  # ray: which worker ran what, where
    undelivered: list[Undelivered] = field(default_factory=list)

    @property
    def workflow(self) -> str:
        """The old name of ``workflow_name`` (it held the name, never the workflow): kept for plugins."""
        return self.workflow_name

    def finish(self, undelivered: list[Undelivered]) -> None:
        """After the sinks closed: note what they could not write, and settle the exit code."""
        self.undelivered = [u for u in undelivered if u.records]
        self.exit_code = decide_exit_code(self)

    @property
    def failed_frames(self) -> int:
        """Frames on which some node failed (from the failure log; its count when the log is full)."""
        seen = {(f.get("source"), f.get("frame")) for f in self.failure_log if f.get("frame") is not None}
        return len(seen) if len(self.failure_log) < 10_000 else max(len(seen), self.failures)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow_name,
            "frames": self.frames,
            "dropped": self.dropped,
            "failures": self.failures,
            "elapsed_s": round(self.elapsed_s, 3),
            "fps": round(self.fps, 2),
            "stopped_by": self.stopped_by,
            "exit_code": self.exit_code,
            "nodes": [m.summary() for m in self.nodes],
            "failure_log": self.failure_log[:1000],
            **({"placement": self.placement} if self.placement else {}),
            "undelivered": [{"node": u.node, "type": u.node_type, "records": u.records, "kept_in": u.kept_in,
                             "reason": u.reason} for u in self.undelivered],
        }

    def table(self) -> str:
        head = ("node", "type", "calls", "mean batch", "p50 ms", "p95 ms", "items/s", "errors")
        rows = [head] + [
            tuple(str(s[k]) for k in ("node", "type", "calls", "mean_batch", "p50_ms", "p95_ms", "items_per_s",
                                      "errors"))
            for s in (m.summary() for m in self.nodes)
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        tail = (f"{self.frames} frames in {self.elapsed_s:.2f} s ({self.fps:.1f} FPS), "
                f"{self.failures} failures, {self.dropped} dropped; stopped by {self.stopped_by}")
        notes = [u.describe() for u in self.undelivered]
        if any(not u.kept_in for u in self.undelivered):
            notes.append("records were LOST (exit code 1, not 3): free space for the sink's target or rejected file")
        if self.frames and self.failed_frames >= self.frames:
            notes.append(f"every frame failed ({self.frames}): see the errors above")
        return "\n".join(lines + [tail] + notes)
