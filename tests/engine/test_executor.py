"""The streaming executor: same results as the plain loop, order, batching, errors, bounds."""

import json
from collections import defaultdict

import pytest
from engine_test_nodes import CLOSED, GAUGE

from segflow.engine.api import loads
from segflow.engine.execution.lifecycle import SetupError


def records(path):
    out = defaultdict(list)
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[row["source"]].append(row)
    return dict(out)


BRANCHY = """
version: 1
name: branchy
settings: {{max_inflight: {inflight}}}
nodes:
  cam1: {{type: source.test_pattern, params: {{frames: 40, seed: 1, width: 64, height: 48}}}}
  cam2: {{type: source.test_pattern, params: {{frames: 30, seed: 2, width: 64, height: 48}}}}
  cam3: {{type: source.test_pattern, params: {{frames: 20, seed: 3, width: 64, height: 48}}}}
  model:
    type: debug.simulated_model
    params: {{batch_size: {batch}, call_ms: 2, item_ms: 0.5, max_wait_ms: 5}}
    inputs: {{image: [cam1.image, cam2.image, cam3.image]}}
  inv: {{type: debug.invert, inputs: {{image: model.image}}}}
  plain_stats: {{type: debug.stats, inputs: {{image: model.image}}}}
  inv_stats: {{type: debug.stats, inputs: {{image: inv.image}}}}
  join: {{type: debug.merge, inputs: {{a: plain_stats.value, b: inv_stats.value}}}}
  side: {{type: debug.stats, inputs: {{image: cam3.image}}}}
  rec: {{type: debug.record, params: {{path: {path}}}, inputs: {{image: inv.image, value: join.value}}}}
  side_rec: {{type: debug.record, params: {{path: {side}}}, inputs: {{value: side.value}}}}
"""


@pytest.mark.parametrize("batch", [1, 4])
@pytest.mark.parametrize("inflight", [1, 16])
def test_streaming_equals_sequential(tmp_path, registry, batch, inflight):
    def build(name):
        return loads(BRANCHY.format(path=tmp_path / f"{name}.jsonl", side=tmp_path / f"{name}-side.jsonl",
                                    batch=batch, inflight=inflight), registry=registry)

    report = build("stream").run()
    build("plain").run_sequential()
    stream, plain = records(tmp_path / "stream.jsonl"), records(tmp_path / "plain.jsonl")
    assert stream == plain  # same records, same per-source order
    assert {k: len(v) for k, v in stream.items()} == {"cam1": 40, "cam2": 30, "cam3": 20}
    for rows in stream.values():
        assert [r["frame"] for r in rows] == list(range(len(rows)))
        assert all(r["value"]["b"] is not None for r in rows)  # the join saw both branches
    assert records(tmp_path / "stream-side.jsonl") == records(tmp_path / "plain-side.jsonl")
    assert len(records(tmp_path / "stream-side.jsonl")["cam3"]) == 20
    assert report.frames == 90 and report.failures == 0


def test_batches_gather_across_sources(tmp_path, registry):
    text = BRANCHY.format(path=tmp_path / "r.jsonl", side=tmp_path / "s.jsonl", batch=4, inflight=32)
    report = loads(text, registry=registry).run()
    model = next(m for m in report.nodes if m.node_id == "model")
    assert model.items == 90
    assert model.calls < 90 / 2  # most calls carried several packets


SIMPLE = """
version: 1
name: simple
settings: {{on_error: {policy}, max_inflight: {inflight}}}
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 12, width: 32, height: 24}}}}
  fail: {{type: debug.fail, params: {{frames: [2, 5]}}, inputs: {{image: cam.image}} {override}}}
  rec: {{type: debug.record, params: {{path: {path}}}, inputs: {{image: fail.image}}}}
"""


def test_skip_policy_counts_failures_and_keeps_going(tmp_path, registry):
    text = SIMPLE.format(policy="skip", override="", path=tmp_path / "r.jsonl", inflight=16)
    report = loads(text, registry=registry).run()
    frames = [r["frame"] for r in records(tmp_path / "r.jsonl")["cam"]]
    assert frames == [f for f in range(12) if f not in (2, 5)]
    assert report.failures == 2 and report.exit_code == 0
    assert [(f["node"], f["source"], f["frame"]) for f in report.failure_log] == [("fail", "cam", 2),
                                                                                   ("fail", "cam", 5)]
    assert "simulated failure on frame 2" in report.failure_log[0]["error"]


@pytest.mark.parametrize(("policy", "override"), [("stop", ""), ("skip", ", on_error: stop")])
def test_stop_policy_ends_the_run_with_exit_code_1(tmp_path, registry, policy, override):
    # one packet in flight, so the source cannot run ahead of the failure
    report = loads(SIMPLE.format(policy=policy, override=override, path=tmp_path / "r.jsonl", inflight=1),
                   registry=registry).run()
    assert report.exit_code == 1
    assert "fail" in report.stopped_by
    assert report.frames == 3  # frames 0 and 1, and frame 2 that failed
    frames = [r["frame"] for r in records(tmp_path / "r.jsonl")["cam"]]
    assert frames == [0, 1]


def test_a_failing_packet_does_not_sink_its_batch(tmp_path, registry):
    text = """
version: 1
name: flaky
nodes:
  cam: {type: source.test_pattern, params: {frames: 16, width: 32, height: 24}}
  model: {type: test.flaky_batch, params: {batch_size: 8, max_wait_ms: 50, fail_frames: [3, 9]},
          inputs: {image: cam.image}}
  rec: {type: debug.record, params: {path: %s}, inputs: {image: model.image}}
""" % (tmp_path / "r.jsonl")
    report = loads(text, registry=registry).run()
    frames = [r["frame"] for r in records(tmp_path / "r.jsonl")["cam"]]
    assert frames == [f for f in range(16) if f not in (3, 9)]
    assert report.failures == 2


