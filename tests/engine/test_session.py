"""EditorSession: kept instances, ComfyUI-style keys, only changed nodes re-run."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest
from pydantic import Field
from skimage import data

from segflow.engine import Inputs, Kind, Node, NodeError, Params, Port, node_type
from segflow.engine.api import loads
from segflow.engine.execution.session import EditorSession
from segflow.engine.node import RunContext
from segflow.engine.registry import Registry
from segflow.engine.workflow.validate import validate_text
from segflow.nodes.debug import Invert, Stats
from segflow.nodes.sources.synthetic import PatternSource

CALLS: Counter[tuple[str, str]] = Counter()


class CountParams(Params):
    add: int = Field(0, ge=0, le=255, description="Added to every pixel (saturating).")
    fail: bool = Field(False, description="Raise a NodeError on every frame.")
    fail_setup: bool = Field(False, description="Raise in setup().")


@node_type("debug.count")
class Count(Node):
    """Counts its setups, calls and closes per node id; brightens the image by ``add``."""

    Params = CountParams
    params: CountParams
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def setup(self) -> None:
        CALLS[(self.node_id, "setup")] += 1
        if self.params.fail_setup:
            raise NodeError("model file missing", hint="train one first")

    def process(self, inputs: Inputs) -> dict[str, Any]:
        CALLS[(self.node_id, "process")] += 1
        if self.params.fail:
            raise NodeError("simulated failure")
        frame = inputs["image"]
        out = np.clip(frame.pixels.astype(np.int16) + self.params.add, 0, 255).astype(np.uint8)
        return {"image": frame.with_pixels(out)}

    def close(self) -> None:
        CALLS[(self.node_id, "close")] += 1


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    for cls in (Count, PatternSource, Invert, Stats):
        reg.register(cls)
    CALLS.clear()
    return reg


@pytest.fixture
def coins() -> np.ndarray:
    gray = data.coins()[::4, ::4]
    return np.ascontiguousarray(np.stack([gray] * 3, axis=-1))


def workflow(a: int = 0, b: int = 0, c: int = 0, b_fail: bool = False, b_fail_setup: bool = False,
             c_input: str = "b.image", with_stats: bool = True) -> str:
    """cam -> a -> b -> c, and a -> inv -> stats (a branch beside b and c)."""
    text = f"""
version: 1
name: session-test
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 1}}}}
  a: {{type: debug.count, params: {{add: {a}}}, inputs: {{image: cam.image}}}}
  b:
    type: debug.count
    params: {{add: {b}, fail: {str(b_fail).lower()}, fail_setup: {str(b_fail_setup).lower()}}}
    inputs: {{image: a.image}}
  c: {{type: debug.count, params: {{add: {c}}}, inputs: {{image: {c_input}}}}}
  inv: {{type: debug.invert, inputs: {{image: a.image}}}}
