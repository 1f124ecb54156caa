"""Secrets are masked whatever they contain: every log line, error, --metrics file, graph file and record.

A real camera URL (a closed port: it fails and is logged), a real loopback webhook (userinfo becomes
basic auth) and a real SQLite sink whose URL carries a password in its query, run through the CLI.
"""

import base64
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

PASSWORDS = ["pa/ss", "pa#ss", "pa?ss", "p@ss", "pa:ss", "50%off", "pass word", "pässwörd", "пароль1",
             "a/#?@:% ü"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def forms(password: str) -> set[str]:
    """Every way the password could leak: raw, percent-encoded, JSON-escaped."""
    return {password, quote(password, safe=""), json.dumps(password)[1:-1], quote(password)}


def all_text(folder: Path, pattern: str) -> str:
    return "\n".join(p.read_text(errors="replace") for d in folder.glob(pattern) for p in d.rglob("*") if p.is_file())


def segflow(*args, cwd):
    env = {**os.environ, "OPENCV_LOG_LEVEL": "ERROR"}
    return subprocess.run([sys.executable, "-m", "segflow.engine.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=180, env=env)


@pytest.mark.parametrize("encoded", [False, True], ids=["raw", "percent-encoded"])
def test_no_password_leaks_anywhere(tmp_path, receiver, encoded):
    """One run holds every password of the table: a camera and a webhook each; then the SQL sinks."""
    nodes, databases = ["  pattern: {type: source.test_pattern, params: {frames: 4, width: 32, height: 24}}"], []
    for i, password in enumerate(PASSWORDS):
        in_url = quote(password, safe="") if encoded else password
        camera = f"rtsp://viewer:{in_url}@127.0.0.1:{closed_port()}/live"
        nodes.append(f"  cam{i}: {{type: source.camera, params: {{source: {json.dumps(camera)}, max_reconnects: 1, "
                     "reconnect_initial_s: 0.05, reconnect_max_s: 0.05, open_timeout_s: 1}}")
        hook = f"http://user{i}:{in_url}@127.0.0.1:{receiver.port}/hook"
        nodes.append(f"  hook{i}: {{type: sink.webhook, params: {{url: {json.dumps(hook)}, per: frame, "
                     f"spool_dir: spool{i}}}, inputs: {{image: pattern.image}}}}")
        url = f"postgresql+psycopg2://bob:{in_url}@127.0.0.1:{closed_port()}/db"
        databases.append(f"  db{i}: {{type: sink.sql, params: {{database: {json.dumps(url)}}}, "
                         "inputs: {image: pattern.image}}")
    workflow = tmp_path / "wf.yaml"
    workflow.write_text("version: 1\nname: secrets\nnodes:\n" + "\n".join(nodes) + "\n")
    database = tmp_path / "db.yaml"  # databases that are down: validation or setup fails, and says so
    database.write_text("version: 1\nname: secrets-db\nnodes:\n" + "\n".join(nodes[:1] + databases) + "\n")

    run = segflow("run", workflow, "--quiet", "--metrics", tmp_path / "m.json", cwd=tmp_path)
    graph = segflow("graph", workflow, "-o", tmp_path / "g.dot", cwd=tmp_path)
    checked = segflow("validate", database, "--json", cwd=tmp_path)
    sql = segflow("run", database, "--quiet", cwd=tmp_path)
    assert graph.returncode == 0, graph.stderr
    assert sql.returncode in (1, 2) and "node 'db" in sql.stderr, sql.stderr
    for i in range(len(PASSWORDS)):
        assert f"camera 'cam{i}'" in run.stderr  # each camera's failures were logged, URL and all
    # basic auth from the userinfo: every endpoint got its records, with the password decoded
    assert len(receiver.records()) == 4 * len(PASSWORDS), run.stderr
    expected = {"Basic " + base64.b64encode(f"user{i}:{p}".encode()).decode() for i, p in enumerate(PASSWORDS)}
    assert {h["Authorization"] for h in receiver.headers} == expected
    everything = "\n".join([run.stdout, run.stderr, graph.stdout, graph.stderr, checked.stdout, checked.stderr,
                            sql.stdout, sql.stderr, all_text(tmp_path, "spool*"), (tmp_path / "m.json").read_text(),
                            (tmp_path / "g.dot").read_text(), json.dumps(receiver.batches)])
    for password in PASSWORDS:
        for leak in forms(password):
            assert leak not in everything, f"{leak!r} leaked"
