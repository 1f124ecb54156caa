"""The metrics exposition and the run monitor, without a server: fake clocks, real parser."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from segflow.engine.frame import PacketInfo
from segflow.engine.node import RunContext, SourceHealth, SourceNode
from segflow.engine.observe.exposition import Family, escape_label, render
from segflow.engine.observe.metrics import BATCH_BOUNDS, LATENCY_BOUNDS, NodeMetrics
from segflow.engine.observe.monitor import RateWindow, RunMonitor, parse_address


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Cam(SourceNode):
    type_name = "test.cam"
    state = SourceHealth()

    def health(self) -> SourceHealth:
        return self.state


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("belt", "belt"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("two\nlines", "two\\nlines")],
)
def test_label_escaping(raw: str, escaped: str) -> None:
    assert escape_label(raw) == escaped
    family = Family("x_total", "counter", "X.")
    family.add({"node": raw}, 3)
    (sample,) = families(render([family]))["x"].samples
    assert sample.labels == {"node": raw} and sample.value == 3


def test_histogram_is_cumulative_and_count_is_the_inf_bucket() -> None:
    family = Family("lat_seconds", "histogram", "Latency.")
    family.add_histogram({"node": "n"}, (0.1, 1.0), [2, 0, 3], 7.5)  # 2 <= 0.1, none in (0.1, 1], 3 above
    got = {(s.name, s.labels.get("le")): s.value for s in families(render([family]))["lat_seconds"].samples}
    assert got == {
        ("lat_seconds_bucket", "0.1"): 2,
        ("lat_seconds_bucket", "1.0"): 2,
        ("lat_seconds_bucket", "+Inf"): 5,
        ("lat_seconds_sum", None): 7.5,
        ("lat_seconds_count", None): 5,
    }


def test_node_metrics_fill_the_buckets() -> None:
    m = NodeMetrics("detect", "detect.yolo")
    for items, seconds in [(1, 0.0001), (2, 0.0003), (3, 0.02), (8, 0.02), (9, 30.0), (2000, 0.5)]:
        m.record(items, seconds)
    by_bound = dict(zip([*LATENCY_BOUNDS, "inf"], m.latency_counts, strict=True))
    assert (by_bound[0.0001], by_bound[0.0005], by_bound[0.025], by_bound[0.5], by_bound["inf"]) == (1, 1, 2, 1, 1)
    assert sum(m.latency_counts) == 6
    by_size = dict(zip([*BATCH_BOUNDS, "inf"], m.batch_counts, strict=True))
    assert (by_size[1], by_size[2], by_size[4], by_size[8], by_size[16], by_size["inf"]) == (1, 1, 1, 1, 1, 1)


def test_rate_window_counts_the_last_seconds_only() -> None:
    clock = Clock()
    rate = RateWindow(window_s=5.0, clock=clock)
    clock.now += 1.0
    for _ in range(10):
        rate.tick()
    assert rate.rate() == pytest.approx(10.0)  # a run 1 s old: 10 frames in 1 s
    clock.now += 4.0
    assert rate.rate() == pytest.approx(2.0)  # 10 frames in the last 5 s
    clock.now += 1.5
    assert rate.rate() == 0.0


def test_health_follows_sources_and_failures() -> None:
    clock = Clock()
    monitor = RunMonitor(clock=clock)
    cam = Cam("cam", None, RunContext())
    assert monitor.health() == (False, {"status": "starting", "workflow": ""})
    metrics = [NodeMetrics("cam", "test.cam"), NodeMetrics("log", "sink.jsonl")]
    monitor.on_start(workflow_name="line", total_frames=None, node_metrics=lambda: metrics, sources={"cam": cam})
    healthy, body = monitor.health()
    assert healthy and body["status"] == "ok" and body["sources"] == {"cam": {"up": True, "detail": ""}}

    metrics[0].record(1, 0.01)
    monitor.on_packet_done(info=PacketInfo("cam", 0, 0.0), values={}, frames_done=1)
    cam.state = SourceHealth(False, drops=1, reconnects=0, detail="stream dropped (no frame for 5.0 s)")
    healthy, body = monitor.health()
    assert not healthy and body["status"] == "unhealthy"
    assert body["sources"]["cam"] == {"up": False, "detail": "stream dropped (no frame for 5.0 s)"}
    got = families(monitor.metrics_text())
    value = {(f, tuple(s.labels.values())): s.value for f in got for s in got[f].samples}
    assert value[("segflow_source_up", ("cam",))] == 0
    assert value[("segflow_source_drops", ("cam",))] == 1
    assert value[("segflow_source_frames", ("cam",))] == 1
    assert value[("segflow_source_frames_finished", ("cam",))] == 1
    assert value[("segflow_node_calls", ("log", "sink.jsonl"))] == 0
    assert got["segflow_node_latency_seconds"].type == "histogram"

    cam.state = SourceHealth(True, drops=1, reconnects=1)
    assert monitor.health()[0]
    monitor.on_failure(node="cam", node_type="test.cam", info=None, error="camera 'cam': gave up")
    healthy, body = monitor.health()
    assert not healthy and body["sources"]["cam"]["detail"] == "failed: camera 'cam': gave up"
    monitor.on_end(report=None)
    assert monitor.health()[1]["status"] == "ended"


def test_a_node_failure_on_a_frame_does_not_make_the_run_unhealthy() -> None:
    monitor = RunMonitor()
    monitor.on_start(workflow_name="line", total_frames=None, sources={"cam": Cam("cam", None, RunContext())})
    monitor.on_failure(node="measure", node_type="measure.masks", info=PacketInfo("cam", 3, 0.1), error="bad")
    assert monitor.health()[0] and monitor.failures == 1


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:9100", ("127.0.0.1", 9100)), (":9100", ("127.0.0.1", 9100)), ("[::1]:0", ("::1", 0)),
     ("0.0.0.0:80", ("0.0.0.0", 80)), ("9100", None), ("host:port", None), ("h:70000", None)],
)
def test_parse_address(text: str, address: tuple[str, int] | None) -> None:
    if address is None:
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_address(text)
    else:
        assert parse_address(text) == address
