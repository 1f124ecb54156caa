"""Where the editor's small HTTP servers (the frame view's and Play's stream) listen, and who they answer.

They listen on the editor's own address, so a browser on another machine, which
reached the editor, reaches them too: the page asks ``http://<the host it was
loaded from>:<port>``. They leave loopback only when the editor has a token
(``segflow editor`` refuses a network address without one; a bare ``streamlit
run`` on a network address has none, and then they stay on 127.0.0.1). Every
request must carry the browser tab's random key (``?t=``, 128 bits, compared in
constant time), and a tab is given its key only when it is drawn, that is after
the editor's token door (``segflow.ui.login``) let that session in: on a network
the editor's token gates them as it gates the editor, and the token itself never
reaches the page. The servers log no request, so no key reaches a log either.
"""

from __future__ import annotations

import secrets
import socket
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from segflow.engine.hosts import is_loopback

LOOPBACK = "127.0.0.1"


def bind_address(editor_address: str | None, has_token: bool) -> str:
    """The address for the servers of an editor listening on ``editor_address``."""
    if not editor_address or is_loopback(editor_address) or not has_token:
        return LOOPBACK
    return editor_address


def page_host(bound: str) -> str | None:
    """The host the page asks: 127.0.0.1 for a loopback server, else None (the host the page came from)."""
    return LOOPBACK if bound == LOOPBACK else None


def new_key() -> str:
    return secrets.token_urlsafe(16)


def http_server(host: str, handler: type[BaseHTTPRequestHandler], port: int = 0) -> ThreadingHTTPServer:
    """A threaded server on ``host`` (an IPv6 address such as ``::`` too) and ``port`` (0: a free one)."""
    server_class = _ThreadingHTTPServer6 if ":" in host else ThreadingHTTPServer
    server = server_class((host, port), handler)
    server.daemon_threads = True
    return server


def key_given(request_path: str, key: str) -> bool:
    """Whether the request's ``?t=`` is ``key``."""
    query = urllib.parse.parse_qs(request_path.partition("?")[2])
    return secrets.compare_digest(query.get("t", [""])[0], key)


class _ThreadingHTTPServer6(ThreadingHTTPServer):
    address_family = socket.AF_INET6
