"""``segflow serve`` end to end: a real server, real images, the real coffee-stones workflow."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from servekit import wait_for

from segflow.client import AsyncClient, Client, ServerError
from tests.serve.conftest import MODEL, ROOT, TOKEN, VIDEO, Server, conveyor_frame

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SHA256 = "e889c9c678abb1b472c74b966b9eb16090d5bb15eb8b6b218916ea7f6ee1df71"  # as workflows/coffee_stones.yaml pins


def stones(result) -> list[dict]:
    return [d for d in result.detections("log") if d["class"] == "stone"]


def test_a_conveyor_frame_gives_the_stones_with_their_measurements(server: Server) -> None:
    with Client(server.url, TOKEN) as client:
        [result] = client.run("coffee-stones", conveyor_frame(100), annotated=True)
    found = stones(result)
    assert len(found) >= 3, result
    assert all(2 < d["length_mm"] < 30 and d["colour_name"] for d in found), found
    assert result.errors == []
    annotated = cv2.imdecode(np.frombuffer(base64.b64decode(result.annotated["video"]), np.uint8), cv2.IMREAD_COLOR)
    assert annotated.shape == (480, 640, 3)


def test_concurrent_requests_each_get_their_own_results_in_order(server: Server) -> None:
    frames = [conveyor_frame(i) for i in (10, 40, 70, 100, 130)]
    with Client(server.url, TOKEN) as client:
        alone = [[d["box"] for d in stones(client.run("coffee-stones", f)[0])] for f in frames]
        assert len({str(b) for b in alone}) == len(frames), "the frames should differ"

        def ask(order: list[int]) -> list[list[list[float]]]:
            results = client.run("coffee-stones", [frames[i] for i in order])
            return [[d["box"] for d in stones(r)] for r in results]

        orders = [[(k + j) % len(frames) for j in range(3)] for k in range(8)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(ask, orders))
    for order, answer in zip(orders, answers, strict=True):
        assert answer == [alone[i] for i in order]


@pytest.mark.parametrize(("kwargs", "status", "says"), [
    ({"content": b"just text", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
    ({"files": {"image": ("junk.png", b"\x89PNG not really")}}, 422, "junk.png: not an image"),
    ({"files": {"image": ("cut.png", conveyor_frame(5)[:3000])}}, 422, "damaged"),
    ({"files": {"image": ("big.png", cv2.imencode(".png", np.zeros((1100, 1000, 3), np.uint8))[1].tobytes())}},
     422, "1,100,000 pixels"),
    ({"files": {"other": ("a.png", b"x")}}, 422, "no file in its 'image' field"),
    ({"json": {"images": ["%%%"]}}, 422, "not valid base64"),
    ({"json": {"pictures": []}}, 422, "invalid request body"),
    ({"files": {"image": ("f.png", conveyor_frame(5))}, "data": {"inputs": '{"zone": 1}'}}, 422,
     "declares no inputs"),
    ({"content": b"x" * (5 * 2**20), "headers": {"content-type": "application/json"}}, 413, "at most"),
])
def test_bad_requests_get_4xx_json_with_the_reason_and_the_server_lives_on(server: Server, kwargs: dict,
                                                                           status: int, says: str) -> None:
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = httpx.post(f"{server.url}/workflows/coffee-stones/run", headers=headers, timeout=120, **kwargs)
    assert response.status_code == status, response.text
    assert says in response.json()["error"]
    assert server.alive()
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


def test_unknown_workflow_and_pipeline_are_404_with_what_exists(server: Server) -> None:
    with Client(server.url, TOKEN) as client:
        with pytest.raises(ServerError, match="no workflow 'nope'.*coffee-stones") as caught:
            client.run("nope", conveyor_frame(1))
        assert caught.value.status == 404
        with pytest.raises(ServerError, match="no pipeline 'p999'"):
            client.get("p999")


def test_every_route_but_healthz_wants_the_token_and_no_answer_or_log_shows_it(server: Server) -> None:
    for path in ("/workflows", "/pipelines", "/metrics", "/openapi.json", "/docs"):
        assert httpx.get(f"{server.url}{path}", timeout=30).status_code == 401
        wrong = httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer nope"}, timeout=30)
        assert wrong.status_code == 401 and TOKEN not in wrong.text
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200
    spec = httpx.get(f"{server.url}/openapi.json", headers=AUTH, timeout=30).json()
    assert "/workflows/{name}/run" in spec["paths"] and "/pipelines/{pid}" in spec["paths"]
    metrics = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=30).text
    assert 'segflow_node_items_total{run="workflow:coffee-stones",node="detect"' in metrics
    assert TOKEN not in server.log.read_text()


def test_off_loopback_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "segflow.serve", "--host", "0.0.0.0", "--port", "1",
                           "workflows/coffee_stones.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 2
    assert "refusing to serve on 0.0.0.0 without a token" in done.stderr
    assert "Traceback" not in done.stderr


def pipeline_yaml(out: Path, confidence: float = 0.35, model: str = str(MODEL)) -> str:
    return f"""\
