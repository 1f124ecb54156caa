"""``segflow serve``'s process set-up: the models' OpenMP threads sleep instead of spinning, unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segflow.serve.command import quiet_model_threads
from tests.serve.conftest import ROOT


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE"), ("passive", "passive")])
def test_openmp_threads_wait_passively_unless_the_user_set_it(monkeypatch: pytest.MonkeyPatch, given: str | None,
                                                              expected: str) -> None:
    if given is None:
        monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    else:
        monkeypatch.setenv("OMP_WAIT_POLICY", given)
    quiet_model_threads()
    assert os.environ["OMP_WAIT_POLICY"] == expected


def test_torch_is_not_loaded_before_the_command_sets_the_policy() -> None:
    """OpenMP reads the policy once, when torch loads it: the command must run before any import of torch."""
    probe = ("import sys, segflow.engine.cli, segflow.serve.command, segflow.serve.app, segflow.engine.api; "
             "print(sorted(m for m in ('torch', 'ultralytics', 'onnxruntime') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
