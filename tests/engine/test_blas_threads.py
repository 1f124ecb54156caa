"""A run sets numpy's and OpenCV's BLAS to one thread: the engine's stages are the parallelism.

Real libraries, no mock: the count is read back through threadpoolctl from the
OpenBLAS builds loaded in the process, before and after a real workflow runs
(workflows/coins.yaml, weight-free), a BLAS loaded while it runs (scipy's)
included. Each case is a fresh interpreter: the setting is process-wide and stays.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, sys, threadpoolctl
import cv2, numpy  # their OpenBLAS builds, loaded as segflow loads them
from segflow.engine.api import load

def counts():
    return sorted({i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"})

threadpoolctl.threadpool_limits(limits=int(sys.argv[3]), user_api="blas")  # as on a box of that many cores
before = counts()
root, out = sys.argv[1], sys.argv[2]
report = load(f"{root}/workflows/coins.yaml", base_dir=root,
              overrides=[f"log.path={out}/coins.jsonl", f"picture.folder={out}/pictures"]).run()
print(json.dumps({"before": before, "after": counts(), "exit": report.exit_code}))
"""


def run(tmp_path: Path, before: int = 2, **env: str) -> dict:
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT), str(tmp_path), str(before)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_a_run_leaves_one_blas_thread(tmp_path):
    found = run(tmp_path)
    assert found == {"before": [2], "after": [1], "exit": 0}
    assert (tmp_path / "coins.jsonl").stat().st_size > 0  # the workflow really ran


def test_segflow_blas_threads_sets_another_count(tmp_path):
    # OpenBLAS takes no more threads than it started with (the cores here, at least 2 in CI)
    assert run(tmp_path, before=1, SEGFLOW_BLAS_THREADS="2") == {"before": [1], "after": [2], "exit": 0}


@pytest.mark.parametrize("value", ["none", "0", "-2"])
def test_a_value_that_is_no_count_falls_back_to_one(tmp_path, value):
    assert run(tmp_path, SEGFLOW_BLAS_THREADS=value)["after"] == [1]
