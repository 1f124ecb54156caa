"""The Ray driver's waits before the first frame, on a fake Ray: a stall is one line, a stop ends them."""

import pytest

from segflow.engine.api import loads
from segflow.engine.execution.executor import ExecutorUnavailable, RunOptions
from segflow.engine.execution.ray import executor as driver
from segflow.engine.observe.hooks import RunHooks

WORKFLOW = """
version: 1
name: fake
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}
"""


class FakeRay:
    """Answers only the refs named in ``answers``; the rest stay pending, as actors Ray cannot place."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers

    def wait(self, refs, num_returns, timeout):
        done = [r for r in refs if r in self.answers]
        return done, [r for r in refs if r not in done]

    def get(self, ref):
        answer = self.answers[ref]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def clock(monkeypatch):
    now = [0.0]

    def tick():
        now[0] += driver.POLL_S
        return now[0]

    monkeypatch.setattr(driver, "monotonic", tick)
    return now


def a_run(answers):
    return driver.RayRun(FakeRay(answers), loads(WORKFLOW).plan(), RunOptions(), RunHooks())


def test_actors_ray_never_places_end_in_one_line_after_the_stall(clock):
    run = a_run({"a": "node-1"})
    with pytest.raises(ExecutorUnavailable) as caught:
        run._gather(["a", "b", "c"], ["shard 0", "shard 1 (source 'cam2')", "node 'detect'"], driver.PLACE_STALL_S)
    assert "Ray placed none of shard 1 (source 'cam2'), node 'detect' in 60 s" in str(caught.value)
    assert clock[0] >= driver.PLACE_STALL_S


def test_a_stop_ends_the_wait_at_once(clock):
    run = a_run({})
    run.stop("SIGTERM")
    with pytest.raises(driver._Stopped):
        run._gather(["a"], ["shard 0"], None)  # no stall limit: only the stop ends it
    assert clock[0] <= 2 * driver.POLL_S


def test_an_actor_that_cannot_start_names_itself_and_the_likely_cause(clock):
    run = a_run({"a": RuntimeError("Traceback ...\nModuleNotFoundError: No module named 'segflow'")})
    with pytest.raises(ExecutorUnavailable) as caught:
        run._gather(["a"], ["shard 0 (source 'cam')"], None)
    assert str(caught.value) == "Ray could not start shard 0 (source 'cam'): ModuleNotFoundError: No module named " \
                                "'segflow'"
    assert "same Python environment" in caught.value.hint
