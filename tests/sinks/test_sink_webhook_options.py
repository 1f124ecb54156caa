"""sink.webhook's request options against a real HTTP server on loopback.

Method, query parameters, headers templated from the record (with the
environment's secrets masked everywhere), and multipart with the frame as JPEG.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import cv2
import numpy as np
import pytest
from sinkkit import Receiver, feed, make_node, rendered_detections

from segflow.engine.masking import MaskingFilter
from segflow.engine.workflow.validate import validate_text
from segflow.nodes.sinks.webhook import WebhookSink

FAST = {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "flush_interval_s": 0.05}
TOKEN = "tok-7Hq2xZ9"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_method_and_query_with_a_template_and_a_secret(receiver: Receiver, tmp_path: Path, monkeypatch,
                                                       method: str) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    node = make_node(WebhookSink, tmp_path, url=receiver.url + "?site=3", method=method, per="frame", batch_size=1,
                     query={"api_key": "${HOOK_TOKEN}", "camera": "{source}"}, **FAST)
    feed(node, 0, rendered_detections(), source="belt a")
    node.close()
    [(got_method, path, body)] = receiver.requests
    query = parse_qs(urlparse(path).query)
    assert got_method == method and urlparse(path).path == "/hook"
    assert query == {"site": ["3"], "api_key": [TOKEN], "camera": ["belt a"]}
    assert json.loads(body)["records"][0]["source"] == "belt a"


def test_headers_are_filled_from_each_batch_first_record(receiver: Receiver, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", batch_size=1, **FAST,
                     headers={"X-Source": "{source}", "X-Stones": "{counts.stone} of {count}",
                              "Authorization": "Bearer ${HOOK_TOKEN}", "X-Literal": "{{source}}"})
    feed(node, 0, rendered_detections(), source="left")
    feed(node, 1, rendered_detections()[:1], source="right")
    feed(node, 2, rendered_detections(), source="${HOOK_TOKEN}")  # a record cannot read the environment
    feed(node, 3, rendered_detections(), source="ベルト\r\nX-Evil: 1")  # no header of its own; UTF-8 bytes
    node.close()
    last = receiver.headers.pop()
    assert "X-Evil" not in last and last["X-Source"].encode("latin-1").decode() == "ベルト  X-Evil: 1"
    got = [(h["X-Source"], h["X-Stones"], h["Authorization"], h["X-Literal"]) for h in receiver.headers]
    assert got == [("left", "2 of 3", f"Bearer {TOKEN}", "{source}"),
                   ("right", "1 of 1", f"Bearer {TOKEN}", "{source}"),
                   ("${HOOK_TOKEN}", "2 of 3", f"Bearer {TOKEN}", "{source}")]


def test_multipart_carries_the_records_and_each_frame_as_jpeg(receiver: Receiver, tmp_path: Path) -> None:
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="detection", multipart=True, batch_size=2, **FAST)
    frames = []
    for i in range(3):
        image = np.zeros((60, 80, 3), np.uint8)
        cv2.rectangle(image, (10 + 10 * i, 10), (40 + 10 * i, 40), (0, 200, 255), -1)
        frames.append(image)
        feed(node, i, rendered_detections(), image=image)
    node.close()
    records, jpegs = [], []
    for (_, _, body), headers in zip(receiver.requests, receiver.headers, strict=True):
        message = email.message_from_bytes(f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body,
                                           policy=email.policy.HTTP)
        assert message.get_content_type() == "multipart/form-data"
        parts = list(message.iter_parts())
        assert parts[0].get_param("name", header="content-disposition") == "records"
        records += json.loads(parts[0].get_content())["records"]
        jpegs += [(p.get_filename(), p.get_content()) for p in parts[1:]]
    assert len(receiver.requests) == 2  # batch_size counts frames: 2 + 1
    assert [(r["frame"], r["class"]) for r in records] == [(f, c) for f in range(3) for c in ("stone", "bean", "stone")]
    assert [name for name, _ in jpegs] == ["cam-0.jpg", "cam-1.jpg", "cam-2.jpg"]
    for (_, data), image in zip(jpegs, frames, strict=True):
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == image.shape and np.abs(decoded.astype(int) - image).mean() < 4


def test_secrets_from_the_environment_stay_out_of_logs_and_set_aside_records(
        receiver: Receiver, tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.setenv("HOOK_TOKEN", TOKEN)
    receiver.status = 503
    node = make_node(WebhookSink, tmp_path, url=receiver.url, per="frame", batch_size=1, **FAST,
                     headers={"Authorization": "Bearer ${HOOK_TOKEN}"}, query={"key": "${HOOK_TOKEN}"})
    caplog.handler.addFilter(MaskingFilter())  # as segflow's log handlers have it
    with caplog.at_level(logging.DEBUG):
        feed(node, 0, rendered_detections())
        logging.getLogger("segflow.test").warning("sent with %s", TOKEN)  # a line that would show it
        receiver.status = 400
        node.close()
    text = caplog.text + (tmp_path / ".segflow/spool/wf/sink/rejected.jsonl").read_text()
    assert "400" in text and "***" in text
    assert TOKEN not in text and "7Hq2" not in text


BASE = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 2}}
  found: {type: detect.threshold, params: {channel: gray, method: fixed, threshold: 100}, inputs: {image: cam.image}}
  hook:
    type: sink.webhook
    params: {url: "http://127.0.0.1:9/x", per: frame, headers: {X-Count: "{count}"}, multipart: true}
    inputs: {detections: found.detections, image: cam.image}
"""


def test_valid_options_validate():
    assert [i.format() for i in validate_text(BASE, "wf.yaml").issues if i.is_error] == []


@pytest.mark.parametrize(("old", "new", "words"), [
    ('"{count}"', '"{cuont}"', "'cuont'"),
    ("headers:", "query:", "'cuont'"),
    (", image: cam.image", "", "no image input is wired"),
])
def test_mistakes_are_located_at_their_param(old, new, words):
    text = BASE.replace('"{count}"', '"{cuont}"') if old == "headers:" else BASE
    result = validate_text(text.replace(old, new), "wf.yaml")
    errors = [i for i in result.issues if i.is_error]
    assert len(errors) == 1, [i.format() for i in errors]
    assert (errors[0].location.line, errors[0].node) == (8, "hook") and words in errors[0].format()


def test_fields_without_record_id_are_delivered_under_a_stable_key(receiver: Receiver, tmp_path: Path) -> None:
    """`fields:` may leave record_id out; the batch's Idempotency-Key then comes from its content."""
    keys = []
    for run in range(2):
        node = make_node(WebhookSink, tmp_path / str(run), url=receiver.url, per="frame", batch_size=1,
                         fields=["source", "frame", {"stones": "counts.stone"}], **FAST)
        feed(node, 0, rendered_detections(), source="belt")
        node.close()
        keys.append(receiver.headers[-1]["Idempotency-Key"])
    assert json.loads(receiver.requests[-1][2])["records"] == [{"source": "belt", "frame": 0, "stones": 2}]
    assert keys[0] == keys[1]  # a retry of the same batch is recognisable
