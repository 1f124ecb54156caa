"""``segflow.ui.deploy`` against a real ``segflow serve`` on loopback: start, change, refusals, unreachable.

The workflow is light (a paced synthetic camera into an image sink), so the server
starts without a model; every wait is generous (``wait_for``), since the machine is busy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segflow.client import Client
from segflow.ui import deploy
from tests.serve.conftest import free_port, start_server, stop_server
from tests.serve.servekit import wait_for

TOKEN = "deploy-t0ken-5e1f"
pytestmark = [pytest.mark.timeout(600)]


def belt_yaml(folder: str | Path, quality: int = 80, video: str | None = None) -> str:
    """A paced synthetic camera into an image sink; with ``video``, the camera is that video file instead."""
    source = (f"source.video\n    params: {{path: {video}, loop: true}}" if video else
              "source.test_pattern\n    params: {frames: 0, fps: 15, realtime: true}")
    return (f"version: 1\nname: belt-shots\nnodes:\n  belt:\n    type: {source}\n"
            f"  shots:\n    type: sink.images\n"
            f"    params: {{folder: {folder}, every_n_frames: 1000, jpeg_quality: {quality}}}\n"
            f"    inputs: {{image: belt.image}}\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("serve"), "--token", TOKEN)
    yield running
    with Client(running.url, TOKEN) as client:
        for pipeline in client.pipelines():
            if pipeline.state in ("starting", "running"):
                client.stop(pipeline.id)
    stop_server(running.process)


@pytest.mark.parametrize(("url", "says"), [
    ("edge-box:8765", "not a server address"),
    ("ftp://edge-box/x", "not a server address"),
    ("", "not a server address"),
])
def test_an_address_that_is_no_server_is_refused_before_any_request(url: str, says: str) -> None:
    outcome = deploy.deploy(url, TOKEN, "version: 1\n")
    assert not outcome.ok and says in outcome.message


def test_a_server_that_is_not_there_says_so_with_the_address_masked() -> None:
    url = f"http://op:hunter22@127.0.0.1:{free_port()}"
    outcome = deploy.deploy(url, TOKEN, "version: 1\n")
    assert not outcome.ok and "could not reach http://op:***@127.0.0.1" in outcome.message
    assert "hunter22" not in outcome.message and TOKEN not in outcome.message
    listed, failed = deploy.pipelines(url, TOKEN)
    assert listed == [] and failed is not None and "list the pipelines" in failed.message


def test_start_change_and_a_located_refusal(server, tmp_path: Path) -> None:
    wrong = deploy.deploy(server.url, "not-the-token", belt_yaml(tmp_path / "shots"))
    assert not wrong.ok and "401" in wrong.message and "check the token" in wrong.message
    assert "not-the-token" not in wrong.message

    started = deploy.deploy(server.url, TOKEN, belt_yaml(tmp_path / "shots"))
    assert started.ok, started.message
    assert started.pipeline_id and f"started pipeline {started.pipeline_id} (workflow 'belt-shots'" in started.message
    listed, failed = deploy.pipelines(server.url, TOKEN)
    assert failed is None and started.pipeline_id in [p.id for p in listed]
    with Client(server.url, TOKEN) as client:
        wait_for(lambda: client.get(started.pipeline_id).frames_done >= 3, what="three frames through")

        changed = deploy.deploy(server.url, TOKEN, belt_yaml(tmp_path / "shots", quality=60), started.pipeline_id)
        assert changed.ok, changed.message
        assert changed.message.startswith(f"updated pipeline {started.pipeline_id}")
        assert "drained and resumed" in changed.message
        assert len(client.get(started.pipeline_id).swaps) == 1

        # A path that the editor's workspace has but the server's folder does not: the server's located problem.
        refused = deploy.deploy(server.url, TOKEN, belt_yaml(tmp_path / "shots", video="clips/belt.mp4"),
                                started.pipeline_id)
        assert not refused.ok and "422" in refused.message and "update pipeline" in refused.message
        assert any(p.startswith(f"<pipeline {started.pipeline_id}>:6:") and "node 'belt'" in p
                   and "does not exist" in p for p in refused.problems), refused.problems
        info = client.get(started.pipeline_id)  # the running version goes on
        assert info.state == "running" and len(info.swaps) == 1, info

        gone = deploy.deploy(server.url, TOKEN, belt_yaml(tmp_path / "shots"), "p999")
        assert not gone.ok and "404" in gone.message and "no pipeline 'p999'" in gone.message