def test_in_flight_packets_are_bounded(tmp_path, registry):
    text = """
version: 1
name: bounded
settings: {max_inflight: 3}
nodes:
  cam: {type: source.test_pattern, params: {frames: 60, width: 32, height: 24}}
  gin: {type: test.gauge_in, inputs: {image: cam.image}}
  slow: {type: debug.simulated_model, params: {call_ms: 2, item_ms: 0, batch_size: 1}, inputs: {image: gin.image}}
  gout: {type: test.gauge_out, inputs: {image: slow.image}}
"""
    report = loads(text, registry=registry).run()
    assert report.frames == 60
    assert 1 <= GAUGE["max"] <= 3


@pytest.mark.parametrize(("drop", "expect_drops"), [("newest", True), ("oldest", True), ("none", False)])
def test_live_sources_drop_by_policy(tmp_path, registry, drop, expect_drops):
    text = f"""
version: 1
name: live
settings: {{max_inflight: 2}}
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 60, fps: 400, realtime: true, drop: {drop},
         width: 32, height: 24}}}}
  slow: {{type: debug.simulated_model, params: {{call_ms: 10, item_ms: 0}}, inputs: {{image: cam.image}}}}
  rec: {{type: debug.record, params: {{path: {tmp_path / "r.jsonl"}}}, inputs: {{image: slow.image}}}}
"""
    report = loads(text, registry=registry).run()
    frames = [r["frame"] for r in records(tmp_path / "r.jsonl")["cam"]]
    assert report.frames + report.dropped == 60
    assert len(frames) == report.frames
    assert frames == sorted(frames)
    assert (report.dropped > 0) == expect_drops
    assert next(m for m in report.nodes if m.node_id == "cam").dropped == report.dropped  # counted per source
    if drop == "oldest":
        assert frames[-1] == 59  # the newest frame survives
    if drop == "newest":
        assert frames[0] == 0  # the oldest frame survives


def test_setup_failure_names_the_node_and_closes_the_others(tmp_path, registry):
    text = """
version: 1
name: broken
nodes:
  cam: {type: source.test_pattern, params: {frames: 3}}
  ok: {type: test.broken, params: {when: never}, inputs: {image: cam.image}}
  bad: {type: test.broken, inputs: {image: ok.image}}
"""
    with pytest.raises(SetupError) as err:
        loads(text, registry=registry).run()
    assert "node 'bad' (test.broken): setup failed: FileNotFoundError: weights.pt" in str(err.value)
    assert "ok" in CLOSED and "bad" in CLOSED


def test_max_frames_limits_each_source(tmp_path, registry):
    text = BRANCHY.format(path=tmp_path / "r.jsonl", side=tmp_path / "s.jsonl", batch=2, inflight=8)
    report = loads(text, registry=registry).run(max_frames=5)
    assert report.frames == 15
    assert {k: len(v) for k, v in records(tmp_path / "r.jsonl").items()} == {"cam1": 5, "cam2": 5, "cam3": 5}


def test_run_image_returns_every_node_output(registry):
    import numpy as np

    wf = loads(BRANCHY.format(path="/dev/null", side="/dev/null", batch=2, inflight=8), registry=registry)
    pixels = np.full((10, 20, 3), 40, np.uint8)
    out = wf.run_image(pixels, "cam1")
    assert out["plain_stats"]["value"]["mean"] == pytest.approx(40)
    assert out["inv_stats"]["value"]["mean"] == pytest.approx(215)
    assert "side" not in out  # fed by cam3 only


def test_a_node_returning_the_wrong_type_fails_per_frame_without_stalling(tmp_path, registry):
    text = f"""
version: 1
name: bad
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 5, width: 16, height: 16}}}}
  bad: {{type: test.bad_return, inputs: {{image: cam.image}}}}
  rec: {{type: debug.record, params: {{path: {tmp_path / "r.jsonl"}}}, inputs: {{image: bad.image}}}}
"""
    report = loads(text, registry=registry).run()
    assert report.frames == 5 and report.failures == 5
    assert "returned list, expected a dict" in report.failure_log[0]["error"]
    assert not (tmp_path / "r.jsonl").read_text()


def test_a_source_that_dies_ends_the_run_with_exit_code_1(tmp_path, registry):
    from segflow.engine.registry import Registry

    class DyingParams(__import__("segflow.engine", fromlist=["x"]).LiveSourceParams):
        pass

    from segflow.engine import SourceNode, node_type

    @node_type("test.dying_source")
    class Dying(SourceNode):
        """Gives two frames, then its device disappears."""

        Params = DyingParams

        def frames(self):
            import numpy as np

            for i in range(2):
                yield self.make_frame(np.zeros((8, 8, 3), np.uint8), i, float(i))
            raise OSError("camera unplugged")

    assert isinstance(registry, Registry)
    registry.register(Dying, "tests")
    text = f"""
version: 1
name: dying
nodes:
  cam: {{type: test.dying_source}}
  rec: {{type: debug.record, params: {{path: {tmp_path / "r.jsonl"}}}, inputs: {{image: cam.image}}}}
"""
    report = loads(text, registry=registry).run()
    assert report.frames == 2  # what it gave is processed
    assert report.exit_code == 1 and report.stopped_by == "source 'cam' failed"
    assert "camera unplugged" in report.failure_log[0]["error"]
