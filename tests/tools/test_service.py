"""`segflow service install`: the systemd unit it renders is valid, restarts on failure, starts at boot, and runs.

`systemd-analyze verify` checks the unit where systemd's tools are installed
(Debian's `systemd` package: this machine has it); the structure is checked
with configparser everywhere, and the unit's own ExecStart line is run on a
small workflow, from its WorkingDirectory with its Environment, to show the
command it holds works.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from segflow.engine.cli import main

WORKFLOW = """\
version: 1
name: service-check
nodes:
  pattern: {type: source.test_pattern, params: {frames: 5, width: 64, height: 48}}
  stats: {type: debug.stats, inputs: {image: pattern.image}}
  log: {type: sink.jsonl, params: {path: out/stats.jsonl}, inputs: {value: stats.value}}
"""


@pytest.fixture
def workflow(tmp_path) -> Path:
    path = tmp_path / "flows" / "line_one.yaml"
    path.parent.mkdir()
    path.write_text(WORKFLOW)
    return path


def render(capsys, *argv) -> str:
    capsys.readouterr()
    assert main(["service", "install", *map(str, argv), "--print"]) == 0
    return capsys.readouterr().out


def parse(text: str) -> tuple[configparser.ConfigParser, dict[str, str]]:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read_string(text)
    env = [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("Environment=")]
    return unit, dict(shlex.split(e)[0].split("=", 1) for e in env)


def test_the_system_unit_restarts_on_failure_starts_at_boot_and_logs_to_the_journal(workflow, tmp_path, capsys):
    unit, env = parse(render(capsys, workflow, "--workdir", tmp_path))
    assert unit.sections() == ["Unit", "Service", "Install"]
    service = unit["Service"]
    assert shlex.split(service["ExecStart"]) == [f"{sys.prefix}/bin/segflow", "run", str(workflow), "--quiet"]
    assert service["WorkingDirectory"] == str(tmp_path)
    assert (service["Restart"], service["StandardOutput"], service["StandardError"]) == ("on-failure", "journal",
                                                                                           "journal")
    assert service["SyslogIdentifier"] == "segflow-line-one" and service["RestartPreventExitStatus"] == "2"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert unit["Unit"]["After"] == "network-online.target"
    assert env["PYTHONUNBUFFERED"] == "1" and "SEGFLOW_MODELS" in env


def test_the_user_unit_is_wanted_by_the_users_default_target(workflow, capsys):
    unit, _ = parse(render(capsys, workflow, "--user", "--run-as", "nobody"))
    assert unit["Install"]["WantedBy"] == "default.target"
    assert "User" not in unit["Service"]  # a user manager runs units as that user
    unit, _ = parse(render(capsys, workflow, "--run-as", "segflow"))
    assert unit["Service"]["User"] == "segflow"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian package `systemd`); structure checked above")
@pytest.mark.parametrize("extra", [[], ["--user"], ["--env", "SEGFLOW_TOKEN=a b%c", "--name", "belt@2"]])
def test_systemd_analyze_verify_accepts_the_unit(workflow, tmp_path, capsys, extra):
    text = render(capsys, workflow, "--workdir", tmp_path, *extra)
    name = "belt@2" if "--name" in extra else "segflow-line-one"
    path = tmp_path / f"{name}.service"
    path.write_text(text)
    user = ["--user"] if "--user" in extra else []
    runtime = tmp_path / "run"  # a user manager needs a runtime dir, which a test machine has no session for
    runtime.mkdir(mode=0o700)
    res = subprocess.run(["systemd-analyze", "verify", *user, str(path)], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "XDG_RUNTIME_DIR": str(runtime)})
    problems = [line for line in res.stderr.splitlines() if path.name in line or "bad" in line.lower()]
    assert res.returncode == 0 and problems == [], res.stderr
    if "--env" in extra:
        assert parse(text)[1]["SEGFLOW_TOKEN"] == "a b%%c"  # systemd reads %% as one %


def test_the_units_command_runs_the_workflow(workflow, tmp_path, capsys):
    unit, env = parse(render(capsys, workflow, "--workdir", tmp_path))
    service = unit["Service"]
    res = subprocess.run(shlex.split(service["ExecStart"]), cwd=service["WorkingDirectory"],
                         env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in (tmp_path / "out" / "stats.jsonl").read_text().splitlines()]
    assert [row["frame"] for row in rows] == [0, 1, 2, 3, 4]


def test_install_writes_the_unit_and_says_how_to_enable_it(workflow, tmp_path, capsys):
    assert main(["service", "install", str(workflow), "--unit-dir", str(tmp_path / "units"), "--user"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "units" / "segflow-line-one.service").read_text().startswith("[Unit]")
    assert "systemctl --user enable --now segflow-line-one" in out and "journalctl --user -u segflow-line-one" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.yaml"], "not found"),
        (["{wf}", "--env", "NOVALUE"], "KEY=VALUE"),
        (["{wf}", "--name", "bad name"], "not a valid unit name"),
        (["{wf}", "--venv", "/nonexistent"], "--venv"),
        (["{wf}", "--workdir", "/nonexistent"], "not a folder"),
    ],
)
def test_mistakes_are_exit_2_with_a_message(workflow, argv, message, capsys):
    assert main(["service", "install", *(a.replace("{wf}", str(workflow)) for a in argv), "--print"]) == 2
    assert message in capsys.readouterr().err
