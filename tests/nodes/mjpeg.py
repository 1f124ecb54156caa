"""An IP camera on loopback: MJPEG over HTTP (multipart/x-mixed-replace), as OpenCV's FFmpeg reads it.

It can be killed mid-stream, stall after some frames, and be started again on
the same port: the states a camera on a production line goes through.
"""

from __future__ import annotations

import http.server
import threading
import time

import cv2
import numpy as np


class MjpegHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        server: MjpegServer = self.server  # type: ignore[assignment]
        server.connections += 1
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        sent = 0
        while not server.stopping:
            if server.stall_after and sent >= server.stall_after:
                server.stopping_event.wait(30)  # connected but silent, like a frozen camera
                return
            ok, jpg = cv2.imencode(".jpg", np.full((48, 64, 3), server.level, np.uint8))
            part = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
            try:
                self.wfile.write(part + jpg.tobytes() + b"\r\n")
            except OSError:
                return
            sent += 1
            time.sleep(0.01)


class MjpegServer(http.server.ThreadingHTTPServer):
    """An IP camera on loopback whose frames are a flat grey ``level``."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, level: int = 50, stall_after: int = 0) -> None:
        super().__init__(("127.0.0.1", port), MjpegHandler)
        self.level, self.stall_after = level, stall_after
        self.stopping = False
        self.stopping_event = threading.Event()
        self.connections = 0
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def kill(self) -> None:
        self.stopping = True
        self.stopping_event.set()
        self.shutdown()
        self.server_close()
