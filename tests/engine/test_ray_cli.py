"""The ray executor as docs/execution.md tells users to start it: real `ray start` processes on loopback.

One head, started the way Ray 2.60 starts it for a user who has a token in
Ray's default file (``~/.ray/auth_token``): token authentication on. HOME,
Ray's temp dir and the ports are this module's own, the head has one CPU and
no dashboard, and it is stopped by its PID (and its process group) at the end
— never `ray stop`, which would stop other people's Ray on this machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
BIN = Path(sys.executable).parent
SEGFLOW = [sys.executable, "-m", "segflow.engine.cli"]

WORKFLOW = """
version: 1
name: ray-cli
settings: {{ray: {{shard_resources: {{cpu: 0.25}}}}}}
nodes:
  cam1: {{type: source.test_pattern, params: {{frames: 10, width: 32, height: 24, seed: 1}}}}
  cam2: {{type: source.test_pattern, params: {{frames: 10, width: 32, height: 24, seed: 2}}}}
  model:
    type: debug.simulated_model
    params: {{call_ms: 1, item_ms: 0, batch_size: 4}}
    resources: {{cpu: 0.25}}
    inputs: {{image: [cam1.image, cam2.image]}}
  rec: {{type: debug.record, params: {{path: {out}}}, inputs: {{image: model.image}}}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Head:
    address: str
    home: Path  # HOME of the head's user: ~/.ray/auth_token holds the cluster's token
    tmp: Path  # what TMPDIR points at on this "machine": Ray's temp dir is tmp/ray

    def env(self, **changes: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update({"HOME": str(self.home), "TMPDIR": str(self.tmp), **changes})
        return env


def stop_group(proc: subprocess.Popen) -> None:
    """Stop a process we started in its own session, then anything left in that session (by its id)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def start_head(root: Path, head: Head, port: int) -> subprocess.Popen | None:
    """`ray start --head` in a session of its own; None when Ray gave up starting (its raylet has 30 s)."""
    log_path = root / f"head-{port}.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(BIN / "ray"), "start", "--head", "--port", str(port), "--node-ip-address",
                                 "127.0.0.1", "--temp-dir", str(head.tmp / "ray"), "--num-cpus", "1",
                                 "--include-dashboard=false", "--disable-usage-stats", "--block"],
                                env=head.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while "Ray runtime started" not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_group(proc)
            return None
        time.sleep(0.5)
    assert "Token authentication is enabled" in log_path.read_text()
    return proc


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    root = Path(tempfile.mkdtemp(prefix="sf-ray-", dir="/tmp"))  # short: Ray's socket paths must fit
    home, tmp = root / "home", root / "tmp"
    home.mkdir()
    (tmp / "ray").mkdir(parents=True)
    proc = None
    try:
        head = Head("", home, tmp)
        subprocess.run([str(BIN / "ray"), "get-auth-token", "--generate"], env=head.env(), check=True,
                       capture_output=True, timeout=120)
        for _ in range(3):  # on a busy machine Ray's own startup wait can run out: try again on another port
            port = free_port()
            proc = start_head(root, head, port)
            if proc is not None:
                break
        assert proc is not None, "\n".join(p.read_text() for p in root.glob("head-*.log"))
        head.address = f"127.0.0.1:{port}"
        yield head
    finally:
        if proc is not None:
            stop_group(proc)
        shutil.rmtree(root, ignore_errors=True)


def run(head: Head, tmp_path: Path, *args: str, env: dict[str, str] | None = None,
        script: str | None = None) -> subprocess.CompletedProcess:
    path = tmp_path / "wf.yaml"
    path.write_text(WORKFLOW.format(out=tmp_path / "rec.jsonl"))
    command = ["run", str(path), "--executor", "ray", "--quiet", "--metrics", str(tmp_path / "metrics.json"), *args]
    argv = [sys.executable, "-c", script + f"\nsys.exit(main({command!r}))"] if script else [*SEGFLOW, *command]
    return subprocess.run(argv, env=env or head.env(), capture_output=True, text=True, timeout=300)


def ray_nodes(tmp_path: Path) -> set[str]:
    return {p["ray_node"] for p in json.loads((tmp_path / "metrics.json").read_text())["placement"]}


def test_the_documented_path_works_and_no_address_is_a_private_instance(head, tmp_path):
    joined = run(head, tmp_path, "--address", head.address)  # HOME has the token; nothing else is set
    assert joined.returncode == 0, joined.stderr
    assert len((tmp_path / "rec.jsonl").read_text().splitlines()) == 20
    on_head = ray_nodes(tmp_path)
    assert len(on_head) == 1
    # Ray itself would join the head: TMPDIR/ray/ray_current_cluster names it
    assert (head.tmp / "ray" / "ray_current_cluster").read_text().strip().endswith(head.address.split(":")[1])
    private = tmp_path / "private"
    private.mkdir()
    alone = run(head, private)
    assert alone.returncode == 0, alone.stderr
    assert len((private / "rec.jsonl").read_text().splitlines()) == 20
    assert ray_nodes(private).isdisjoint(on_head)  # its own Ray, not the cluster this machine's Ray names


@pytest.mark.parametrize("case, message", [
    ("no token", "asks for a token (token authentication is on) and this machine has none"),
    ("wrong token", "refused the token in "),
    ("auth disabled here", "asks for a token, but RAY_AUTH_MODE=disabled here"),
    ("other Ray", "runs Ray 2.60.0 on Python"),
    ("not Ray", "answered as a Ray cluster within 15 s"),
])
def test_connection_problems_are_one_line_with_the_fix(head, tmp_path, case, message):
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    env, script = head.env(HOME=str(home)), None
    if case == "wrong token":
        (home / ".ray" / "auth_token").write_text("0" * 32)
    if case == "auth disabled here":
        env = head.env(RAY_AUTH_MODE="disabled")
    if case == "other Ray":
        import ray

        env = head.env()
        script = "import sys, ray\nray.__version__ = '2.59.0'\nfrom segflow.engine.cli import main\n"
        message = f"runs Ray {ray.__version__} on Python"
    address = head.address
    listener = socket.socket()  # something listens there, but it is not Ray
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    if case == "not Ray":
        address = f"127.0.0.1:{listener.getsockname()[1]}"
    started = time.monotonic()
    try:
        res = run(head, tmp_path, "--address", address, env=env, script=script)
    finally:
        listener.close()
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "(hint: " in lines[0], res.stderr
    assert "internal error" not in res.stderr
    assert time.monotonic() - started < 120  # not Ray's long retries
    assert not (tmp_path / "rec.jsonl").exists()
