"""Fuzzing: mutants of every shipped workflow never crash, hang or get an exit code other than 0 or 2.

A few hundred mutants run in `make test`, validated in-process through the
real command line (``segflow.engine.cli.main``); a nightly-sized run sets
``SEGFLOW_FUZZ_MUTANTS=5000`` (and ``SEGFLOW_FUZZ_SEED`` for other mutants,
``SEGFLOW_FUZZ_RUNS`` for how many valid ones to run). A few valid mutants run
for 3 frames as a subprocess, under the same rules. Validation is bounded in
CPU time, not wall time, so a busy machine cannot fail it; a run is bounded by
a generous wall-clock timeout that only a real hang reaches.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from mutants import Mutant, mutants

from segflow.engine import cli
from segflow.engine.workflow.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))
COUNT = int(os.environ.get("SEGFLOW_FUZZ_MUTANTS", "300"))
SEED = int(os.environ.get("SEGFLOW_FUZZ_SEED", "20261202"))
RUNS = int(os.environ.get("SEGFLOW_FUZZ_RUNS", "3"))
HANG_CPU_S = 5.0  # validating one mutant may use this much CPU at most
RUN_TIMEOUT_S = 300  # a run of 3 frames that takes this long is hung
# Loading models (torch, SAM 2) or waiting for endpoints costs seconds a run: the nightly run covers them.
HEAVY = ("detect.yolo", "segment.sam2", "sink.webhook", "sink.mqtt")


def validate(path: Path) -> tuple[int, str, float]:
    """``segflow validate`` in this process: its exit code, what it printed, and the CPU seconds it took."""
    out, err = io.StringIO(), io.StringIO()
    started = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", str(path)])
    return code, out.getvalue() + err.getvalue(), time.process_time() - started


def describe(m: Mutant) -> str:
    return f"mutant {m.index} (seed {SEED}) of {m.source}: {' + '.join(m.operations)}"


def test_mutants_of_every_shipped_workflow(tmp_path, monkeypatch, caplog):
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    monkeypatch.chdir(tmp_path)  # relative paths resolve as from the repository root; outputs land here
    monkeypatch.setenv("SEGFLOW_TOKEN", "fuzz-token")  # sinks_network.yaml reads it
    sources = {p.name: p.read_text(encoding="utf-8") for p in WORKFLOWS}
    problems: list[str] = []
    valid: list[tuple[Mutant, Path]] = []
    seen_codes: set[int] = set()
    for m in mutants(sources, COUNT, SEED):
        path = tmp_path / f"mutant-{m.index}.yaml"
        path.write_bytes(m.text if isinstance(m.text, bytes) else m.text.encode("utf-8", "surrogatepass"))
        caplog.clear()
        try:
            code, printed, cpu = validate(path)
        except BaseException as exc:  # noqa: BLE001 - anything escaping the CLI is the bug we look for
            problems.append(f"{describe(m)}: raised {type(exc).__name__}: {exc}"[:400])
            continue
        logged = caplog.text
        seen_codes.add(code)
        if code not in (0, 2):
            problems.append(f"{describe(m)}: exit {code}: {(printed + logged)[-300:]}")
        if "Traceback" in printed + logged or "internal error" in printed + logged:
            problems.append(f"{describe(m)}: a traceback or internal error: {(printed + logged)[-300:]}")
        if cpu > HANG_CPU_S:
            problems.append(f"{describe(m)}: validation took {cpu:.1f} s of CPU")
        if code == 0:
            valid.append((m, path))
        else:
            path.unlink()
    assert not problems, "\n".join(problems[:20])
    assert seen_codes == {0, 2}, seen_codes  # some mutants stay valid, most do not
    run_some(valid, problems)
    assert not problems, "\n".join(problems[:20])


def run_some(valid: list[tuple[Mutant, Path]], problems: list[str]) -> None:
    """Run up to RUNS valid mutants for 3 frames; in `make test` only the ones that load no model."""
    nightly = RUNS > 3
    chosen = [(m, p) for m, p in valid if nightly or not any(t in p.read_text() for t in HEAVY)]
    chosen = [(m, p) for m, p in chosen if "segment.sam2" not in p.read_text()][:RUNS]  # no SAM 2 weights here
    assert chosen or RUNS == 0, "no valid mutant to run"
    for m, path in chosen:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "run", str(path), "--max-frames", "3",
                                  "--quiet"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=path.parent)
        except subprocess.TimeoutExpired:
            problems.append(f"{describe(m)}: the 3-frame run hung for {RUN_TIMEOUT_S} s")
            continue
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if res.returncode not in (0, 1, 3):  # ran; failed (named, no traceback); or records set aside
            problems.append(f"{describe(m)}: run exit {res.returncode}: {res.stderr[-300:]}")
        if "Traceback" in res.stderr or "internal error" in res.stderr:
            problems.append(f"{describe(m)}: run printed a traceback: {res.stderr[-400:]}")
        print(f"ran {describe(m)}: exit {res.returncode}, {cpu:.1f} s CPU")


def test_the_fuzzer_reaches_every_shipped_workflow_and_mutation():
    sources = {p.name: p.read_text(encoding="utf-8") for p in WORKFLOWS}
    made = list(mutants(sources, 300, SEED))
    assert {m.source for m in made} == set(sources)
    from mutants import MUTATIONS

    assert {op for m in made for op in m.operations} == set(MUTATIONS)
    assert made == list(mutants(sources, 300, SEED))  # the seed fixes them
    assert validate_file(WORKFLOWS[0]).ok  # the fuzzer starts from valid files
