"""Reloading the flagship on a real server: the detector's model loads once across changes that do not touch it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
import pytest
from servekit import wait_for

from segflow.client import Client, ServerError
from tests.serve.conftest import MODEL, ROOT, TOKEN, Server, conveyor_frame, start_server, stop_server

FLAGSHIP = (ROOT / "workflows/coffee_stones.yaml").read_text()
MEASURE_LINE = next(n for n, line in enumerate(FLAGSHIP.splitlines(), 1) if "type: measure.masks" in line)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Server, Path]:
    if not MODEL.exists():
        pytest.skip(f"{MODEL} is not there (make it: assets/models/MODEL_CARD.md)")
    tmp = tmp_path_factory.mktemp("reload")
    workflow = tmp / "coffee_stones.yaml"
    workflow.write_text(FLAGSHIP)
    running = start_server(tmp, str(workflow), "--token", TOKEN, "--watch", "0.5")
    yield running, workflow
    stop_server(running.process)


def info(client: Client):
    [found] = client.workflows()
    return found


def stones(client: Client) -> list[dict]:
    [result] = client.run("coffee-stones", conveyor_frame(100))
    assert result.errors == []
    return [d for d in result.detections("log") if d["class"] == "stone"]


def test_reloads_set_up_only_what_changed_and_a_bad_version_keeps_the_old_one(watched: tuple[Server, Path]) -> None:
    server, workflow = watched
    with Client(server.url, TOKEN) as client:
        before = stones(client)
        assert info(client).setups["detect"] == 1

        # The reload endpoint (the watcher may see the file first: the same reload, the same state after).
        workflow.write_text(FLAGSHIP.replace("text_scale: 0.4", "text_scale: 0.5"))
        client.reload("coffee-stones")
        now = info(client)
        assert now.version == 2 and now.reload_error == ""
        assert now.setups["detect"] == 1 and now.setups["label"] == 2  # the model did not load again
        assert [s["box"] for s in stones(client)] == [s["box"] for s in before]

        # A file saved with a mistake: refused, located, in the answer and the log; the old version answers.
        workflow.write_text(FLAGSHIP.replace("type: measure.masks", "type: measure.maskz"))
        with pytest.raises(ServerError, match="previous version keeps serving") as caught:
            client.reload("coffee-stones")
        assert caught.value.status == 422
        [issue] = caught.value.issues
        where = f"{workflow}:{MEASURE_LINE}:11: node 'measure'"
        assert issue["text"].startswith(f"{where}: unknown node type 'measure.maskz'")
        assert where in info(client).reload_error and where in server.log.read_text()
        assert len(stones(client)) == len(before) and info(client).version == 2

        # A model file that is not one: it fails to set up, and nothing changes.
        broken = workflow.parent / "broken.pt"
        with zipfile.ZipFile(broken, "w") as archive:  # a zip, as a checkpoint is, holding no model
            archive.writestr("broken/data.pkl", b"not a pickle")
        workflow.write_text(FLAGSHIP.replace("assets/models/coffee-stones-seg.pt", str(broken)).replace(
            "      sha256: e889c9c678abb1b472c74b966b9eb16090d5bb15eb8b6b218916ea7f6ee1df71\n", ""))
        with pytest.raises(ServerError, match="node 'detect'.*setup failed") as caught:
            client.reload("coffee-stones")
        assert caught.value.status == 422
        assert info(client).setups["detect"] == 1 and len(stones(client)) == len(before)

        # Saved, not asked for: the watcher reloads it; a changed detector loads its model once more.
        workflow.write_text(FLAGSHIP.replace("text_scale: 0.4", "text_scale: 0.5").replace("confidence: 0.35",
                                                                                           "confidence: 0.9"))
        reloaded = wait_for(lambda: (i := info(client)).version == 3 and i, what="the watcher's reload")
        # the tracker is a stand-in
        assert reloaded.setups == {"detect": 2, "refine": 1, "measure": 1, "colour": 1, "label": 2}
        assert reloaded.reload_error == ""
        assert all(s["confidence"] >= 0.9 for s in stones(client))
    assert server.alive()
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
