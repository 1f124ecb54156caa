"""Back-pressure and uploads against a real ``segflow serve`` on loopback (a slow simulated model, no weights).

A full server answers 429 with ``Retry-After`` and loses nothing it accepted;
a body sent with ``Transfer-Encoding: chunked`` is read like any other; a body
over the limit is refused with 413 before it has all arrived (the raw-socket
tests never send its end, so a server that waited for it would not answer).
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import cv2
import httpx
import numpy as np
import pytest

from tests.serve.conftest import Server, start_server, stop_server

WORKFLOW = """\
version: 1
name: slow-means
settings: {on_error: skip}
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  model:
    type: debug.simulated_model
    params: {call_ms: 1500, item_ms: 0, batch_size: 1}
    inputs: {image: cam.image}
  stats: {type: debug.stats, inputs: {image: model.image}}
  means: {type: sink.jsonl, params: {path: OUT/means.jsonl, per: frame}, inputs: {value: stats.value}}
"""
MAX_CONCURRENT = 2
LIMIT = 2**20  # --max-body-mb 1


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Server:
    tmp = tmp_path_factory.mktemp("limits")
    workflow = tmp / "slow_means.yaml"
    workflow.write_text(WORKFLOW.replace("OUT", str(tmp)))
    running = start_server(tmp, str(workflow), "--max-concurrent", str(MAX_CONCURRENT), "--max-body-mb", "1")
    yield running
    stop_server(running.process)


def png(value: int) -> bytes:
    return cv2.imencode(".png", np.full((16, 16, 3), value, np.uint8))[1].tobytes()


def mean_of(response: httpx.Response) -> float:
    return float(response.json()["results"][0]["records"]["means"][0]["value"]["mean"])


def test_a_full_server_says_429_with_retry_after_and_loses_nothing_it_accepted(slow: Server) -> None:
    url = f"{slow.url}/workflows/slow-means/run"

    def until_accepted(value: int) -> tuple[float, list[httpx.Response]]:
        """A well-behaved client: on 429 it waits as told and asks again."""
        refused = []
        for _ in range(200):
            answer = httpx.post(url, files={"image": (f"{value}.png", png(value))}, timeout=300)
            if answer.status_code != 429:
                assert answer.status_code == 200, answer.text
                return mean_of(answer), refused
            refused.append(answer)
            time.sleep(float(answer.headers["retry-after"]))
        raise AssertionError(f"image {value} was refused 200 times")

    values = [10 * k for k in range(12)]
    with ThreadPoolExecutor(len(values)) as pool:  # 12 at once to a server that runs 2
        answers = list(pool.map(until_accepted, values))
    assert [mean for mean, _ in answers] == values  # every accepted request got its own image's result
    refused = [r for _, rs in answers for r in rs]
    assert refused, "12 slow requests at once never filled a server that runs 2"
    assert refused[0].headers["retry-after"] == "1"
    assert f"running {MAX_CONCURRENT} requests already" in refused[0].json()["error"]
    assert slow.alive()


def multipart(data: bytes, boundary: str = "segflow-test-boundary") -> tuple[bytes, str]:
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"f.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_chunked_upload_is_read_whole_and_answered(slow: Server) -> None:
    body, kind = multipart(png(77))
    pieces = iter([body[i:i + 100] for i in range(0, len(body), 100)])  # no length known: sent chunked
    answer = httpx.post(f"{slow.url}/workflows/slow-means/run", content=pieces, headers={"content-type": kind},
                        timeout=300)
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 200, answer.text
    assert mean_of(answer) == 77.0


def raw_request(server: Server, head: str, body: bytes = b"") -> tuple[int, str]:
    """Send a request's head and part of a body, never its end; the status line and body of the answer."""
    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=120) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
            head_part, _, rest = answer.partition(b"\r\n\r\n")
            length = [int(line.split(b":")[1]) for line in head_part.split(b"\r\n")
                      if line.lower().startswith(b"content-length:")]
            if length and len(rest) >= length[0]:
                break
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode()


def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(slow: Server) -> None:
    piece = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(LIMIT // len(piece) + 1))
    status, text = raw_request(slow, "POST /workflows/slow-means/run HTTP/1.1\r\nHost: x\r\n"
                                     "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n", chunks)
    assert status == 413 and f"over {LIMIT:,} bytes" in text
    assert slow.alive()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(slow: Server) -> None:
    status, text = raw_request(slow, "POST /workflows/slow-means/run HTTP/1.1\r\nHost: x\r\n"
                                     f"Content-Type: application/json\r\nContent-Length: {50 * LIMIT}\r\n\r\n")
    assert status == 413 and f"takes at most {LIMIT:,}" in text
    assert httpx.get(f"{slow.url}/healthz", timeout=30).status_code == 200