"""
    if with_stats:
        text += "  stats: {type: debug.stats, inputs: {image: inv.image}}\n"
    return text


def compile_(registry: Registry, text: str):
    result = validate_text(text, "t.yaml", registry)
    assert result.graph is not None, [i.format() for i in result.issues]
    return result.graph


def calls(kind: str) -> dict[str, int]:
    return {node: n for (node, k), n in CALLS.items() if k == kind}


def test_first_run_runs_everything_and_matches_run_image(registry, coins):
    graph = compile_(registry, workflow(a=10, b=20, c=30))
    with EditorSession() as session:
        result = session.run_image(graph, coins)
    assert sorted(result.ran) == ["a", "b", "c", "cam", "inv", "stats"]
    reference = loads(workflow(a=10, b=20, c=30), "t.yaml", registry=registry).run_image(coins)
    assert np.array_equal(result.outputs["c"]["image"].pixels, reference["c"]["image"].pixels)
    assert result.outputs["stats"]["value"] == reference["stats"]["value"]
    # Saturating arithmetic done independently of the node: coins + 60, capped at 255.
    expected = np.minimum(coins.astype(int) + 60, 255)
    assert np.array_equal(result.outputs["c"]["image"].pixels, expected)
    assert all(r.seconds >= 0 for r in result.runs.values())


@pytest.mark.parametrize(
    ("change", "reran"),
    [
        ({}, set()),
        ({"c": 5}, {"c"}),
        ({"b": 5}, {"b", "c"}),
        ({"a": 5}, {"a", "b", "c", "inv", "stats"}),
        ({"c_input": "a.image"}, {"c"}),
        ({"with_stats": False}, set()),
    ],
)
def test_rerun_executes_only_changed_nodes_and_their_descendants(registry, coins, change, reran):
    base = {"a": 1, "b": 2, "c": 3}
    with EditorSession() as session:
        session.run_image(compile_(registry, workflow(**base)), coins)
        before = calls("process")
        result = session.run_image(compile_(registry, workflow(**{**base, **change})), coins)
    after = calls("process")
    assert set(result.ran) - {"cam"} == reran
    counted = {"a", "b", "c"}
    assert {n for n in counted if after.get(n) != before.get(n)} == reran & counted
    assert set(result.cached) == set(result.runs) - reran - {"cam"}


def test_changed_params_recreate_only_that_node(registry, coins):
    with EditorSession() as session:
        session.run_image(compile_(registry, workflow(a=1, b=2, c=3)), coins)
        assert calls("setup") == {"a": 1, "b": 1, "c": 1}
        session.run_image(compile_(registry, workflow(a=1, b=9, c=3)), coins)
        assert calls("setup") == {"a": 1, "b": 2, "c": 1}
        assert calls("close") == {"b": 1}
        # A new image re-runs every node but keeps every instance (models stay loaded).
        session.run_image(compile_(registry, workflow(a=1, b=9, c=3)), coins[::-1].copy())
        assert calls("setup") == {"a": 1, "b": 2, "c": 1}
        assert calls("process") == {"a": 2, "b": 3, "c": 3}
    assert calls("close") == {"a": 1, "b": 2, "c": 1}


def test_node_removed_from_graph_is_closed(registry, coins):
    with EditorSession() as session:
        session.run_image(compile_(registry, workflow()), coins)
        text = workflow().replace("  c: {type: debug.count, params: {add: 0}, inputs: {image: b.image}}\n", "")
        assert "  c:" not in text
        session.run_image(compile_(registry, text), coins)
        assert calls("close") == {"c": 1}
        assert "c" not in session.live_nodes


@pytest.mark.parametrize("failure", ["b_fail", "b_fail_setup"])
def test_failure_is_reported_skips_downstream_and_is_not_cached(registry, coins, failure):
    with EditorSession() as session:
        result = session.run_image(compile_(registry, workflow(**{failure: True})), coins)
        assert result.runs["b"].status == "failed"
        assert "b" in result.errors and ("simulated failure" in result.errors["b"]
                                          or "model file missing" in result.errors["b"])
        assert result.runs["c"].status == "skipped"
        assert result.runs["stats"].status == "ran"  # the other branch is not affected
        again = session.run_image(compile_(registry, workflow(**{failure: True})), coins)
        assert again.runs["b"].status == "failed"  # tried again, not served from a cache
        fixed = session.run_image(compile_(registry, workflow()), coins)
        assert fixed.runs["b"].status == fixed.runs["c"].status == "ran"
        assert fixed.runs["a"].status == "cached"


def test_cached_outputs_are_not_changed_by_downstream_mutation(registry, coins):
    seen: list[np.ndarray] = []

    class Scribble(Count):
        def process(self, inputs: Inputs) -> dict[str, Any]:
            seen.append(inputs["image"].pixels.copy())
            inputs["image"].pixels[:] = 0  # a badly behaved node writing into its input
            return super().process(inputs)

    Scribble.type_name = "debug.scribble"
    registry.register(Scribble)
    text = workflow(a=7).replace("type: debug.count, params: {add: 0}, inputs: {image: b.image}",
                                 "type: debug.scribble, params: {add: 0}, inputs: {image: b.image}")
    changed = text.replace("add: 0}, inputs: {image: b", "add: 1}, inputs: {image: b")
    assert changed != text
    with EditorSession() as session:
        session.run_image(compile_(registry, text), coins)
        result = session.run_image(compile_(registry, changed), coins)
    assert result.ran == ["cam", "c"]
    expected = np.minimum(coins.astype(int) + 7, 255)
    assert len(seen) == 2
    assert np.array_equal(seen[0], expected) and np.array_equal(seen[1], expected)


def test_sinks_can_be_left_out(registry, coins, tmp_path):
    from segflow.nodes.debug import Record

    registry.register(Record)
    text = workflow() + f"  rec: {{type: debug.record, params: {{path: {tmp_path / 'r.jsonl'}}}, " \
                        "inputs: {image: c.image}}\n"
    with EditorSession(RunContext(base_dir=tmp_path), run_sinks=False) as session:
        result = session.run_image(compile_(registry, text), coins)
    assert result.runs["rec"].status == "off"
    assert not (tmp_path / "r.jsonl").exists()
    with EditorSession(RunContext(base_dir=tmp_path)) as session:
        assert session.run_image(compile_(registry, text), coins).runs["rec"].status == "ran"
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 1


@node_type("debug.running_total")
class RunningTotal(Node):
    """Adds up the frames it has seen: state across frames, like a tracker."""

    stateful = True
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"value": Port(Kind.VALUE)}

    def setup(self) -> None:
        self.seen: list[int] = []

    def process(self, inputs: Inputs) -> dict[str, Any]:
        self.seen.append(inputs.packet.frame_index)
        return {"value": list(self.seen)}


def test_run_sequence_replays_history_from_a_fresh_state(registry, coins):
    registry.register(RunningTotal)
    graph = validate_text("""