version: 1
name: belt-watch
settings: {{max_inflight: 4}}
nodes:
  belt:
    type: source.video
    params: {{path: {VIDEO}, loop: true}}
  detect:
    type: detect.yolo
    params: {{model: {model}, confidence: {confidence}, imgsz: 320, batch_size: 2, max_wait_ms: 5,
             sha256: {SHA256}}}
    inputs: {{image: belt.image}}
  label:
    type: annotate.detections
    params: {{colour_by: class}}
    inputs: {{image: belt.image, detections: detect.detections}}
  log:
    type: sink.jsonl
    params: {{path: {out}, per: frame, flush_interval_s: 0.2}}
    inputs: {{detections: detect.detections}}
  shots:
    type: sink.images
    params: {{folder: "{out.parent}/shots", every_n_frames: 1000}}
    inputs: {{image: label.image}}
"""


def test_a_pipeline_starts_streams_changes_live_and_drains_on_stop(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "belt.jsonl"
    with Client(server.url, TOKEN) as client:
        started = client.start(yaml=pipeline_yaml(out))
        assert started.workflow == "belt-watch"
        events = client.events(started.id)
        first = [next(events) for _ in range(3)]
        assert [e["frame"] for e in first] == sorted(e["frame"] for e in first)
        events.close()
        info = wait_for(lambda: (i := client.get(started.id)).state == "running" and i.frames_done >= 3 and i,
                        what="three frames through")
        assert {n["node"] for n in info.nodes} >= {"belt", "detect", "log"}
        assert info.sources["belt"]["up"] is True
        with httpx.stream("GET", f"{server.url}/pipelines/{started.id}/preview", headers=AUTH, timeout=120) as mjpeg:
            assert mjpeg.headers["content-type"].startswith("multipart/x-mixed-replace")
            head = b""
            for chunk in mjpeg.iter_bytes():
                head += chunk
                if b"\xff\xd9" in head:  # one whole JPEG of the annotated frame
                    break
        assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head

        with pytest.raises(ServerError, match="invalid") as caught:
            client.update(started.id, pipeline_yaml(out).replace("detect.yolo", "detect.yolov9"))
        assert caught.value.status == 422
        assert any("detect.yolo" in i["text"] for i in caught.value.issues)

        changed = client.update(started.id, pipeline_yaml(out, confidence=0.6))
        assert (changed.how, changed.nodes) == ("live", ["detect"])
        assert changed.pipeline.generation == 0 and changed.pipeline.state == "running"

        stopped = client.stop(started.id)
        assert stopped.state == "stopped"
        assert [p.id for p in client.pipelines()] == [started.id]
    frames = [json.loads(line)["frame"] for line in out.read_text().splitlines()]
    assert len(frames) == stopped.frames_done  # every frame through reached the sink, once
    assert len(set(frames)) == len(frames)


def test_a_model_change_drains_and_resumes_at_the_next_frame(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "belt.jsonl"
    copy = tmp_path / "copy-of-model.pt"
    copy.write_bytes(MODEL.read_bytes())
    with Client(server.url, TOKEN) as client:
        started = client.start(yaml=pipeline_yaml(out).replace("loop: true", "end: 60, unit: frames"))
        with ThreadPoolExecutor(1) as pool:  # a subscriber stays connected through the swap
            streamed = pool.submit(lambda: [e["timestamp"] for e in Client(server.url, TOKEN).events(started.id)])
            wait_for(lambda: client.get(started.id).frames_done >= 5, what="five frames through")
            changed = client.update(started.id, pipeline_yaml(out, model=str(copy)).replace(
                "loop: true", "end: 60, unit: frames"))
            assert changed.how == "restarted" and changed.pipeline.generation == 1
            wait_for(lambda: client.get(started.id).state == "stopped", what="the end of the video")
            timestamps = streamed.result(timeout=120)
    assert len(set(timestamps)) == len(timestamps) and round(max(timestamps) * 15) == 59
    # The resumed run (a new run id) numbers its frames on from the last one through, and the
    # video's own frame number is in the timestamp (frame / 15 fps): every one of them once.
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["frame"] for r in records) == list(range(60))
    assert sorted(round(r["timestamp"] * 15) for r in records) == list(range(60))
    assert len({r["record_id"].rsplit("-", 2)[0] for r in records}) == 2  # two runs wrote them


def test_the_async_client(server: Server) -> None:
    async def go() -> tuple[int, list]:
        async with AsyncClient(server.url, TOKEN) as client:
            results = await asyncio.gather(*(client.run("coffee-stones", conveyor_frame(100)) for _ in range(3)))
            return len(stones(results[0][0])), [len(stones(r[0])) for r in results]

    first, all_of_them = asyncio.run(go())
    assert first >= 3 and all_of_them == [first] * 3


def test_per_request_inputs_bind_a_run_of_their_own_and_bad_values_are_located(server: Server) -> None:
    frame = conveyor_frame(100)
    with Client(server.url, TOKEN) as client:
        [info] = [w for w in client.workflows() if w.name == "stones-at"]
        assert info.inputs["confidence"]["default"] == 0.35
        usual = stones(client.run("stones-at", frame)[0])
        picky = stones(client.run("stones-at", frame, inputs={"confidence": 0.8})[0])
        assert min(d["confidence"] for d in usual) < 0.8 <= min(d["confidence"] for d in picky)
        with pytest.raises(ServerError, match="confidence") as caught:
            client.run("stones-at", frame, inputs={"confidence": 2})
        assert caught.value.status == 422
        with pytest.raises(ServerError, match="has no input 'zone': it declares confidence"):
            client.run("stones-at", frame, inputs={"zone": 1})
    metrics = httpx.get(f"{server.url}/metrics", headers=AUTH, timeout=30).text
    assert 'run="workflow:stones-at {\\"confidence\\": 0.8}"' in metrics


def test_the_command_line_client(server: Server, tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(conveyor_frame(100))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "SEGFLOW_URL": server.url, "SEGFLOW_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "segflow.client", "run", "coffee-stones", str(frame)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)
    assert any(row["class"] == "stone" for row in result["records"]["log"])
    reloaded = subprocess.run([sys.executable, "-m", "segflow.client", "reload", "coffee-stones"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert reloaded.returncode == 0, reloaded.stderr
    assert json.loads(reloaded.stdout)["changed"] == []  # the file did not change: nothing to do
    refused = subprocess.run([sys.executable, "-m", "segflow.client", "get", "p999"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1
    assert "404: no pipeline 'p999'" in refused.stderr and "Traceback" not in refused.stderr
