"""A small threaded HTTP server for one :class:`~segflow.ui.play.Player`: the live stream and its status.

``/stream.mjpg`` is ``multipart/x-mixed-replace``: each part a JPEG, sent as the
player publishes it, so a plain ``<img>`` shows the annotated video live with
no page reruns. ``/frame.jpg`` is the latest frame, ``/status.json`` the
player's :class:`~segflow.ui.play.PlayStatus`. It listens on a free port of the
editor's address and answers only requests with the tab's key (``?t=``), as the
frame view's server does (``segflow.ui.listen``): a remote browser let into the
editor sees the stream, a visitor without the key sees nothing.
"""

from __future__ import annotations

import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from segflow.ui import listen
from segflow.ui.play import Player

BOUNDARY = "segflowframe"


class FrameServer:
    def __init__(self, player: Player, key: str, host: str = listen.LOOPBACK, port: int = 0) -> None:
        self.player = player
        self._server = listen.http_server(host, _handler(player, key), port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="segflow-mjpeg", daemon=True)
        player.when_idle(self.close)  # a player nobody watches takes its server with it

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> FrameServer:
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; open streams end as the player stops (each waits at most a second)."""
        self._server.shutdown()
        self._server.server_close()


def _handler(player: Player, key: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            path = self.path.split("?", 1)[0]
            if not listen.key_given(self.path, key):
                self.send_error(HTTPStatus.FORBIDDEN, "wrong or missing key")
            elif path == "/stream.mjpg":
                self._stream()
            elif path == "/frame.jpg":
                _seq, jpeg = player.latest()
                if jpeg is None:
                    self.send_error(HTTPStatus.NOT_FOUND, "no frame yet")
                else:
                    self._send(jpeg, "image/jpeg")
            elif path == "/status.json":
                self._send(player.status().model_dump_json().encode(), "application/json")
            else:
                self.send_error(HTTPStatus.NOT_FOUND)

        def _send(self, body: bytes, content_type: str) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seq = 0
            try:
                while True:
                    new, jpeg = player.wait_frame(seq, timeout=1.0)
                    if new > seq and jpeg is not None:
                        seq = new
                        self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                         f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                    elif not player.running:
                        return
            except (BrokenPipeError, ConnectionResetError):
                return  # the page went away

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            return  # one line per frame request would drown the editor's log

    return Handler
