"""``make test``'s exit: pytest's own status, whatever a library does at interpreter shutdown.

The suite's conftest is copied next to a small test file and pytest runs it in a
subprocess; an ``atexit`` handler that segfaults stands for a C extension finalised late.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CRASH_AT_EXIT = """
import atexit, os, signal
atexit.register(lambda: os.kill(os.getpid(), signal.SIGSEGV))

def test_fine():
    assert True
"""


def run(tmp_path: Path, body: str, hard_exit: bool) -> subprocess.CompletedProcess:
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_it.py").write_text(body)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("SEGFLOW_PYTEST_HARD_EXIT", None)
    if hard_exit:
        env["SEGFLOW_PYTEST_HARD_EXIT"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_it.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("hard_exit, status", [(False, -signal.SIGSEGV), (True, 0)])
def test_a_crash_after_the_summary_turns_the_run_red_only_without_hard_exit(tmp_path, hard_exit, status):
    done = run(tmp_path, CRASH_AT_EXIT, hard_exit)
    assert "1 passed" in done.stdout
    assert done.returncode == status, done.stdout + done.stderr


def test_a_failing_test_still_fails_with_hard_exit(tmp_path):
    done = run(tmp_path, CRASH_AT_EXIT + "\ndef test_broken():\n    assert 1 == 2\n", hard_exit=True)
    assert "1 failed, 1 passed" in done.stdout
    assert done.returncode == 1
