"""Joining the Ray cluster a run names, or starting a private one; every way that fails is one line.

- No address: a private Ray instance on this machine for this run
  (``address="local"``), never the cluster ``/tmp/ray/ray_current_cluster``
  or ``RAY_ADDRESS`` happen to name. ``auto`` joins those, as Ray does.
- ``host:port``: Ray 2.60's ``ray start --head`` turns token authentication on
  when a token exists, while ``ray.init`` with an explicit address never looks
  for one. So the driver asks the cluster first; when it wants a token and
  ``RAY_AUTH_MODE`` is unset, the driver takes the token Ray's own CLI would
  (``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``).
- Nothing listening, no token, a token the cluster refuses, another Ray or
  Python version: :class:`ExecutorUnavailable` with the fix (exit 2).

Ray is imported only here and in the modules that need it at run time.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segflow.engine.execution.executor import ExecutorUnavailable

AUTH_MODE = "RAY_AUTH_MODE"
PROBE_S = 15.0  # a Ray cluster answers in milliseconds, even on a busy machine
ADDRESS_HINT = "give the address `ray start --head` printed (host:port, port 6379 unless --port said otherwise)"
TOKEN_HINT = ("print the cluster's token on its head node (`ray get-auth-token`) and save it here in "
              "~/.ray/auth_token, or set RAY_AUTH_TOKEN")


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ExecutorUnavailable("the ray executor needs Ray, which is not installed",
                                  hint="pip install 'segflow[ray]'") from exc
    return ray


@contextmanager
def connected(address: str | None) -> Iterator[Any]:
    """Ray, initialised for this run (and shut down after it); a session the caller opened is used as is."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    if address:
        check_reachable(address)
        if "://" not in address and address != "auto":
            authenticate(address)
    env = {k: v for k, v in os.environ.items() if k == "PYTHONPATH"}
    handlers = _handlers()
    try:
        ray.init(address=address or "local", logging_level=logging.WARNING, include_dashboard=False,
                 runtime_env={"env_vars": env} if env else None)
    except (ConnectionError, RuntimeError) as exc:
        raise _explain(exc, address or "a private Ray instance") from exc
    finally:
        _restore(handlers)  # ray.init makes SIGTERM exit at once; ours stops the sources and drains
    try:
        yield ray
    finally:
        ray.shutdown()


def check_reachable(address: str) -> None:
    """Fail in a second, not after Ray's long connection retries, when nothing listens there."""
    if address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorUnavailable(f"Ray address '{address}' is not host:port",
                                  hint="e.g. --address 10.0.0.5:6379, ray://10.0.0.5:10001 or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as exc:
        raise ExecutorUnavailable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}",
                                  hint="start it with `ray start --head --port PORT`, or check the address "
                                       "and port") from exc


def authenticate(address: str) -> None:
    """Use the token Ray's CLI would use when the cluster at ``address`` asks for one; refuse in one line."""
    try:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )
        from ray._raylet import AuthenticationTokenLoader, GcsClient  # type: ignore[attr-defined]  # no stub
        from ray.exceptions import AuthenticationError
    except ImportError:  # a Ray without token authentication
        return

    def refused() -> bool:
        answer = _ask(lambda: GcsClient(address=address).cluster_id, address)
        if answer is None or isinstance(answer, AuthenticationError):
            return answer is not None
        text = str(answer).strip().splitlines()[0] if str(answer).strip() else type(answer).__name__
        raise ExecutorUnavailable(f"cannot connect to the Ray cluster at {address}: {text}", hint=ADDRESS_HINT)

    if not refused():
        return
    mode = os.environ.get(AUTH_MODE)
    if mode is None:
        if not AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True):
            raise ExecutorUnavailable(f"the Ray cluster at {address} asks for a token (token authentication "
                                      f"is on) and this machine has none", hint=TOKEN_HINT)
        quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
        level = quiet.level
        quiet.setLevel(logging.ERROR)  # Ray warns that it turned token mode on: that is the point here
        try:
            maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        finally:
            quiet.setLevel(level)
        if not refused():
            return
    elif mode.lower() != "token":
        raise ExecutorUnavailable(f"the Ray cluster at {address} asks for a token, but {AUTH_MODE}={mode} here",
                                  hint=f"unset {AUTH_MODE} (or set it to token) and have the cluster's token "
                                       "in ~/.ray/auth_token or RAY_AUTH_TOKEN")
    origin = _token_origin()
    raise ExecutorUnavailable(f"the Ray cluster at {address} refused the token in {origin}",
                              hint=f"put the token `ray get-auth-token` prints on the cluster's head node in {origin}")


def _ask(question: Callable[[], object], address: str) -> BaseException | None:
    """Ask the cluster something, within ``PROBE_S``: what it raised, or None when it answered.

    Ray's client retries for most of a minute when what listens there is not
    a Ray cluster, and logs each refusal on fd 2 before raising: the question
    runs in a thread of its own while fd 2 is muted.
    """
    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            question()
            outcome.append(None)
        except BaseException as exc:  # handed to the caller, which decides
            outcome.append(exc)

    asking = threading.Thread(target=ask, name="segflow-ray-probe", daemon=True)
    with _native_stderr_muted():
        asking.start()
        asking.join(PROBE_S)
    if not outcome:
        raise ExecutorUnavailable(f"nothing at {address} answered as a Ray cluster within {PROBE_S:g} s",
                                  hint=ADDRESS_HINT)
    return outcome[0]


def _token_origin() -> str:
    """Where Ray's token loader took the token from, in its own order."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return os.environ["RAY_AUTH_TOKEN_PATH"]
    return str(Path.home() / ".ray" / "auth_token")


def _explain(exc: BaseException, where: str) -> ExecutorUnavailable:
    """Ray's connection failure (its cause chain holds the reason) as one line with the fix."""
    text = " ".join(str(e) for e in _chain(exc))
    versions = re.findall(r"Ray: (\S+)\s+Python: (\S+)", text)
    if "Version mismatch" in text and len(versions) == 2:
        (ray_there, py_there), (ray_here, py_here) = versions
        return ExecutorUnavailable(
            f"the Ray cluster at {where} runs Ray {ray_there} on Python {py_there}; this machine has Ray {ray_here} "
            f"on Python {py_here}",
            hint=f"run segflow with the cluster's versions (pip install 'ray[default]=={ray_there}' on Python "
                 f"{py_there}), or restart the cluster with this machine's")
    if "InvalidAuthToken" in text or "AuthenticationError" in text:
        return ExecutorUnavailable(f"the Ray cluster at {where} refused this machine's token", hint=TOKEN_HINT)
    first = str(exc.__cause__ or exc).strip().splitlines()[0] if str(exc.__cause__ or exc).strip() else ""
    return ExecutorUnavailable(f"cannot connect to {where}: {first or type(exc).__name__}", hint=ADDRESS_HINT)


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


@contextmanager
def _native_stderr_muted() -> Iterator[None]:
    """Silence file descriptor 2 (where Ray's C++ client logs) for a moment."""
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}


def _restore(handlers: dict[int, Any]) -> None:
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
