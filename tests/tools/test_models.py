"""`segflow models` against a real HTTP server on loopback: whole, broken off half way, and corrupted.

The server (a thread in this module) serves the same bytes three ways under
four base URLs: /ok, /drop (the first request gets half the body and a closed
connection), /norange (the same, and a server that ignores Range afterwards),
/bad (one byte flipped). Every request's Range
header is logged, so resuming is seen on the wire, not inferred.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from segflow.engine.cli import main
from segflow.engine.workflow.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
FILE = "sam2.1_hiera_tiny.pt"
BODY = os.urandom(3 << 20)
SHA = hashlib.sha256(BODY).hexdigest()
HALF = len(BODY) // 2


class Handler(BaseHTTPRequestHandler):
    log: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        mode, _, name = self.path.strip("/").partition("/")
        if name != FILE:
            self.send_error(404)
            return
        self.log.append((mode, self.headers.get("Range")))
        body = BODY if mode != "bad" else BODY[:1000] + bytes([BODY[1000] ^ 0xFF]) + BODY[1001:]
        start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") and mode != "norange" else 0
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if mode in ("drop", "norange") and len(self.log) == 1:
            self.wfile.write(body[:HALF])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def folder(tmp_path, monkeypatch, server):
    Handler.log.clear()
    monkeypatch.setenv("SEGFLOW_MODELS", str(tmp_path / "models"))
    return tmp_path / "models"


def use(monkeypatch, server, mode):
    monkeypatch.setenv("SEGFLOW_MODELS_URL", f"{server}/{mode}")


def test_fetch_downloads_and_verifies_against_a_given_digest(folder, server, monkeypatch, capsys):
    use(monkeypatch, server, "ok")
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA]) == 0
    assert (folder / FILE).read_bytes() == BODY and not (folder / f"{FILE}.part").exists()
    out, err = capsys.readouterr()
    assert f"sha256 {SHA}: verified" in out and "100.0%" in err  # the progress bar went to stderr
    assert Handler.log == [("ok", None)]


def test_without_a_known_digest_the_file_is_kept_but_never_called_verified(folder, server, monkeypatch, capsys):
    use(monkeypatch, server, "ok")
    assert main(["models", "fetch", "sam2.1-tiny"]) == 0
    out = capsys.readouterr().out
    assert f"sha256 {SHA}: NOT verified" in out and ": verified" not in out
    assert (folder / FILE).read_bytes() == BODY


def test_a_dropped_connection_is_resumed_with_a_range_request(folder, server, monkeypatch):
    use(monkeypatch, server, "drop")
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA]) == 0
    assert Handler.log == [("drop", None), ("drop", f"bytes={HALF}-")]
    assert (folder / FILE).read_bytes() == BODY and not (folder / f"{FILE}.part").exists()


def test_a_server_that_ignores_range_gets_the_file_rewritten_from_the_start(folder, server, monkeypatch):
    use(monkeypatch, server, "norange")
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA]) == 0
    assert Handler.log == [("norange", None), ("norange", f"bytes={HALF}-")]  # asked for the rest, got it all
    assert (folder / FILE).read_bytes() == BODY


def test_an_interrupted_fetch_resumes_on_the_next_run(folder, server, monkeypatch, capsys):
    use(monkeypatch, server, "drop")
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA, "--retries", "0"]) == 1
    assert "run the same command again to resume" in capsys.readouterr().err
    assert not (folder / FILE).exists() and (folder / f"{FILE}.part").read_bytes() == BODY[:HALF]
    listed = json.loads(list_json(capsys))
    assert [(c["present"], c["partial"]) for c in listed["checkpoints"] if c["file"] == FILE] == [(False, HALF)]
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA, "--retries", "0"]) == 0
    assert Handler.log == [("drop", None), ("drop", f"bytes={HALF}-")]
    assert (folder / FILE).read_bytes() == BODY


def test_a_corrupted_copy_is_refused_and_nothing_is_left(folder, server, monkeypatch, capsys):
    use(monkeypatch, server, "bad")
    assert main(["models", "fetch", "sam2.1-tiny", "--sha256", SHA]) == 1
    assert f"is not the expected {SHA}" in capsys.readouterr().err
    assert list(folder.iterdir()) == []


def list_json(capsys) -> str:
    capsys.readouterr()
    assert main(["models", "list", "--json"]) == 0
    return capsys.readouterr().out


def test_list_shows_the_four_sam_checkpoints_and_the_folder(folder, capsys):
    folder.mkdir()
    (folder / "sam2.1_hiera_small.pt").write_bytes(b"x" * 10)
    (folder / "mine.onnx").write_bytes(b"y")
    listed = json.loads(list_json(capsys))
    assert listed["folder"] == str(folder) and listed["other_files"] == ["mine.onnx"]
    rows = {c["name"]: c for c in listed["checkpoints"]}
    assert {n: (c["file"], c["config"]) for n, c in rows.items()} == {
        "sam2.1-tiny": ("sam2.1_hiera_tiny.pt", "configs/sam2.1/sam2.1_hiera_t.yaml"),
        "sam2.1-small": ("sam2.1_hiera_small.pt", "configs/sam2.1/sam2.1_hiera_s.yaml"),
        "sam2.1-base-plus": ("sam2.1_hiera_base_plus.pt", "configs/sam2.1/sam2.1_hiera_b+.yaml"),
        "sam2.1-large": ("sam2.1_hiera_large.pt", "configs/sam2.1/sam2.1_hiera_l.yaml"),
    }
    assert [n for n, c in rows.items() if c["present"]] == ["sam2.1-small"] and rows["sam2.1-small"]["size"] == 10
    assert main(["models", "list", "--dir", str(folder / "elsewhere")]) == 0
    assert f"model folder: {folder / 'elsewhere'}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fetch", "sam2.1-tiyn"], "did you mean 'sam2.1-tiny'?"),
        (["fetch", "sam2.1-tiny", "--sha256", "abc"], "64 hex digits"),
    ],
)
def test_user_mistakes_are_exit_2_with_a_message(folder, argv, message, capsys):
    assert main(["models", *argv]) == 2
    assert message in capsys.readouterr().err


def test_sam_refine_names_the_fetch_command_until_the_checkpoint_is_there(folder):
    workflow = ROOT / "workflows" / "sam_refine.yaml"
    from segflow.engine.node import RunContext

    context = RunContext(base_dir=ROOT)
    errors = [i for i in validate_file(workflow, context=context).issues if i.is_error]
    assert [(i.node, i.field) for i in errors] == [("segment", "checkpoint")]
    assert "segflow models fetch sam2.1-tiny" in errors[0].format()
    folder.mkdir()
    (folder / FILE).write_bytes(b"PK\x03\x04 weights")  # validation looks for the file; loading it is test_sam2's job
    assert [i.format() for i in validate_file(workflow, context=context).issues if i.is_error] == []


def test_a_workflow_may_name_its_own_model_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFLOW_MODELS", str(tmp_path / "from-the-environment"))
    from segflow.engine.node import RunContext

    text = (ROOT / "workflows" / "sam_refine.yaml").read_text().replace(
        "settings: {on_error: skip,", f"settings: {{models_dir: {tmp_path / 'weights'}, on_error: skip,", 1)
    assert "models_dir:" in text
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    context = RunContext(base_dir=ROOT)  # the workflow's samples and model resolve as from the repository
    errors = [i for i in validate_file(path, context=context).issues if i.is_error]
    assert [(i.node, i.field) for i in errors] == [("segment", "checkpoint")]
    assert str(tmp_path / "weights" / FILE) in errors[0].message  # the setting wins over $SEGFLOW_MODELS
    assert f"segflow models fetch sam2.1-tiny --dir {tmp_path / 'weights'}" in errors[0].format()
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / FILE).write_bytes(b"PK\x03\x04 weights")
    assert [i.format() for i in validate_file(path, context=context).issues if i.is_error] == []
