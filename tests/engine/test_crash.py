"""Whatever a node raises, the run ends cleanly: the node named, sinks flushed, exit code 1, no hang."""

import json
import subprocess
import sys

import pytest

from segflow.engine.api import loads

CRASHY = """
version: 1
name: crashy
nodes:
  cam: {{type: source.test_pattern, params: {{frames: 400, width: 32, height: 24}}}}
  model: {{type: debug.simulated_model, params: {{call_ms: 1, batch_size: 2}}, inputs: {{image: cam.image}}}}
  boom: {{type: debug.fail, params: {{frames: [5], exception: {exception}}}, inputs: {{image: model.image}}}}
  rec: {{type: debug.record, params: {{path: {path}}}, inputs: {{image: boom.image}}}}
"""

KINDS = ["SystemExit", "KeyboardInterrupt", "GeneratorExit"]


@pytest.mark.parametrize("exception", KINDS)
@pytest.mark.parametrize("mode", ["stream", "sequential"])
def test_a_node_raising_a_base_exception_ends_the_run_with_it_named(tmp_path, exception, mode):
    wf = loads(CRASHY.format(exception=exception, path=tmp_path / "r.jsonl"))
    report = wf.run() if mode == "stream" else wf.run_sequential()
    assert report.exit_code == 1
    assert report.frames < 400  # it stopped, it did not run to the end
    crash = [f for f in report.failure_log if exception in f["error"]]
    assert crash and crash[0]["node"] == "boom" and crash[0]["frame"] == 5
    rows = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows[:5]] == [0, 1, 2, 3, 4]  # what was done before is flushed
    assert 5 not in [r["frame"] for r in rows]


@pytest.mark.parametrize("exception", KINDS)
def test_cli_exits_1_and_names_the_node(tmp_path, exception):
    wf = tmp_path / "crashy.yaml"
    wf.write_text(CRASHY.format(exception=exception, path=tmp_path / "r.jsonl"))
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "run", str(wf), "--quiet"],
                         capture_output=True, text=True, timeout=60)  # a hang fails here, not forever
    assert res.returncode == 1, res.stderr
    assert f"node 'boom' (debug.fail) raised {exception} on source 'cam' frame 5" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_source_raising_a_base_exception_ends_the_run(tmp_path, monkeypatch):
    from segflow.nodes.sources.synthetic import PatternSource

    def frames(self):
        yield from ()
        raise SystemExit("camera library gave up")

    monkeypatch.setattr(PatternSource, "frames", frames)
    report = loads(CRASHY.format(exception="NodeError", path=tmp_path / "r.jsonl")).run()
    assert report.exit_code == 1
    assert "source 'cam' (source.test_pattern) raised SystemExit" in report.failure_log[0]["error"]
