"""The ``segflow`` command line: validate, run, nodes, schema, graph (+ plugin commands).

User mistakes end with a message and exit code 2 (invalid workflow) or 1
(the run stopped on an error), never a traceback; ``--debug`` shows them.
Extra sub-commands (train, export, editor) arrive through the
``segflow.commands`` entry points so that this module imports none of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

from segflow.engine.execution.executor import ExecutorUnavailable
from segflow.engine.execution.lifecycle import SetupError
from segflow.engine.masking import MaskingFilter, mask, mask_all
from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.engine.registry import default_registry
from segflow.engine.workflow.issues import WorkflowError

log = logging.getLogger("segflow")


class Command(Protocol):
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _plugin_commands() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for ep in entry_points(group="segflow.commands"):
        found[ep.name] = ep
    return found


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _address(text: str) -> tuple[str, int]:
    from segflow.engine.observe.monitor import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _input(text: str) -> tuple[str, Any]:
    from segflow.engine.workflow.inputs import TextValue

    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, TextValue(value)


def _input_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--input", dest="inputs", action="append", default=[], type=_input, metavar="NAME=VALUE",
                        help="a value for one of the workflow's inputs, parsed by its declared kind; "
                             "@FILE reads a polygon or line (YAML/JSON) or an image (repeatable)")


def _plugin_help(ep: Any) -> str:
    try:
        return str(ep.load().help)
    except Exception:  # an extra that is not installed: say where the command comes from
        return f"(from {ep.value}; not available here)"


def build_parser(plugins: dict[str, Any], describe_plugins: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="segflow", description="Instance-segmentation workflows from YAML.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check workflow files; exit 2 when any is invalid")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE")
    p.add_argument("--json", action="store_true", help="issues as JSON on stdout")
    _input_argument(p)

    p = sub.add_parser("run", help="run a workflow headless")
    p.add_argument("file", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                   help="override a param, e.g. --set detect.confidence=0.5 (repeatable)")
    _input_argument(p)
    p.add_argument("--max-frames", type=_positive, default=None, help="stop each source after N frames")
    p.add_argument("--metrics", type=Path, default=None, help="write the run report as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress, only the final summary")
    p.add_argument("--executor", choices=("local", "ray"), default=None,
                   help="what runs the plan (default: the workflow's settings.executor, else local)")
    p.add_argument("--address", default=None, help="ray: the cluster to join (host:port as `ray start --head` "
                   "printed, ray://host:port, or auto); none: a private Ray instance for this run")
    p.add_argument("--serve", type=_address, default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics on /metrics and a health check on /healthz, "
                        "e.g. --serve 127.0.0.1:9100")

    p = sub.add_parser("nodes", help="list node types with their ports and params")
    p.add_argument("--json", action="store_true")
    p.add_argument("filter", nargs="?", default="",
                   help="only types whose name contains this; a full name shows that type in full")

    sub.add_parser("schema", help="print the JSON Schema of workflow files")

    p = sub.add_parser("graph", help="draw a workflow's graph (.png, .svg, .dot, .mmd) or print its plan")
    p.add_argument("file", type=Path)
    p.add_argument("-o", "--output", type=Path, default=None)
    p.add_argument("--plan", action="store_true", help="print the execution plan: stages and what each receives")

    for name, ep in sorted(plugins.items()):
        # Loading a plugin just for its help line is start-up work only `--help` needs.
        p = sub.add_parser(name, help=_plugin_help(ep) if describe_plugins else None, add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    # OpenCV and its FFmpeg print native warnings on every failed camera attempt or odd frame;
    # the nodes report those themselves, once, with the node named.
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    argv = sys.argv[1:] if argv is None else argv
    plugins = _plugin_commands()
    parser = build_parser(plugins, describe_plugins=not argv or argv[0] in ("-h", "--help"))
    debug = bool(argv) and argv[0] == "--debug"
    rest = argv[1:] if debug else argv
    if rest and rest[0] in plugins:  # plugin commands parse their own arguments, --help included
        _configure_logging(debug)
        return _guarded(lambda: _run_plugin(rest[0], plugins[rest[0]], rest[1:], debug), debug)
    args = parser.parse_args(argv)
    _configure_logging(args.debug)
    if args.command is None:
        parser.print_help()
        return EXIT_INVALID
    handler = {"validate": cmd_validate, "run": cmd_run, "nodes": cmd_nodes, "schema": cmd_schema,
               "graph": cmd_graph}[args.command]
    return _guarded(lambda: handler(args), args.debug)


def _guarded(action: Callable[[], int], debug: bool) -> int:
    """Run a command; user mistakes become messages and exit codes, never tracebacks."""
    try:
        return action()
    except WorkflowError as exc:
        _print_issues(exc.issues)
        return EXIT_INVALID
    except SetupError as exc:
        log.error("%s", exc)
        if debug:
            log.error("%s", exc.trace)
        return EXIT_FAILED
    except ExecutorUnavailable as exc:
        log.error("%s%s", exc, f" (hint: {exc.hint})" if exc.hint else "")
        return EXIT_INVALID
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:  # `segflow nodes | head` is not an error
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        if debug:
            raise
        log.error("internal error: %s: %s (please report it; --debug shows the traceback)", type(exc).__name__, exc)
        return EXIT_FAILED


def _configure_logging(debug: bool) -> None:
    # Our loggers speak at INFO; third-party libraries (sam2, ultralytics) only when something is wrong.
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="segflow: %(message)s",
                        stream=sys.stderr)
    for handler in logging.getLogger().handlers:  # every line, ours or a library's, with secrets masked
        if not any(isinstance(f, MaskingFilter) for f in handler.filters):
            handler.addFilter(MaskingFilter())
    for name in ("segflow",):
        logging.getLogger(name).setLevel(logging.DEBUG if debug else logging.INFO)


def _run_plugin(name: str, ep: Any, rest: list[str], debug: bool) -> int:
    try:
        command: Command = ep.load()
    except Exception as exc:
        log.error("command '%s' is not available: %s: %s", name, type(exc).__name__, exc)
        log.error("hint: install the extra it needs, e.g. pip install 'segflow[yolo,ui]'")
        if debug:
            raise
        return EXIT_FAILED
    return _run_command(name, command, rest)


def _run_command(name: str, command: Command, rest: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=f"segflow {name}", description=command.help)
    command.add_arguments(parser)
    return int(command.run(parser.parse_args(rest)))


def run_command(name: str, command: Command, argv: list[str]) -> int:
    """Run a command object as ``segflow NAME ARGS`` runs it (``python -m`` entry points use this)."""
    debug = bool(argv) and argv[0] == "--debug"
    _configure_logging(debug)
    return _guarded(lambda: _run_command(name, command, argv[1:] if debug else argv), debug)


def _print_issues(issues: list[Any]) -> None:
    for issue in issues:
        print(issue.format(), file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from segflow.engine.workflow.validate import validate_file

    status = EXIT_OK
    reports = []
    for file in args.files:
        result = validate_file(file, overrides=args.overrides, inputs=dict(args.inputs) if args.inputs else None)
        if args.json:
            reports.append({"file": str(file), "ok": result.ok, "issues": [i.to_dict() for i in result.issues]})
        else:
            _print_issues(result.issues)
            if result.ok:
                print(f"{file}: ok", file=sys.stderr)
        if not result.ok:
            status = EXIT_INVALID
    if args.json:
        print(json.dumps(reports, indent=2))
    return status


def cmd_run(args: argparse.Namespace) -> int:
    from segflow.engine.api import load
    from segflow.engine.observe.hooks import HookList, RunHooks
    from segflow.engine.observe.progress import Progress

    workflow = load(args.file, overrides=args.overrides, inputs=dict(args.inputs))
    _print_issues(workflow.warnings)
    if args.metrics is not None:
        problem = metrics_problem(args.metrics)
        if problem:
            log.error("--metrics: %s", problem)
            return EXIT_INVALID
    hooks: list[RunHooks] = [] if args.quiet else [Progress()]
    server = None
    if args.serve is not None:
        from segflow.engine.observe.monitor import MetricsServer

        host, port = args.serve
        try:
            server = MetricsServer(host, port)
        except OSError as exc:
            log.error("--serve %s:%d: cannot listen there: %s", host, port, exc.strerror or exc)
            log.error("hint: another process may use the port; choose another one, or :0 for any free port")
            return EXIT_INVALID
        hooks.append(server)
    try:
        report = workflow.run(max_frames=args.max_frames, hooks=HookList(hooks), handle_signals=True,
                              debug=args.debug, executor=args.executor, address=args.address)
    finally:
        if server is not None:
            server.close()
    print(mask(report.table()), file=sys.stderr)
    if args.metrics:
        args.metrics.parent.mkdir(parents=True, exist_ok=True)
        args.metrics.write_text(json.dumps(mask_all(report.to_dict()), indent=2), encoding="utf-8")
    return report.exit_code


def metrics_problem(path: Path) -> str | None:
    """Why the run report could not be written to ``path``: said before the run, not after an hour."""
    from segflow.engine.paths import kind_of, shown, stat_or_none

    info, problem = stat_or_none(path)
    if problem:
        return problem
    if info is not None and stat.S_ISDIR(info.st_mode):
        return f"{shown(path)} is a folder: give a file name, e.g. {shown(path / 'metrics.json')}"
    if info is not None and not stat.S_ISREG(info.st_mode):
        return f"{shown(path)} is {kind_of(info.st_mode)}, not a file"
    return None


def cmd_nodes(args: argparse.Namespace) -> int:
    registry = default_registry()
    types = [(name, cls) for name, cls in registry if args.filter in name]
    if not types:
        print(f"no node type matches '{args.filter}': `segflow nodes` lists them all", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps([describe_type(name, cls) for name, cls in types], indent=2))
        return EXIT_OK
    exact = [(name, cls) for name, cls in types if name == args.filter]
    if exact:
        print_type(*exact[0])
        return EXIT_OK
    family = None
    for name, cls in types:
        if cls.family() != family:
            family = cls.family()
            print(f"\n{family}")
        info = describe_type(name, cls)
        print(f"  {name:<26} {info['description']}")
        ins = ", ".join(f"{p}:{s['kind']}" + ("" if s["required"] else "?") for p, s in info["inputs"].items())
        outs = ", ".join(f"{p}:{s['kind']}" for p, s in info["outputs"].items())
        print(f"  {'':<26} in({ins or '-'}) -> out({outs or '-'})")
        params = ", ".join(f"{p} (required)" if p in info["required_params"] else
                           f"{p}={v['default']!r}" if "default" in v else p
                           for p, v in info["params"].items())
        if params:
            print(f"  {'':<26} params: {params}")
    for failure in registry.failures:
        print(f"\nplugin failed to load: {failure.origin}: {failure.error}", file=sys.stderr)
    return EXIT_OK


def print_type(name: str, cls: Any) -> None:
    """One node type in full: ports with their help, every param down to nested models' fields."""
    from segflow.engine.workflow.params_doc import param_lines

    info = describe_type(name, cls)
    print(f"{name}: {info['description']}")
    for title, ports in (("inputs", info["inputs"]), ("outputs", info["outputs"])):
        print(f"  {title}:")
        for port, spec in ports.items():
            optional = "" if spec.get("required", True) else ", optional"
            print(f"    {port} ({spec['kind']}{optional}) - {spec['description']}")
    lines = param_lines(cls.Params.model_json_schema())
    print("  params:" if lines else "  params: none")
    for line in lines:
        print(line)


