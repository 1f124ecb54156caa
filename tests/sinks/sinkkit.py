"""Helpers of the sink tests: drive nodes without the executor, rendered detections, services."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import supervision as sv

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.node import Inputs, RunContext

INSTALL_HINT = "run `make test` (it installs the system packages through scripts/system-deps.sh)"


# -- driving nodes without the executor ---------------------------------------------------
def make_node(cls: Any, tmp_path: Path, workflow: str = "wf", node_id: str = "sink", **params: Any) -> Any:
    node = cls(node_id, cls.Params(**params), RunContext(workflow_name=workflow, base_dir=tmp_path))
    node.setup()
    return node


def feed(
    node: Any,
    frame: int,
    dets: Any = None,
    source: str = "cam",
    ts: float | None = None,
    image: np.ndarray | None = None,
    value: Any = None,
) -> dict[str, Any]:
    ts = frame / 10.0 if ts is None else ts
    values: dict[str, Any] = {}
    if dets is not None:
        values["detections"] = dets
    if image is not None:
        values["image"] = Frame(image, source, frame, ts)
    if value is not None:
        values["value"] = value
    return node.process(Inputs(values, PacketInfo(source, frame, ts, "wf")))


def rendered_detections(h: int = 60, w: int = 80) -> sv.Detections:
    """Three objects drawn into masks: a stone (rectangle), a bean (circle), a stone (ellipse)."""
    masks = np.zeros((3, h, w), dtype=np.uint8)
    cv2.rectangle(masks[0], (5, 6), (24, 20), 1, -1)
    cv2.circle(masks[1], (50, 30), 9, 1, -1)
    cv2.ellipse(masks[2], (30, 45), (12, 6), 30, 0, 360, 1, -1)
    masks = masks.astype(bool)
    return sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(float),
        mask=masks,
        confidence=np.array([0.91, 0.42, 0.77], dtype=np.float32),
        class_id=np.array([1, 0, 1]),
        tracker_id=np.array([7, 8, 9]),
        data={
            "class_name": np.array(["stone", "bean", "stone"]),
            "length_mm": np.array([5.0, 4.5, np.float32(6.25)]),
            "area_px": masks.reshape(3, -1).sum(axis=1),
            "colour_lab": np.array([[50.0, 1.0, 2.0], [60.0, 3.0, 4.0], [70.0, 5.0, 6.0]]),
        },
    )


def complete_lines(path: Path) -> list[str]:
    """The lines of ``path`` a reader counts: a last line without a newline is not one."""
    data = path.read_bytes()
    lines = data.split(b"\n")
    return [line.decode() for line in lines[:-1]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# -- Mosquitto -------------------------------------------------------------------------------
@dataclass
class Broker:
    """A Mosquitto on loopback that a test may stop and start again on the same port."""

    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
        if binary is None:
            pytest.fail(f"mosquitto is not installed: {INSTALL_HINT}", pytrace=False)
        conf = self.folder / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.folder}/\nautosave_interval 1\n" + ("user root\n" if os.geteuid() == 0 else "")
        )
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.folder / "log.txt", "ab"),
        )  # noqa: SIM115
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@dataclass
class Subscriber:
    """A persistent-session MQTT client collecting every payload, in arrival order."""

    port: int
    topic: str
    client_id: str
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        import paho.mqtt.client as mqtt

        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        self.client.on_connect = lambda c, u, f, rc, p=None: c.subscribe(self.topic, qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.reconnect_delay_set(0.05, 0.2)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "the test subscriber could not subscribe"

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


# -- a webhook receiver ----------------------------------------------------------------------
class Receiver:
    """A loopback HTTP server recording each batch (POST, PUT or PATCH); can go down and come back."""

    def __init__(self) -> None:
        self.port = free_port()
        self.batches: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.requests: list[tuple[str, str, bytes]] = []  # method, path with query, raw body
        self.status = 200
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.requests.append((self.command, self.path, body))
                    receiver.headers.append(dict(self.headers))
                    if self.headers.get_content_type() == "application/json":
                        receiver.batches.append(json.loads(body))
                self.send_response(receiver.status)
                self.end_headers()

            do_PUT = do_PATCH = do_POST  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def records(self) -> list[dict[str, Any]]:
        return [r for batch in self.batches for r in batch["records"]]
