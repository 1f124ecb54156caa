"""``segflow client ...``: the HTTP API from a shell (run, workflows, start, list, get, update, stop, events).

The server's URL and token come from ``--url``/``--token`` or ``SEGFLOW_URL``/
``SEGFLOW_TOKEN``; answers are printed as JSON, a server error as its message
(exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_OK


def _print(value: Any) -> None:
    data = value.model_dump() if hasattr(value, "model_dump") else value
    if isinstance(data, list):
        data = [v.model_dump() if hasattr(v, "model_dump") else v for v in data]
    print(json.dumps(data, indent=2, default=str))


class ClientCommand:
    help = "talk to a running `segflow serve`: run images, start, change and stop pipelines"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--url", default=os.environ.get("SEGFLOW_URL", "http://127.0.0.1:8765"))
        parser.add_argument("--token", default=os.environ.get("SEGFLOW_TOKEN"))
        sub = parser.add_subparsers(dest="action", required=True)
        p = sub.add_parser("run", help="run a served workflow on images")
        p.add_argument("workflow")
        p.add_argument("images", nargs="+")
        p.add_argument("--inputs", default="{}", help="JSON object of input values")
        sub.add_parser("workflows", help="list the served workflows")
        sub.add_parser("reload", help="have the server load a served workflow's file again").add_argument("workflow")
        p = sub.add_parser("start", help="start a pipeline: a served workflow's name or a YAML file")
        p.add_argument("workflow")
        sub.add_parser("list", help="list pipelines")
        for name, helptext in (("get", "a pipeline's state"), ("stop", "drain and stop a pipeline"),
                               ("events", "print a pipeline's results as they come")):
            sub.add_parser(name, help=helptext).add_argument("id")
        p = sub.add_parser("update", help="change a running pipeline to a new YAML file")
        p.add_argument("id")
        p.add_argument("file")

    def run(self, args: argparse.Namespace) -> int:
        from segflow.client import Client, ServerError

        try:
            with Client(args.url, args.token) as client:
                self._act(client, args)
        except ServerError as exc:
            print(f"segflow client: {exc}", file=sys.stderr)
            return EXIT_FAILED
        except OSError as exc:  # connection refused, a file that is not there
            print(f"segflow client: {exc}", file=sys.stderr)
            return EXIT_FAILED
        return EXIT_OK

    @staticmethod
    def _act(client: Any, args: argparse.Namespace) -> None:
        action = args.action
        if action == "run":
            _print(client.run(args.workflow, [Path(i) for i in args.images], json.loads(args.inputs)))
        elif action == "workflows":
            _print(client.workflows())
        elif action == "reload":
            _print(client.reload(args.workflow))
        elif action == "start":
            path = Path(args.workflow)
            is_file = path.suffix in (".yaml", ".yml") and path.exists()
            _print(client.start(yaml=path.read_text(encoding="utf-8")) if is_file else client.start(args.workflow))
        elif action == "list":
            _print(client.pipelines())
        elif action == "get":
            _print(client.get(args.id))
        elif action == "stop":
            _print(client.stop(args.id))
        elif action == "update":
            _print(client.update(args.id, Path(args.file).read_text(encoding="utf-8")))
        elif action == "events":
            for event in client.events(args.id):
                print(json.dumps(event, default=str), flush=True)


CLIENT = ClientCommand()
