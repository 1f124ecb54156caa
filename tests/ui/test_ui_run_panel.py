"""The frame view's server and the Run tab through ``AppTest``: steps over HTTP, play restarted by an edit, stopped."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from appkit import editor_on, node_pick, yaml_area
from streamlit.testing.v1 import AppTest

BELT = """\
version: 1
name: belt
nodes:
  belt: {type: source.video, params: {path: assets/samples/conveyor.mp4}}
  stats: {type: debug.stats, inputs: {image: belt.image}}
  dim: {type: debug.invert, inputs: {image: belt.image}}
"""


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    at = editor_on(monkeypatch, tmp_path, "belt.yaml", BELT)
    yield at
    at.session_state["viewer_server"].close()


def captions(at: AppTest) -> str:
    return "\n".join(str(c.value) for c in at.caption)


def post(server, path: str, **args) -> tuple[dict, bytes]:
    """A request as the page's frame view sends it: a bodiless POST with the tab's key."""
    query = urllib.parse.urlencode({"t": server.viewer.key, **args})
    request = urllib.request.Request(f"{server.url}/{path}?{query}", method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        headers = {k: urllib.parse.unquote(v) for k, v in response.headers.items() if k.startswith("X-")}
        return headers, response.read()


def test_steps_over_http_move_the_index_and_the_results_follow(app):
    server = app.session_state["viewer_server"]
    assert "node(s) ran" not in captions(app)  # nothing runs by itself on opening
    headers, body = post(server, "step", by=1)
    assert headers["X-Index"] == "1" and body[:2] == b"\xff\xd8"  # a JPEG of frame 1
    app.run()  # the rerun the page asks for once its clicks are served
    assert "Input: belt frame 1 — 3 node(s) ran" in captions(app)
    headers, _ = post(server, "step", by=3)  # three clicks made while frame 1 ran: three frames on
    assert headers["X-Index"] == "4" and int(headers["X-Seq"]) == 2
    headers, _ = post(server, "step", by=-2)
    assert headers["X-Index"] == "2"
    headers, _ = post(server, "goto", index=10_000)  # past the end: the last frame
    assert int(headers["X-Index"]) == int(headers["X-Count"]) - 1
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{server.url}/step?by=1&t=guess", method="POST"), timeout=10)
    assert refused.value.code == 403


def test_play_restarts_on_an_edit_and_stop_closes(app):
    server = app.session_state["viewer_server"]
    view = server.viewer
    post(server, "goto", index=5)
    assert "stream" in view.play()
    first = view.player
    assert first is not None and first.graph.nodes["stats"] is not None
    text = yaml_area(app).value
    yaml_area(app).set_value(text.replace("  dim: {type: debug.invert, inputs: {image: belt.image}}\n",
                                                          "")).run()
    second = view.player
    assert second is not first and not first.running and first.session.live_nodes == {}
    assert "dim" not in second.graph.nodes  # play goes on with the edited graph
    headers, body = post(server, "stop")
    assert view.player is None and not second.running and second.session.live_nodes == {}
    assert int(headers["X-Index"]) >= 5 and body[:2] == b"\xff\xd8"  # the frame play reached, run and shown


def test_play_status_carries_the_footers_of_the_frame_play_shows(app):
    """The canvas follows Play with no rerun: each status has the footers of play's frame, Stop's run comes after."""
    from segflow.ui import canvas

    server = app.session_state["viewer_server"]
    view = server.viewer
    post(server, "goto", index=2)
    before = view.seq
    assert canvas.editor_payload(view.editor, [])["nodes"][0]["foot"]["frame"] == 2
    assert "stream" in view.play()
    deadline = time.monotonic() + 120
    while True:
        answer = json.loads(post(server, "status")[1])
        footers = answer["footers"]
        if footers is not None and footers["frame"] > 2:
            break
        assert time.monotonic() < deadline, f"play showed no frame past 2: {answer}"
        time.sleep(0.1)
    assert answer["seq"] == before  # nothing ran in the editor: the page's rerun would draw the old footers
    nodes = footers["nodes"]
    assert set(nodes) == {"belt", "stats", "dim"} and {f["frame"] for f in nodes.values()} == {footers["frame"]}
    assert nodes["stats"]["status"] == "ran" and nodes["stats"]["text"].startswith("ran in ")
    assert nodes["dim"]["thumb"]["image"].startswith("data:image/jpeg;base64,")
    headers, _ = post(server, "stop")
    stopped = int(headers["X-Index"])
    assert stopped >= footers["frame"] and int(headers["X-Seq"]) > before  # the render after Stop replaces them
    assert json.loads(post(server, "status")[1])["footers"] is None
    assert {n["foot"]["frame"] for n in canvas.editor_payload(view.editor, [])["nodes"]} == {stopped}


def test_results_columns_are_picked_and_remembered(tmp_path, monkeypatch):
    at = editor_on(monkeypatch, tmp_path)
    viewer = at.session_state["viewer_server"].viewer
    viewer.run()
    at.run()
    table = at.dataframe[0].value
    first = list(table.columns)
    assert first[:2] == ["#", "class_name"] and "x1" not in first  # boxes are not in the default pick
    picker = [m for m in at.multiselect if m.key.startswith("columns:")][0]
    assert picker.options[-1] in ("mask_px", "mm_per_px", "mm_per_px_u", "tracker_id", "class_id", "y2")
    picker.set_value(["x1", "length_mm"]).run()
    assert list(at.dataframe[0].value.columns) == ["length_mm", "x1"]  # in table order
    node_pick(at).set_value("coins").run()  # another selection; the table's node is the same
    viewer.run()
    at.run()
    assert list(at.dataframe[0].value.columns) == ["length_mm", "x1"]  # remembered
