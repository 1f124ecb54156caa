"""``segflow editor [FILE]``: start the Streamlit editor on this machine.

It binds to 127.0.0.1 unless told otherwise: the editor can read and write
workflow files in the workspace and run models, so it should not be reachable
from the network by accident. On any other address it refuses to start without
a token (read as `segflow serve` reads its own: ``--token-file``, ``--token`` or
``SEGFLOW_TOKEN``); each browser session must then give it (``?token=`` in the
link or the login form, ``segflow.ui.login``) before the editor is drawn.
Streamlit runs headless, sends no usage statistics, and gets the file,
workspace and token through environment variables.

The Streamlit server is a child process; stopping ``segflow editor`` (Ctrl-C,
SIGTERM, SIGHUP) stops it too, so nothing is left bound to the port: the
signal is passed on, and a server that has not gone after ``STOP_GRACE_S`` is
killed. On Linux the child is also told to end if its parent dies unannounced.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from segflow.engine.hosts import TOKEN_ENV, is_loopback, read_token
from segflow.engine.observe.exit_codes import EXIT_INVALID

APP = Path(__file__).with_name("app.py")
ENV_FILE = "SEGFLOW_EDITOR_FILE"
ENV_WORKSPACE = "SEGFLOW_EDITOR_WORKSPACE"
ENV_TOKEN = "SEGFLOW_EDITOR_TOKEN"  # the token each browser session must give; unset: no login
STOP_GRACE_S = 10.0  # a stopping Streamlit server gets this long to close its sessions before SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class EditorCommand:
    help = "open the visual editor (Streamlit) on a workflow, in your browser"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", nargs="?", help="workflow to open (created on save if it does not exist)")
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to listen on (default 127.0.0.1: this machine only)")
        parser.add_argument("--port", type=int, default=8501, help="port to listen on (default 8501)")
        parser.add_argument("--workspace", default=".",
                            help="folder the editor may open and save workflows in (default: current folder)")
        token = parser.add_mutually_exclusive_group()
        token.add_argument("--token", help=f"token each browser must give (or set {TOKEN_ENV}); required on "
                                           "any address but loopback")
        token.add_argument("--token-file", help="read the token from this file")

    def command_line(self, args: argparse.Namespace) -> tuple[list[str], dict[str, str]]:
        """The streamlit command and environment for ``args``; raises ValueError on bad input."""
        workspace = Path(args.workspace).expanduser().resolve()
        if not workspace.is_dir():
            raise ValueError(f"workspace '{args.workspace}' is not a folder")
        try:
            token = read_token(args.token, args.token_file)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the token: {exc}") from exc
        if token is None and not is_loopback(args.host):
            raise ValueError(f"refusing to listen on {args.host} without a token: anyone on that network could "
                             f"open, save and run workflows in the workspace\n"
                             f"    hint: --token-file FILE (or {TOKEN_ENV}), or leave --host at 127.0.0.1")
        env = dict(os.environ)
        env[ENV_WORKSPACE] = str(workspace)
        env.pop(ENV_FILE, None)
        env.pop(ENV_TOKEN, None)
        if token:
            env[ENV_TOKEN] = token
        if args.file:
            path = Path(args.file).expanduser().resolve()
            if not path.is_relative_to(workspace):
                raise ValueError(f"'{args.file}' is outside the workspace {workspace}; "
                                 f"pass --workspace with a folder that contains it")
            if path.exists() and not path.is_file():
                raise ValueError(f"'{args.file}' is not a file")
            env[ENV_FILE] = path.relative_to(workspace).as_posix()
        if not 0 < args.port < 65536:
            raise ValueError(f"--port {args.port}: expected 1-65535")
        cmd = [
            sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", args.host,
            "--server.port", str(args.port),
            "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none",
            "--server.runOnSave", "false",
            "--global.developmentMode", "false",
            # A click during a rerun is applied by the same script thread at its next step: with fast
            # reruns, Streamlit starts a new thread at once while the old one may still be in a
            # callback, and two callbacks then edit the one document together (a quick add was lost).
            "--runner.fastReruns", "false",
            "--client.toolbarMode", "minimal",
            "--theme.base", "light",
        ]
        return cmd, env

    def run(self, args: argparse.Namespace) -> int:
        try:
            import streamlit  # noqa: F401
        except ImportError:
            print("segflow editor: Streamlit is not installed; pip install 'segflow[ui]'", file=sys.stderr)
            return EXIT_INVALID
        try:
            cmd, env = self.command_line(args)
        except ValueError as exc:
            print(f"segflow editor: {exc}", file=sys.stderr)
            return EXIT_INVALID
        host = f"[{args.host}]" if ":" in args.host else args.host
        login = "; open it with ?token=<the token>, or give it on the page" if ENV_TOKEN in env else ""
        print(f"segflow editor: http://{host}:{args.port}  (workspace {env[ENV_WORKSPACE]}{login}; Ctrl-C to stop)",
              file=sys.stderr)
        return serve(cmd, env, env[ENV_WORKSPACE])


def serve(cmd: list[str], env: dict[str, str], cwd: str, grace_s: float = STOP_GRACE_S) -> int:
    """Run the server until it exits or we are told to stop; then it stops too. Returns the exit status.

    A stop signal is passed on as SIGTERM (Streamlit's own graceful stop); the exit status is
    then the shell's for that signal (130 for Ctrl-C, 143 for SIGTERM), whatever the server said.
    """
    child = subprocess.Popen(cmd, env=env, cwd=cwd, preexec_fn=_end_with_parent)
    received: list[int] = []

    def stop(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    try:
        code = _wait(child, received, grace_s)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # we are leaving on an exception: never leave the server behind
            child.kill()
            child.wait()
    return 128 + received[0] if received else code


def _wait(child: subprocess.Popen[bytes], received: list[int], grace_s: float) -> int:
    """The child's exit status; once a stop signal came, at most ``grace_s`` more before SIGKILL."""
    deadline: float | None = None
    while True:
        try:
            return child.wait(timeout=0.5 if deadline is None else max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            if received and deadline is None:
                deadline = time.monotonic() + grace_s
            elif deadline is not None:
                child.kill()
                return child.wait()


def _end_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


EDITOR = EditorCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow editor", description=EDITOR.help)
    EDITOR.add_arguments(parser)
    return EDITOR.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
