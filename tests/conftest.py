"""Suite-wide: isolation between tests, and an exit that a library's shutdown cannot turn red.

What one test's URLs taught the masker must not mask another test's text.

``make test`` sets ``SEGFLOW_PYTEST_HARD_EXIT=1``: once pytest has finished the session
(every result and the summary are written, the exit status is decided), the process
ends with ``os._exit(status)``. Why: a full run once printed its summary, all green, and
then segfaulted while the interpreter shut down (a C extension — torch, onnxruntime,
ray or sam2 threads — finalised late), so make exited non-zero and CI went red for no
failing test. Subsets run with ``python -X faulthandler`` did not reproduce it. The
status is pytest's own, so a failing or erroring test still fails the run; only what
happens after the session (atexit handlers, interpreter teardown) is skipped. Without
the variable (a plain ``pytest``), the exit is the normal one, so such a crash can still
be looked into (``PYTHONFAULTHANDLER=1``, set by ``make test`` too, prints its stack).
"""

import os
import sys

import pytest

from segflow.engine.masking import SECRETS

HARD_EXIT = "SEGFLOW_PYTEST_HARD_EXIT"
_SESSION = pytest.StashKey[pytest.Session]()


@pytest.fixture(autouse=True)
def _fresh_secrets(monkeypatch):
    monkeypatch.setattr(SECRETS, "_known", set())


def pytest_sessionstart(session):
    session.config.stash[_SESSION] = session


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    session = config.stash.get(_SESSION, None)
    if os.environ.get(HARD_EXIT) != "1" or session is None:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(session.exitstatus))

