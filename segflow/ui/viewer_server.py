"""The frame view's small HTTP server: the page's component asks it for steps, runs and play.

One server per editor tab, on a free port of the editor's address (loopback
unless the editor has a token, ``segflow.ui.listen``), like Play's stream
(``segflow.ui.mjpeg``), answering only requests that carry the tab's random key,
so neither another local user nor a visitor who has not given the editor's token
can drive the editor's runs. Requests are plain
``POST``s without a body (no CORS preflight); a frame comes back as
``image/jpeg`` with its index, the frame count and a caption in ``X-``
headers, so one round trip both moves and paints. During play the page asks
``/status`` twice a second: the player's state, and the canvas footers of the
frame it shows (the page relays them to the canvas). Serialising is the
:class:`~segflow.ui.viewer.Viewer`'s lock: the requests of one page come in
order anyway, since the page sends the next only when the last one answered.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from segflow.ui import listen
from segflow.ui.viewer import Painted, Viewer

HEADERS = ("X-Index", "X-Count", "X-Caption", "X-Error", "X-Seq")


class ViewerServer:
    """Serves ``viewer`` on its address (``viewer.host``) and key (``viewer.key``)."""

    def __init__(self, viewer: Viewer, port: int = 0) -> None:
        self.viewer = viewer
        self._server = listen.http_server(viewer.host, _handler(viewer), port)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="segflow-viewer", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def channel(self) -> str:
        """The page's BroadcastChannel on which the frame view tells the canvas what Play shows (one per tab)."""
        return f"segflow-play-{self.port}"

    @property
    def url(self) -> str:
        """The server as a client on this machine reaches it."""
        host = listen.page_host(self.viewer.host) or self.viewer.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def start(self) -> ViewerServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.viewer.close()
        self._server.shutdown()
        self._server.server_close()


def _handler(viewer: Viewer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            path, _, query = self.path.partition("?")
            args = dict(urllib.parse.parse_qsl(query))
            if not listen.key_given(self.path, viewer.key):
                self.send_error(HTTPStatus.FORBIDDEN, "wrong or missing key")
                return
            try:
                if path == "/step":
                    self._frame(viewer.step(int(args.get("by", "1"))))
                elif path == "/goto":
                    self._frame(viewer.goto(int(args.get("index", "0"))))
                elif path == "/run":
                    self._frame(viewer.run())
                elif path == "/stop":
                    self._frame(viewer.stop())
                elif path == "/play":
                    self._json(viewer.play())
                elif path == "/status":
                    status = viewer.play_status()
                    server = viewer.play_server
                    self._json({"index": viewer.index, "seq": viewer.seq,
                                "play": status.model_dump() if status is not None else None,
                                "stream": server.port if server is not None else None,
                                "footers": viewer.play_footers()})
                else:
                    self.send_error(HTTPStatus.NOT_FOUND)
            except ValueError:
                self.send_error(HTTPStatus.BAD_REQUEST, "a number was expected")

        def _frame(self, painted: Painted) -> None:
            body = painted.jpeg or b""
            values = (painted.index, "" if painted.count is None else painted.count, painted.caption,
                      painted.error, painted.seq)
            self._send(body, "image/jpeg" if body else "text/plain",
                       {name: urllib.parse.quote(str(v)) for name, v in zip(HEADERS, values, strict=True)})

        def _json(self, data: Any) -> None:
            self._send(json.dumps(data).encode(), "application/json", {})

        def _send(self, body: bytes, content_type: str, headers: dict[str, str]) -> None:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", ", ".join(HEADERS))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's name
            return  # one line per step would drown the editor's log

    return Handler
