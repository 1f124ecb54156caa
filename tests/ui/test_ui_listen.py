"""Where the frame servers listen and whom they answer: the editor's address only with a token, the tab's key always.

``bind_address`` is a table (mixed rows: loopback kept, a network address taken only
with a token). Then a real :class:`ViewerServer` on a network address: reached at that
address from this machine (the machine's own non-loopback address when it has one, as a
remote browser would reach it), it refuses a request without the key or with a wrong one
(403) and serves one with it.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.parse
import urllib.request

import pytest

from segflow.engine.registry import default_registry
from segflow.ui import listen
from segflow.ui.editor import Editor
from segflow.ui.viewer import Viewer
from segflow.ui.viewer_server import ViewerServer
from segflow.ui.workspace import Workspace


def own_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.mark.parametrize(("editor_address", "has_token", "bound"), [
    (None, True, "127.0.0.1"),             # a bare `streamlit run`: Streamlit's default, this machine
    ("127.0.0.1", True, "127.0.0.1"),
    ("localhost", False, "127.0.0.1"),
    ("::1", True, "127.0.0.1"),
    ("0.0.0.0", True, "0.0.0.0"),          # `segflow editor --host 0.0.0.0 --token ...`
    ("192.0.2.2", True, "192.0.2.2"),
    ("::", True, "::"),
    ("0.0.0.0", False, "127.0.0.1"),       # no token, no door: the servers stay on loopback
    ("192.0.2.2", False, "127.0.0.1"),
])
def test_bind_address(editor_address, has_token, bound):
    assert listen.bind_address(editor_address, has_token) == bound


@pytest.mark.parametrize(("bound", "asked"), [("127.0.0.1", "127.0.0.1"), ("0.0.0.0", None), ("192.0.2.2", None)])
def test_page_host_is_the_pages_own_unless_loopback(bound, asked):
    assert listen.page_host(bound) == asked


@pytest.mark.parametrize(("path", "given"), [
    ("/run?t=KEY", True), ("/step?by=1&t=KEY", True), ("/run", False), ("/run?t=", False),
    ("/run?t=KEY2", False), ("/run?t=key", False), ("/run?x=KEY", False),
])
def test_key_given(path, given):
    assert listen.key_given(path, "KEY") is given


def test_a_viewer_server_on_a_network_address_answers_only_the_tabs_key(tmp_path):
    editor = Editor(Workspace(tmp_path), default_registry())
    server = ViewerServer(Viewer(editor, "0.0.0.0")).start()
    try:
        assert listen.page_host(server.viewer.host) is None  # the page asks the host it was loaded from
        host = own_address() or "127.0.0.1"
        base = f"http://{host}:{server.port}/run"
        for query in ("", "?t=", "?t=guess"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(base + query, method="POST"), timeout=30)
            assert refused.value.code == 403
        request = urllib.request.Request(f"{base}?t={server.viewer.key}", method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 200
            assert "pick an input" in urllib.parse.unquote(response.headers["X-Error"])  # no input picked yet
    finally:
        server.close()
