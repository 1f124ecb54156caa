"""`segflow run` exit codes tell the truth: unwritten records and runs where every frame failed are not 0."""

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

from segflow.engine.observe import exit_codes

HEAD = """version: 1
name: exits
nodes:
  cam: {type: source.test_pattern, params: {frames: 6, width: 32, height: 24}}
"""


def segflow(*args, cwd, timeout=120):
    return subprocess.run([sys.executable, "-m", "segflow.engine.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when we return: connections are refused


def test_all_good_is_0(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(HEAD + "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: cam.image}}\n")
    res = segflow("run", wf, "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "not written" not in res.stderr


def test_records_that_could_not_be_delivered_exit_3_and_say_where_they_are(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(HEAD + f"""  hook:
    type: sink.webhook
    params: {{url: "http://127.0.0.1:{closed_port()}/in", per: frame, drain_timeout_s: 0.5, spool_dir: spool}}
    inputs: {{image: cam.image}}
""")
    res = segflow("run", wf, "--quiet", "--metrics", tmp_path / "m.json", cwd=tmp_path)
    assert res.returncode == 3, res.stderr
    assert "sink 'hook' (sink.webhook): 6 records not written" in res.stderr
    assert str(tmp_path / "spool") in res.stderr
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["exit_code"] == 3
    assert metrics["undelivered"][0]["records"] == 6 and metrics["undelivered"][0]["kept_in"] == str(tmp_path / "spool")
    spooled = [json.loads(line) for f in sorted(Path(tmp_path / "spool").glob("*.jsonl")) for line in f.open()]
    assert [r["frame"] for r in spooled] == list(range(6))  # all of them, in order, for the next start


def test_every_frame_failed_exits_1(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(HEAD + "  bad: {type: debug.fail, params: {every: 1}, inputs: {image: cam.image}}\n"
                  "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: bad.image}}\n")
    res = segflow("run", wf, "--quiet", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert "every frame failed (6)" in res.stderr


def test_some_frames_failed_is_still_0(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(HEAD + "  bad: {type: debug.fail, params: {frames: [2]}, inputs: {image: cam.image}}\n"
                  "  rec: {type: debug.record, params: {path: out.jsonl}, inputs: {image: bad.image}}\n")
    res = segflow("run", wf, "--quiet", cwd=tmp_path)
    assert res.returncode == 0, res.stderr


def test_records_lost_are_not_called_kept():
    """Exit 3 says the records are kept; with the target and the rejected folder both full they are not."""
    from segflow.engine.observe.metrics import RunReport, Undelivered

    kept = RunReport("wf", frames=6)
    kept.finish([Undelivered("log", "sink.jsonl", 6, ".segflow/rejected/wf/log.jsonl", "No space left on device")])
    assert kept.exit_code == 3
    lost = RunReport("wf", frames=6)
    lost.finish([Undelivered("log", "sink.jsonl", 6, ".segflow/rejected/wf/log.jsonl", "disk full"),
                 Undelivered("db", "sink.jsonl", 4, "", "No space left on device; 1 of them kept in x")])
    assert lost.exit_code == 1
    assert "LOST" in lost.table() and "exit code 1, not 3" in lost.table()


def test_every_command_spells_its_exit_codes_by_name():
    """A sub-command returning a bare 0/1/2/3 is a second copy of the policy in exit_codes.py: it drifts.

    (128 + a signal's number, the shell's convention for a stopped program, is not the policy's.)
    """
    import ast
    import importlib.util

    import tomllib

    root = Path(__file__).resolve().parents[2]
    commands = tomllib.loads((root / "pyproject.toml").read_text())["project"]["entry-points"]["segflow.commands"]
    modules = {"segflow.engine.cli", "segflow.tools.demo", "segflow.tools.train_classify"}
    modules |= {target.split(":")[0] for target in commands.values()}
    bare = []
    for name in sorted(modules):
        path = Path(importlib.util.find_spec(name).origin)
        for node in ast.walk(ast.parse(path.read_text())):
            values = [node.value] if isinstance(node, ast.Return) else []
            if values and isinstance(values[0], ast.IfExp):
                values = [values[0].body, values[0].orelse]
            bare += [f"{name}:{node.lineno}" for v in values
                     if isinstance(v, ast.Constant) and v.value in set(CODES.values()) and type(v.value) is int]
    assert len(modules) > 10
    assert bare == []


CODES = {name: value for name, value in vars(exit_codes).items() if name.startswith("EXIT_")}


def test_one_code_one_meaning_all_defined_in_exit_codes():
    """Two meanings of one number (run's 3 'records kept' and import's old 3 'parts left out') make `$?` ambiguous."""
    assert len(set(CODES.values())) == len(CODES), CODES
    assert CODES["EXIT_UNWRITTEN"] == 3 and CODES["EXIT_PARTIAL"] == 4
    root = Path(__file__).resolve().parents[2] / "segflow"
    elsewhere = [f"{path.relative_to(root)}: {line.strip()}" for path in sorted(root.rglob("*.py"))
                 if path.name != "exit_codes.py"
                 for line in path.read_text().splitlines() if re.match(r"\s*EXIT_[A-Z_]+\s*(:[^=]+)?=", line)]
    assert elsewhere == []


def test_the_documented_table_lists_every_code():
    table = (Path(__file__).resolve().parents[2] / "docs/workflow-format.md").read_text()
    for value in CODES.values():
        assert re.search(rf"^\s*\| {value} \|", table, re.M), f"exit code {value} is not in the table"
