"""sink.mqtt against a real Mosquitto broker on loopback, including a broker restart mid-run."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from sinkkit import Broker, Subscriber, feed, make_node, rendered_detections

from segflow.nodes.sinks.mqtt import MqttSink

FAST = {
    "backoff_initial_s": 0.05,
    "backoff_max_s": 0.3,
    "flush_interval_s": 0.05,
    "ack_timeout_s": 2.0,
}


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def first_copies(messages: list[tuple[str, dict]]) -> list[tuple[str, dict]]:
    seen: dict[str, tuple[str, dict]] = {}
    for topic, record in messages:
        seen.setdefault(record["record_id"], (topic, record))
    return list(seen.values())


def test_records_are_published_per_source_topic(broker: Broker, tmp_path: Path) -> None:
    wf = f"wf{uuid.uuid4().hex[:6]}"
    sub = Subscriber(broker.port, f"segflow/{wf}/#", f"t-{uuid.uuid4().hex[:8]}")
    node = make_node(MqttSink, tmp_path, workflow=wf, port=broker.port, batch_size=5, **FAST)
    for i in range(4):
        feed(node, i, rendered_detections(), source="left" if i % 2 else "right/2")
    node.close()
    wait_for(lambda: len(first_copies(sub.messages)) == 12)
    sub.close()
    got = first_copies(sub.messages)
    assert [(t, r["frame"], r["det_index"]) for t, r in got] == [
        (f"segflow/{wf}/{'left' if i % 2 else 'right_2'}", i, d) for i in range(4) for d in range(3)
    ]
    assert got[1][1]["class"] == "bean" and got[1][1]["length_mm"] == 4.5


def test_broker_restart_mid_run_loses_nothing(broker: Broker, tmp_path: Path) -> None:
    wf = f"wf{uuid.uuid4().hex[:6]}"
    sub = Subscriber(broker.port, f"segflow/{wf}/#", f"t-{uuid.uuid4().hex[:8]}")
    node = make_node(
        MqttSink,
        tmp_path,
        workflow=wf,
        port=broker.port,
        per="frame",
        batch_size=3,
        memory_records=5,
        **FAST,
    )
    expected = []
    try:
        for i in range(40):
            if i == 10:
                wait_for(lambda: len(first_copies(sub.messages)) >= 1)
                broker.stop()
            if i == 25:
                assert node.outbox.spool.disk_count > 0
                broker.start()
            feed(node, i, rendered_detections(), source=f"cam{i % 2}")
            expected.append((f"cam{i % 2}", i))
            time.sleep(0.01)
        node.close()
        wait_for(lambda: len(first_copies(sub.messages)) == 40, timeout=30)
    finally:
        sub.close()
    got = [(r["source"], r["frame"]) for _, r in first_copies(sub.messages)]
    assert sorted(got) == sorted(expected)
    for cam in ("cam0", "cam1"):
        frames = [f for s, f in got if s == cam]
        assert frames == sorted(frames)


@pytest.mark.parametrize(
    ("topic", "error"),
    [
        ("segflow/{workflow}/{source}", None),
        ("plant/{node}/{source}/out", None),
        ("segflow/{camera}", "only {workflow}"),
        ("segflow/#", "no wildcards"),
        ("segflow/{source", "topic"),
    ],
)
def test_topic_template(topic: str, error: str | None) -> None:
    if error is None:
        assert MqttSink.Params(topic=topic).topic == topic
    else:
        with pytest.raises(ValueError, match=error):
            MqttSink.Params(topic=topic)
