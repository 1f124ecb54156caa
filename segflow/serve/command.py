"""``segflow serve [--host] [--port] [--token|--token-file] [WORKFLOW...]``: the HTTP API on uvicorn.

It binds to 127.0.0.1 unless told otherwise, and refuses any other address
without a token: a server that runs models and starts pipelines must not be
open to a factory network by accident. The token comes from ``--token-file``
(or ``SEGFLOW_TOKEN``) rather than the command line where it can; either way
it is remembered as a secret, so no log line shows it.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from segflow.engine.hosts import TOKEN_ENV, is_loopback, read_token
from segflow.engine.masking import SECRETS, MaskingFilter
from segflow.engine.observe.exit_codes import EXIT_INVALID, EXIT_OK
from segflow.serve import config as limits

log = logging.getLogger("segflow")


def quiet_model_threads() -> None:
    """Let the models' OpenMP threads sleep, not spin, while they wait for work (unless the user chose).

    PyTorch's CPU kernels run on OpenMP threads that, by default, spin for a
    while after each parallel region. A server shares its cores with decoding
    requests, answering them and its clients: a spinning thread holds a core
    another thread needs, and a thread descheduled in the middle of a
    convolution makes all the others spin until it returns. Measured on 2 busy
    cores (load 13), a batch of 8 conveyor frames through the coffee detector
    took 265 ms of CPU (947 ms wall) per image spinning, 22 ms (64 ms) sleeping.
    It must be set before torch is imported (OpenMP reads it once, as it loads).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class ServeCommand:
    help = "serve workflows over HTTP: run them on posted images, start and change pipelines"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("workflows", nargs="*", metavar="WORKFLOW", help="workflow files to serve by name")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
        parser.add_argument("--port", type=int, default=8765)
        token = parser.add_mutually_exclusive_group()
        token.add_argument("--token", help=f"bearer token clients must send (or set {TOKEN_ENV})")
        token.add_argument("--token-file", help="read the bearer token from this file")
        parser.add_argument("--max-body-mb", type=float, default=limits.MAX_BODY_BYTES / 2**20)
        parser.add_argument("--max-pixels", type=int, default=limits.MAX_PIXELS, help="per image")
        parser.add_argument("--max-images", type=int, default=limits.MAX_IMAGES, help="per request")
        parser.add_argument("--max-concurrent", type=int, default=limits.MAX_CONCURRENT,
                            help="requests running at once; more get 429")
        parser.add_argument("--request-timeout", type=float, default=limits.REQUEST_TIMEOUT_S)
        parser.add_argument("--watch", type=float, default=limits.WATCH_S, metavar="SECONDS",
                            help="check the workflow files this often and reload a changed one (0: never)")

    def run(self, args: argparse.Namespace) -> int:
        quiet_model_threads()
        import uvicorn

        from segflow.engine.api import load
        from segflow.serve.app import create_app

        try:
            token = read_token(args.token, args.token_file)
        except (OSError, ValueError) as exc:
            log.error("cannot read the token: %s", exc)
            return EXIT_INVALID
        if token is None and not is_loopback(args.host):
            log.error("refusing to serve on %s without a token: anyone on that network could run models and "
                      "start pipelines", args.host)
            log.error("hint: --token-file FILE (or %s), or leave --host at 127.0.0.1", TOKEN_ENV)
            return EXIT_INVALID
        if token:
            SECRETS.remember(token)
        workflows = [load(path) for path in args.workflows]  # a WorkflowError prints every issue, exit 2
        names = [wf.name for wf in workflows]
        if len(set(names)) != len(names):
            log.error("two workflows share a name: %s", ", ".join(sorted(n for n in names if names.count(n) > 1)))
            return EXIT_INVALID
        config = limits.ServeConfig(workflows, token, Path.cwd(), int(args.max_body_mb * 2**20), args.max_pixels,
                                    args.max_images, args.max_concurrent, args.request_timeout, args.watch)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            for handler in logging.getLogger(name).handlers or logging.getLogger().handlers:
                handler.addFilter(MaskingFilter())
        log.info("serving %s on http://%s:%d (docs at /docs)%s", ", ".join(names) or "no workflow", args.host,
                 args.port, "" if token else " without a token (loopback only)")
        uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning",
                    timeout_graceful_shutdown=30)
        return EXIT_OK


SERVE = ServeCommand()
