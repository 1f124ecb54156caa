"""``segflow run --serve HOST:PORT``: Prometheus metrics and a health check while a workflow runs.

A box next to a line is watched by a monitoring stack, not a person: it
scrapes ``/metrics`` (per node: calls, errors, a latency and a batch-size
histogram; per source: frames, drops, reconnects, FPS, up) and probes
``/healthz``, which answers 503 while any source is down (a camera between a
drop and its reconnect, a source that failed) so the stack can alert.

The server is a run hook: it binds when created (so a port in use is an error
before any model loads), reads the live :class:`~segflow.engine.observe.metrics.NodeMetrics`
and each source's ``health()`` through the keywords executors pass to
``on_start``, and stops at ``on_end``. Standard library only.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from segflow.engine.frame import PacketInfo
from segflow.engine.node import SourceHealth
from segflow.engine.observe.exposition import CONTENT_TYPE, Family, render
from segflow.engine.observe.hooks import RunHooks, SourceWatch
from segflow.engine.observe.metrics import BATCH_BOUNDS, LATENCY_BOUNDS, NodeMetrics

log = logging.getLogger("segflow")
FPS_WINDOW_S = 5.0


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9100``, or ``:9100`` for 127.0.0.1) as a pair; ValueError says what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:9100")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


class RateWindow:
    """Events per second over the last ``window_s`` seconds (clock injected for tests)."""

    def __init__(self, window_s: float = FPS_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.clock = clock
        self.started = clock()
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def tick(self) -> None:
        with self._lock:
            self._times.append(self.clock())

    def rate(self) -> float:
        now = self.clock()
        with self._lock:
            while self._times and self._times[0] <= now - self.window_s:
                self._times.popleft()
            count = len(self._times)
        span = min(self.window_s, now - self.started)  # a run younger than the window
        return count / span if span > 0 else 0.0


class RunMonitor(RunHooks):
    """Collects what the run exposes; :meth:`metrics_text` and :meth:`health` answer the endpoints."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.workflow_name = ""
        self.started: float | None = None
        self.ended = False
        self._node_metrics: Callable[[], list[NodeMetrics]] = list
        self._sources: Mapping[str, SourceWatch] = {}
        self._finished: dict[str, int] = {}
        self._rates: dict[str, RateWindow] = {}
        self._failed_sources: dict[str, str] = {}
        self.failures = 0

    # -- hooks ------------------------------------------------------------------------------
    def on_start(self, *, workflow_name: str, total_frames: int | None,
                 node_metrics: Callable[[], list[NodeMetrics]] | None = None,
                 sources: Mapping[str, SourceWatch] | None = None, **future_kwargs: Any) -> None:
        self.workflow_name = workflow_name
        self._node_metrics = node_metrics or list
        self._sources = dict(sources or {})
        self._finished = dict.fromkeys(self._sources, 0)
        self._rates = {sid: RateWindow(clock=self.clock) for sid in self._sources}
        self.started = self.clock()

    def on_packet_done(self, *, info: PacketInfo, **future_kwargs: Any) -> None:
        source = info.source_id
        self._finished[source] = self._finished.get(source, 0) + 1
        rate = self._rates.get(source)
        if rate is not None:
            rate.tick()

    def on_failure(self, *, node: str, info: PacketInfo | None, error: str, **future_kwargs: Any) -> None:
        self.failures += 1
        if info is None and node in self._sources:
            self._failed_sources[node] = error

    def on_end(self, **future_kwargs: Any) -> None:
        self.ended = True

    # -- answers ----------------------------------------------------------------------------
    @property
    def frames_finished(self) -> int:
        """Frames of every source that went through the whole graph so far."""
        return sum(self._finished.values())

    def source_health(self) -> dict[str, SourceHealth]:
        states = {}
        for sid, node in self._sources.items():
            health = node.health()
            if sid in self._failed_sources:
                health = SourceHealth(False, health.drops, health.reconnects, f"failed: {self._failed_sources[sid]}")
            states[sid] = health
        return states

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the run is healthy, and why: every source up, and the run started and not over."""
        if self.started is None:
            return False, {"status": "starting", "workflow": self.workflow_name}
        states = self.source_health()
        healthy = not self.ended and all(h.up for h in states.values())
        body = {
            "status": "ok" if healthy else ("ended" if self.ended else "unhealthy"),
            "workflow": self.workflow_name,
            "sources": {sid: {"up": h.up, "detail": h.detail} for sid, h in states.items()},
        }
        return healthy, body

    def metrics_text(self) -> str:
        return render(self.families())

    def families(self) -> list[Family]:
        run = Family("segflow_run_info", "gauge", "The workflow this process runs (value is always 1).")
        run.add({"workflow": self.workflow_name}, 1)
        uptime = Family("segflow_run_uptime_seconds", "gauge", "Seconds since the sources started.")
        uptime.add({}, 0.0 if self.started is None else self.clock() - self.started)
        failures = Family("segflow_run_failures_total", "counter", "Failures of any node on any frame.")
        failures.add({}, self.failures)
        families = [run, uptime, failures, *self._node_families(), *self._source_families()]
        return families

    def _node_families(self) -> list[Family]:
        calls = Family("segflow_node_calls_total", "counter", "Calls of the node (one call may take a batch).")
        items = Family("segflow_node_items_total", "counter", "Packets the node processed (items/calls = mean batch).")
        errors = Family("segflow_node_errors_total", "counter", "Packets on which the node failed.")
        latency = Family("segflow_node_latency_seconds", "histogram", "Duration of one call of the node.")
        batch = Family("segflow_node_batch_size", "histogram", "Packets per call of the node.")
        for m in self._node_metrics():
            labels = {"node": m.node_id, "type": m.node_type}
            calls.add(labels, m.calls)
            items.add(labels, m.items)
            errors.add(labels, m.errors)
            latency.add_histogram(labels, LATENCY_BOUNDS, list(m.latency_counts), m.busy_s)
            batch.add_histogram(labels, BATCH_BOUNDS, list(m.batch_counts), m.items)
        return [calls, items, errors, latency, batch]

    def _source_families(self) -> list[Family]:
        mine = [m for m in self._node_metrics() if m.node_id in self._sources]
        read = {m.node_id: m.calls for m in mine}
        dropped = {m.node_id: m.dropped for m in mine}
        frames = Family("segflow_source_frames_total", "counter", "Frames read from the source.")
        finished = Family("segflow_source_frames_finished_total", "counter",
                          "Frames of the source that went through the whole graph.")
        frames_dropped = Family("segflow_source_frames_dropped_total", "counter",
                                "Frames the source's drop policy dropped because the graph was behind.")
        drops = Family("segflow_source_drops_total", "counter", "Streams lost after giving frames (live sources).")
        reconnects = Family("segflow_source_reconnects_total", "counter", "Streams regained after a drop.")
        fps = Family("segflow_source_fps", "gauge",
                     f"Frames of the source finished per second over the last {FPS_WINDOW_S:g} s.")
        up = Family("segflow_source_up", "gauge", "1 while the source delivers, 0 while it is down or failed.")
        for sid, health in self.source_health().items():
            labels = {"source": sid}
            frames.add(labels, read.get(sid, 0))
            frames_dropped.add(labels, dropped.get(sid, 0))
            finished.add(labels, self._finished.get(sid, 0))
            drops.add(labels, health.drops)
            reconnects.add(labels, health.reconnects)
            fps.add(labels, round(self._rates[sid].rate(), 3) if sid in self._rates else 0.0)
            up.add(labels, 1 if health.up else 0)
        return [frames, finished, frames_dropped, drops, reconnects, fps, up]


class MetricsServer(RunMonitor):
    """The monitor behind an HTTP server: ``/metrics``, ``/healthz``; binds on creation."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__()
        monitor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._answer(200, CONTENT_TYPE, monitor.metrics_text())
                elif path == "/healthz":
                    healthy, body = monitor.health()
                    self._answer(200 if healthy else 503, "application/json", json.dumps(body))
                else:
                    self._answer(404, "text/plain; charset=utf-8", "segflow serves /metrics and /healthz\n")

            def _answer(self, status: int, content_type: str, text: str) -> None:
                data = text.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
                log.debug("monitor: " + format, *args)

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("MonitorServer", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        self._server: ThreadingHTTPServer | None = server_class((host, port), Handler)
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        self.address = f"{shown}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="segflow-monitor", daemon=True)
        self._thread.start()
        log.info("serving metrics on http://%s/metrics and health on /healthz", self.address)

    def on_end(self, **future_kwargs: Any) -> None:
        super().on_end(**future_kwargs)
        self.close()

    def close(self) -> None:
        """Stop serving (idempotent): after ``on_end``, or when the run never started."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