version: 1
name: seq
nodes:
  cam: {type: source.test_pattern}
  total: {type: debug.running_total, inputs: {image: cam.image}}
""", "seq.yaml", registry).graph
    frames = [(coins + i, i) for i in range(3, 6)]
    with EditorSession(RunContext(), run_sinks=False) as session:
        session.run_image(graph, coins, None, 40)  # some unrelated frame stepped through before
        first = session.run_sequence(graph, frames).outputs["total"]["value"]
        again = session.run_sequence(graph, frames).outputs["total"]["value"]
        stepped = session.run_image(graph, coins + 9, None, 6).outputs["total"]["value"]
    assert first == again == [3, 4, 5]  # the state starts afresh: frame 40 is forgotten
    assert stepped == [3, 4, 5, 6]  # stepping on keeps the state


class HeavyParams(Params):
    weights: str = Field("a", description="Needs a reload when it changes.")
    gain: int = Field(0, ge=0, le=100, description="Applied per call.")


@node_type("debug.heavy")
class Heavy(Node):
    """Loads 'weights' in setup (counted); 'gain' is applied per call."""

    Params = HeavyParams
    params: HeavyParams
    reload_params = frozenset({"weights"})
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"value": Port(Kind.VALUE)}

    def setup(self) -> None:
        CALLS[(self.node_id, "setup")] += 1
        self.configure()

    def configure(self) -> None:
        self.offset = self.params.gain * 2

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return {"value": self.offset}


def test_call_time_params_change_in_place_and_the_model_stays_loaded(registry, coins):
    registry.register(Heavy)

    def graph(weights: str, gain: int):
        text = ("version: 1\nname: h\nnodes:\n  cam: {type: source.test_pattern}\n"
                f"  h: {{type: debug.heavy, params: {{weights: {weights}, gain: {gain}}}, "
                "inputs: {image: cam.image}}\n")
        return validate_text(text, "h.yaml", registry).graph

    with EditorSession(RunContext(), run_sinks=False) as session:
        assert session.run_image(graph("a", 1), coins).outputs["h"]["value"] == 2
        assert session.run_image(graph("a", 5), coins).outputs["h"]["value"] == 10
        assert CALLS[("h", "setup")] == 1  # gain changed in place
        assert session.run_image(graph("b", 5), coins).outputs["h"]["value"] == 10
        assert CALLS[("h", "setup")] == 2  # weights changed: a fresh setup


def test_nodes_get_the_context_a_headless_run_gives_them(registry, coins, tmp_path):
    """The workflow's name and its settings.models_dir, as loads(...).context() makes them; a change re-makes nodes."""
    text = workflow().replace("name: session-test", "name: line-4\nsettings: {models_dir: weights}")
    graph = compile_(registry, text)
    with EditorSession(RunContext(base_dir=tmp_path)) as session:
        session.run_image(graph, coins)
        headless = loads(text, "t.yaml", registry=registry, base_dir=tmp_path).context()
        assert (session.live_nodes["a"].context.workflow_name, session.live_nodes["a"].context.models_dir) == (
            headless.workflow_name, headless.models_dir) == ("line-4", tmp_path / "weights")
        session.run_image(compile_(registry, text.replace("models_dir: weights", "models_dir: other")), coins)
        assert session.live_nodes["a"].context.models_dir == tmp_path / "other"
        assert calls("setup")["a"] == 2 and calls("close")["a"] == 1
