"""`segflow service install WORKFLOW`: run a workflow as a systemd service on an edge box.

The unit runs ``segflow run WORKFLOW --quiet`` from the working directory
(where relative paths in the workflow start; default: where this command runs) with
the venv's own ``segflow`` (no activation needed), restarts it when it fails,
starts it at boot, and leaves logging to the journal (stdout and stderr;
``journalctl -u NAME``). SIGTERM, systemd's stop signal, makes the engine drain
and close its sinks. ``--print`` writes the unit to stdout and installs
nothing; otherwise it is written to /etc/systemd/system (or, with ``--user``,
~/.config/systemd/user) and the ``systemctl`` commands that enable it are
printed: this command never calls systemctl itself.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.vision.model_store import ENV_DIR, models_dir

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def render(
    workflow: Path,
    workdir: Path,
    name: str,
    venv: Path,
    user: bool,
    run_as: str | None,
    environment: dict[str, str],
    restart_sec: int = 5,
) -> str:
    """The unit file text. Paths must be absolute: systemd resolves nothing relative."""
    segflow = venv / "bin" / "segflow"
    command = escape(shlex.join([str(segflow), "run", str(workflow), "--quiet"])).replace("$", "$$")
    lines = [
        "[Unit]",
        f"Description=segflow workflow {workflow.name} ({name})",
        "Wants=network-online.target",
        "After=network-online.target",
        # Restart=on-failure forever: a camera that comes back after an hour is picked up again.
        "StartLimitIntervalSec=0",
        "",
        "[Service]",
        "Type=exec",
        f"WorkingDirectory={escape(str(workdir))}",
        f"ExecStart={command}",
        *(f"Environment={escape(shlex.quote(f'{k}={v}'))}" for k, v in environment.items()),
        "Environment=PYTHONUNBUFFERED=1",
        "Restart=on-failure",
        # exit 2 is an invalid workflow: a user's mistake that no restart fixes
        "RestartPreventExitStatus=2",
        f"RestartSec={restart_sec}",
        "KillSignal=SIGTERM",
        "TimeoutStopSec=60",
        "StandardOutput=journal",
        "StandardError=journal",
        f"SyslogIdentifier={name}",
    ]
    if run_as and not user:
        lines.append(f"User={run_as}")
    lines += ["", "[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}", ""]
    return "\n".join(lines)


def escape(text: str) -> str:
    """Systemd expands %-specifiers in unit values: a literal % is %%."""
    return text.replace("%", "%%")


def unit_dir(user: bool) -> Path:
    if user:
        config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(config) / "systemd" / "user"
    return Path("/etc/systemd/system")


class ServiceCommand:
    help = "run a workflow as a systemd service (restarts on failure, starts at boot, logs to the journal)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        p = sub.add_parser("install", help="write a systemd unit that runs `segflow run WORKFLOW`")
        p.add_argument("workflow", type=Path)
        p.add_argument("--name", default=None, help="unit name (default segflow-<workflow name>)")
        p.add_argument("--user", action="store_true", help="a user unit (~/.config/systemd/user), no root needed")
        p.add_argument("--print", dest="dry_run", action="store_true", help="write the unit to stdout only")
        p.add_argument("--workdir", type=Path, default=Path.cwd(),
                       help="where relative paths in the workflow start (default: here)")
        p.add_argument("--venv", type=Path, default=Path(sys.prefix), help="the venv to run from (this one)")
        p.add_argument("--run-as", default=None, help="system units: the account to run as (User=)")
        p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                       help="extra environment, e.g. --env SEGFLOW_TOKEN=... (repeatable)")
        p.add_argument("--unit-dir", type=Path, default=None, help="where to write the unit (default: systemd's)")

    def run(self, args: argparse.Namespace) -> int:
        workflow = args.workflow.expanduser().resolve()
        if not workflow.is_file():
            print(f"segflow service: workflow {args.workflow} not found", file=sys.stderr)
            return EXIT_INVALID
        workdir = args.workdir.expanduser().resolve()
        if not workdir.is_dir():
            print(f"segflow service: working directory {args.workdir} is not a folder", file=sys.stderr)
            return EXIT_INVALID
        name = args.name or f"segflow-{workflow.stem.replace('_', '-')}"
        if not NAME.match(name):
            print(f"segflow service: {name!r} is not a valid unit name (letters, digits, -_.@)", file=sys.stderr)
            return EXIT_INVALID
        segflow = args.venv.expanduser().resolve() / "bin" / "segflow"
        if not os.access(segflow, os.X_OK):
            print(f"segflow service: {segflow} is not there; give the venv segflow is installed in with --venv",
                  file=sys.stderr)
            return EXIT_INVALID
        environment = {ENV_DIR: str(models_dir().resolve())}  # the service finds the models fetched by hand
        for item in args.env:
            key, sep, value = item.partition("=")
            if not sep or not key:
                print(f"segflow service: --env wants KEY=VALUE, got {item!r}", file=sys.stderr)
                return EXIT_INVALID
            environment[key] = value
        text = render(workflow, workdir, name, args.venv.expanduser().resolve(), args.user, args.run_as, environment)
        if args.dry_run:
            sys.stdout.write(text)
            return EXIT_OK
        target = (args.unit_dir or unit_dir(args.user)) / f"{name}.service"
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        except PermissionError:
            print(f"segflow service: cannot write {target}: run it with sudo, or use --user", file=sys.stderr)
            return EXIT_FAILED
        ctl = "systemctl --user" if args.user else "sudo systemctl"
        print(f"wrote {target}\nnow enable and start it:\n  {ctl} daemon-reload\n  {ctl} enable --now {name}")
        print(f"logs: journalctl {'--user ' if args.user else ''}-u {name} -f")
        if args.user:
            print(f"start at boot without a login: sudo loginctl enable-linger {os.environ.get('USER', '$USER')}")
        return EXIT_OK


SERVICE = ServiceCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow service", description=SERVICE.help)
    SERVICE.add_arguments(parser)
    return SERVICE.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
