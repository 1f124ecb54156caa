"""Helpers the serve tests share."""

from __future__ import annotations

import time


def wait_for(check, timeout: float = 240.0, what: str = "the condition"):
    """``check()``'s first truthy value, polled every 0.5 s; generous, because CI machines are busy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")
