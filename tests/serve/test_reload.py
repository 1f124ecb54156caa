"""Reloading a served workflow without HTTP: only changed nodes set up, no request lost, bad versions refused."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from segflow.engine.api import load
from segflow.engine.workflow.issues import WorkflowError
from segflow.serve.batched import BatchedRun
from segflow.serve.served import NotReloaded, Served
from segflow.serve.watch import Watcher

WORKFLOW = """\
version: 1
name: means
settings: {on_error: skip}
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  model:
    type: debug.simulated_model
    params: {call_ms: CALL_MS, item_ms: 1, batch_size: 4, max_wait_ms: 5}
    inputs: {image: cam.image}
  picky: {type: debug.fail, params: {every: EVERY, message: MESSAGE}, inputs: {image: model.image}}
  stats: {type: debug.stats, inputs: {image: picky.image}}
  means: {type: sink.jsonl, params: {path: OUT/means.jsonl, per: frame}, inputs: {value: stats.value}}
"""


def write(path: Path, call_ms: int = 5, every: int = 0, message: str = "v1") -> Path:
    text = WORKFLOW.replace("OUT", str(path.parent)).replace("CALL_MS", str(call_ms))
    path.write_text(text.replace("EVERY", str(every)).replace("MESSAGE", message))
    return path


def image(value: int) -> np.ndarray:
    return np.full((8, 8, 3), value, np.uint8)


def ask(served: Served, value: int) -> tuple[float | None, list[str]]:
    [result] = [f.result(timeout=120) for f in served.submit({}, [image(value)])]
    means = result.records.get("means")
    return (means[0]["value"]["mean"] if means else None), result.errors


@pytest.fixture
def served(tmp_path: Path):
    serving = Served(load(write(tmp_path / "means.yaml"), base_dir=tmp_path))
    yield serving
    serving.stop()


def test_only_the_changed_node_is_set_up_again_and_the_model_is_kept(served: Served, tmp_path: Path) -> None:
    assert ask(served, 10) == (10.0, [])
    assert served.setups == {"model": 1, "picky": 1, "stats": 1}
    write(tmp_path / "means.yaml", every=1, message="v2")
    done = served.reload_file()
    assert (done.changed, done.set_up, done.kept, done.runs) == (["picky"], ["picky"], ["model", "stats"], 1)
    assert served.setups == {"model": 1, "picky": 2, "stats": 1}  # the model did not load again
    mean, errors = ask(served, 20)
    assert mean is None and "v2 on frame 0" in errors[0]  # the new version answers
    write(tmp_path / "means.yaml", call_ms=6, every=1, message="v2")
    assert served.reload_file().set_up == ["model"]
    assert served.setups == {"model": 2, "picky": 2, "stats": 1}
    assert served.reload_file().runs == 0  # saved again unchanged: nothing to do
    assert served.version == 3


def test_requests_in_flight_finish_on_the_old_version(served: Served, tmp_path: Path) -> None:
    write(tmp_path / "means.yaml", call_ms=300)  # slow model calls: the images are still in flight
    served.reload_file()
    futures = served.submit({}, [image(k) for k in range(8)])
    write(tmp_path / "means.yaml", call_ms=300, every=1, message="v2")
    reloading = threading.Thread(target=served.reload_file)
    reloading.start()
    old = [f.result(timeout=120) for f in futures]
    reloading.join(120)
    assert [r.records["means"][0]["value"]["mean"] for r in old] == [float(k) for k in range(8)]
    assert all(r.errors == [] for r in old)
    assert "v2 on frame" in ask(served, 1)[1][0]


def test_a_bad_version_is_refused_located_and_the_old_one_keeps_serving(
        served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ask(served, 10)
    path = tmp_path / "means.yaml"
    path.write_text(path.read_text().replace("debug.stats", "debug.statz"))
    with caplog.at_level(logging.ERROR, "segflow"), pytest.raises(WorkflowError):
        served.reload_file()
    assert f"{path}:11:17: node 'stats'" in served.reload_error
    assert "debug.stats" in served.reload_error  # the hint: did you mean
    assert f"{path}:11:17: node 'stats'" in caplog.text and "previous version keeps serving" in caplog.text
    assert ask(served, 30) == (30.0, [])
    assert served.version == 1 and served.setups["model"] == 1
    write(path, message="v3")
    served.reload_file()
    assert served.reload_error == ""


def test_a_renamed_workflow_is_refused(served: Served, tmp_path: Path) -> None:
    path = tmp_path / "means.yaml"
    path.write_text(path.read_text().replace("name: means", "name: other"))
    with pytest.raises(NotReloaded, match="name changed from 'means' to 'other'"):
        served.reload_file()
    assert ask(served, 5) == (5.0, [])


def test_the_watcher_reloads_a_saved_file(served: Served, tmp_path: Path) -> None:
    ask(served, 1)
    watcher = Watcher([served], period_s=3600)  # checked by hand below
    write(tmp_path / "means.yaml", every=1, message="watched")
    watcher.check()
    assert served.version == 2 and "watched on frame" in ask(served, 1)[1][0]
    watcher.check()  # nothing changed since
    assert served.version == 2


def test_a_successor_never_switched_to_gives_its_nodes_back(served: Served, tmp_path: Path) -> None:
    ask(served, 3)
    [(_, old)] = served.runs()
    model = old._nodes["model"]
    new = BatchedRun(load(write(tmp_path / "means.yaml", message="v2"), base_dir=tmp_path), {}, previous=old)
    new.start()
    assert new.kept == ["model", "stats"] and new._nodes["model"] is model  # taken over, not set up again
    new.stop()  # abandoned, as when another run of the same reload fails to set up
    assert old._handed == set()  # the old run owns the model again, and closes it when it ends
    assert ask(served, 4) == (4.0, [])
    assert served.reload_file().kept == ["model", "stats"]  # and can hand it over again
    assert served.setups["model"] == 1
