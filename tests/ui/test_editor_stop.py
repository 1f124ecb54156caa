"""Stopping ``segflow editor`` stops its Streamlit server: no process left, nothing bound to the port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browserkit import ROOT, free_port, wait_healthy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc for the child")]


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


def port_is_free(port: int) -> bool:
    """A new editor could listen there: bound as servers bind (SO_REUSEADDR: the closed
    connections' TIME_WAIT does not count), and nobody answers a connection."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


@pytest.mark.parametrize("sig, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_editor_leaves_no_server_behind(tmp_path, sig, status):
    port = free_port()
    servers: list[int] = []
    log = (tmp_path / "editor.log").open("w")
    editor = subprocess.Popen([sys.executable, "-m", "segflow.ui.command", "wf.yaml", "--port", str(port),
                               "--workspace", str(tmp_path)], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_healthy(f"http://127.0.0.1:{port}", editor)
        servers += children_of(editor.pid)
        assert len(servers) == 1, servers
        editor.send_signal(sig)  # to segflow alone, as `kill` or a service manager sends it
        assert editor.wait(timeout=30) == status
        assert until(lambda: not alive(servers[0]), 15), "the Streamlit server outlived segflow editor"
        assert until(lambda: port_is_free(port), 15), f"port {port} is still bound"
    finally:  # a failed run leaves nothing either: the editor's group, and a server that left it
        if editor.poll() is None:
            os.killpg(editor.pid, signal.SIGKILL)
            editor.wait(timeout=15)
        for pid in servers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