def describe_type(name: str, cls: Any) -> dict[str, Any]:
    schema = cls.Params.model_json_schema()
    return {
        "type": name,
        "family": cls.family(),
        "description": cls.summary(),
        "batchable": cls.batchable,
        "source": cls.is_source,
        "sink": cls.is_sink,
        "inputs": {p: {"kind": s.kind.value, "required": s.required, "description": s.description}
                   for p, s in cls.inputs.items()},
        "outputs": {p: {"kind": s.kind.value, "description": s.description} for p, s in cls.outputs.items()},
        "params": schema.get("properties", {}),
        "required_params": schema.get("required", []),
    }


def cmd_schema(args: argparse.Namespace) -> int:
    from segflow.engine.workflow.schema import dumps

    print(dumps(default_registry()))
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    from segflow.engine.api import load
    from segflow.engine.workflow.diagram import write
    from segflow.engine.workflow.inputs import describe_inputs

    workflow = load(args.file)
    if args.plan:
        print("\n".join([*describe_inputs(workflow.inputs), workflow.plan().describe()]))
    if args.output is None:
        if not args.plan:
            log.error("give -o FILE (.png, .svg, .dot, .mmd) to draw the graph, or --plan to print the plan")
            return EXIT_INVALID
        return EXIT_OK
    try:
        write(workflow.graph, args.output)
    except (ValueError, OSError) as exc:
        log.error("%s", exc)
        return EXIT_INVALID
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
