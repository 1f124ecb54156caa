"""sink.webhook against a real HTTP server on loopback that goes down and comes back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sinkkit import Receiver, feed, make_node, rendered_detections

from segflow.engine.node import RunContext
from segflow.nodes.sinks.webhook import WebhookSink

FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "flush_interval_s": 0.05}


def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def ids_by_source(records: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for r in records:
        out.setdefault(r["source"], []).append(r["record_id"])
    return out


def assert_exactly_once_in_order(received: list[dict], expected: list[tuple[str, int]]) -> None:
    first_seen: dict[str, dict] = {}
    for r in received:
        first_seen.setdefault(r["record_id"], r)  # a receiver keeps one copy per id
    got = [(r["source"], r["frame"]) for r in first_seen.values()]
    assert sorted(got) == sorted(expected)
    for source in {s for s, _ in expected}:
        frames = [f for s, f in got if s == source]
        assert frames == sorted(frames), f"source {source} out of order"


def test_batches_arrive_in_order(receiver: Receiver, tmp_path: Path) -> None:
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", batch_size=4, **FAST)
    for i in range(10):
        feed(node, i, rendered_detections(), source="a" if i % 2 else "b")
    node.close()
    frames = [(r["source"], r["frame"]) for r in receiver.records()]
    assert frames == [("a" if i % 2 else "b", i) for i in range(10)]
    assert all(len(b["records"]) <= 4 for b in receiver.batches)
    assert receiver.batches[0]["workflow"] == "wf" and receiver.batches[0]["node"] == "sink"
    assert receiver.records()[0]["counts"] == {"stone": 2, "bean": 1}
    keys = [h["Idempotency-Key"] for h in receiver.headers]
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("outage", ["refused", "503"])
def test_endpoint_down_for_part_of_the_run(receiver: Receiver, tmp_path: Path, outage: str) -> None:
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", batch_size=3, memory_records=4, **FAST)
    expected = []
    for i in range(30):
        if i == 5:
            receiver.stop() if outage == "refused" else setattr(receiver, "status", 503)
        if i == 20:
            assert node.outbox.spool.disk_count > 0  # the memory bound spilled to disk
            receiver.start() if outage == "refused" else setattr(receiver, "status", 200)
        feed(node, i, rendered_detections(), source=f"cam{i % 3}")
        expected.append((f"cam{i % 3}", i))
    node.close()
    assert_exactly_once_in_order(receiver.records(), expected)


def test_stop_while_down_spools_and_next_start_replays_first(receiver: Receiver, tmp_path: Path) -> None:
    receiver.stop()
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", drain_timeout_s=0.3, **FAST)
    for i in range(6):
        feed(node, i, rendered_detections())
    node.close()
    spool = tmp_path / ".segflow/spool/wf/sink"
    assert len(list(spool.glob("*.jsonl"))) == 1
    receiver.start()
    again = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", **FAST)
    for i in range(6, 9):
        feed(again, i, rendered_detections())
    again.close()
    assert [r["frame"] for r in receiver.records()] == list(range(9))
    runs = [r["record_id"].rsplit("-", 2)[0] for r in receiver.records()]
    assert len(set(runs[:6])) == 1 and runs[0] != runs[-1]
    assert not list(spool.glob("*.jsonl"))


def test_permanent_refusal_is_set_aside_and_the_queue_moves_on(receiver: Receiver, tmp_path: Path) -> None:
    receiver.status = 400
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", batch_size=2, **FAST)
    feed(node, 0, rendered_detections())
    feed(node, 1, rendered_detections())
    wait_for(lambda: node.outbox.sender.refused == 2 and (tmp_path / ".segflow/spool/wf/sink/rejected.jsonl").exists())
    receiver.status = 200
    feed(node, 2, rendered_detections())
    node.close()
    assert [r["frame"] for r in receiver.records()] == [2]
    rejected = [
        json.loads(line) for line in (tmp_path / ".segflow/spool/wf/sink/rejected.jsonl").read_text().splitlines()
    ]
    assert [r["record"]["frame"] for r in rejected] == [0, 1] and "400" in rejected[0]["error"]


def test_headers_read_the_environment(receiver: Receiver, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    node = make_node(
        WebhookSink,
        tmp_path,
        url=receiver.url,
        headers={"Authorization": "Bearer ${HOOK_TOKEN}"},
        **FAST,
    )
    feed(node, 0, rendered_detections())
    node.close()
    assert receiver.headers[0]["Authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"url": "http://127.0.0.1:1/x"}, None),
        ({"url": "http://x/y", "headers": {"A": "${SEGFLOW_SURELY_UNSET}"}}, "not set"),
        ({"url": "http://x/y", "spool_dir": "blocker/spool"}, "is a file"),
    ],
)
def test_check_params(tmp_path: Path, params: dict, problem: str | None) -> None:
    (tmp_path / "blocker").write_text("x")
    problems = WebhookSink.check_params(WebhookSink.Params(**params), RunContext(base_dir=tmp_path))
    assert (problems == []) if problem is None else (problem in problems[0].message)


@pytest.mark.parametrize("url", ["ftp://x/y", "example.com/hook", ""])
def test_bad_url_is_a_param_error(url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        WebhookSink.Params(url=url)
