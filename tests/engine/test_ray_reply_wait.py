"""A shard's wait for a model actor's reply: bounded, so a hung actor is a named failure, not a hang.

``ray.get`` is replaced here (no cluster needed): what is checked is what the shard
does with a reply that comes, slow or not, and with one that never comes.
"""

from __future__ import annotations

import queue
from types import SimpleNamespace

import pytest

ray = pytest.importorskip("ray")

from segflow.engine.execution.batching import END  # noqa: E402
from segflow.engine.execution.ray.shard import RemoteStage  # noqa: E402
from segflow.engine.execution.steps import NodeCrash  # noqa: E402
from segflow.engine.frame import PacketInfo  # noqa: E402
from segflow.engine.workflow.spec import RaySettings  # noqa: E402


class Worker:
    dead = False

    def __init__(self) -> None:
        self.crashes: list[BaseException] = []
        self.forwarded: list[object] = []

    def crash(self, exc: BaseException) -> None:
        self.crashes.append(exc)

    def forward(self, packet: object) -> None:
        self.forwarded.append(packet)


def complete(monkeypatch, get) -> tuple[Worker, list]:
    monkeypatch.setattr(ray, "get", get)
    spec = SimpleNamespace(id="yolo", type_name="detect.yolo")
    stage = RemoteStage(handle=None, spec=spec, window=2, reply_timeout_s=7.5)
    packets = [SimpleNamespace(info=PacketInfo("cam", 41, 0.0), values={}),
               SimpleNamespace(info=PacketInfo("cam", 42, 0.0), values={})]
    pending: queue.SimpleQueue = queue.SimpleQueue()
    pending.put((packets, "ref"))
    pending.put(END)
    stage.window.acquire()  # as serve() does before each call
    worker = Worker()
    stage._complete(worker, pending)
    return worker, packets


def test_a_reply_that_never_comes_fails_the_run_naming_node_and_frame(monkeypatch):
    waits = []

    def never(ref, timeout=None):
        waits.append(timeout)
        raise ray.exceptions.GetTimeoutError("late")

    worker, packets = complete(monkeypatch, never)
    assert waits == [7.5]
    [crash] = worker.crashes
    assert isinstance(crash, NodeCrash) and crash.node_id == "yolo"
    assert "node 'yolo' (detect.yolo)" in str(crash) and "source 'cam' frame 41" in str(crash)
    assert "no reply from its Ray actor in 7.5 s (settings.ray.reply_timeout_s)" in str(crash)
    assert worker.forwarded == packets  # passed on (as failed) so the stage drains


def test_a_slow_reply_within_the_bound_is_used(monkeypatch):
    reply = SimpleNamespace(outputs=[{"n": 1}, {"n": 2}], failures=[], crash=None)
    worker, packets = complete(monkeypatch, lambda ref, timeout=None: reply)
    assert worker.crashes == []
    assert [p.values for p in worker.forwarded] == [{"n": 1}, {"n": 2}]


def test_the_bound_is_a_setting_and_must_be_positive():
    assert RaySettings().reply_timeout_s == 600.0
    assert RaySettings(reply_timeout_s=30).reply_timeout_s == 30
    with pytest.raises(ValueError):
        RaySettings(reply_timeout_s=0)
