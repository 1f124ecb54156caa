"""``segflow import roboflow DEFINITION.json``: a Roboflow Workflows definition as a segflow workflow.

Exit status, as the rest of the CLI: 0 when every step and field was mapped,
4 (``EXIT_PARTIAL``) when the workflow was written but parts were left out (each listed,
located, with the reason), 2 when nothing was written (not a definition, a
model id with no ``--model`` file, nothing that maps) or what was written does
not validate. Messages are ``file:line:col: step 'name': ...``, never a traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_INVALID, EXIT_OK, EXIT_PARTIAL
from segflow.engine.workflow.issues import errors_in
from segflow.engine.workflow.validate import validate_text
from segflow.tools.roboflow_import.convert import convert, override
from segflow.tools.roboflow_import.definition import DefinitionError, load
from segflow.tools.roboflow_import.writer import render


def _model(text: str) -> tuple[str, str]:
    model_id, sep, path = text.partition("=")
    if not sep or not model_id or not path:
        raise argparse.ArgumentTypeError(f"expected ID=PATH (e.g. yolov8n-640=models/best.pt), got {text!r}")
    return model_id, path


class ImportCommand:
    help = "convert a workflow from another tool (Roboflow Workflows JSON) into segflow YAML"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        formats = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
        p = formats.add_parser("roboflow", help="a Roboflow Workflows definition (JSON)",
                               description="Convert a Roboflow Workflows definition into a segflow workflow.")
        p.add_argument("definition", type=Path, help="the definition's JSON file")
        p.add_argument("--model", dest="models", action="append", default=[], type=_model, metavar="ID=PATH",
                       help="the local file of a Roboflow model id (repeatable), e.g. "
                            "--model yolov8n-640=assets/models/coffee-stones-seg.pt; SAM 2: sam2/hiera_tiny=PATH")
        p.add_argument("-o", "--output", type=Path, default=None, help="the YAML to write (default: stdout)")
        p.add_argument("--source", default=None, metavar="PATH",
                       help="feed the image input from a video, image folder or camera instead of one image per "
                            "run (a tracker, line or window needs frames that follow each other)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.PARAM=VALUE",
                       help="change a converted node's param before writing (YAML value; null removes it), e.g. "
                            "--set model.classes=null when your model lacks Roboflow's classes (repeatable)")
        p.add_argument("--name", default=None, help="the workflow's name (default: the definition file's stem)")
        p.add_argument("--out-dir", default=None, help="where the output sinks write (default: out/NAME)")

    def run(self, args: argparse.Namespace) -> int:
        try:
            definition = load(args.definition)
        except DefinitionError as exc:
            _print(p.format() for p in exc.problems)
            return EXIT_INVALID
        name = args.name or re.sub(r"[^A-Za-z0-9_.-]+", "-", args.definition.stem).strip("-") or "imported"
        conv = convert(definition, dict(args.models), name, args.out_dir or f"out/{name}", args.source)
        _print(p.format() for p in [*conv.notes, *conv.left_out])
        conv.errors += [definition.at(None, None, problem) for o in args.overrides
                        if (problem := override(conv, o)) is not None]
        if conv.errors:
            _print(p.format() for p in conv.errors)
            print(f"{args.definition}: nothing written ({len(conv.errors)} error(s))", file=sys.stderr)
            return EXIT_INVALID
        if not any(not node.type.startswith("source.") for node in conv.nodes.values()):
            print(f"{args.definition}: nothing written: no step of it maps to a segflow node", file=sys.stderr)
            return EXIT_INVALID
        text = render(conv, args.definition.name, args.overrides)
        where = str(args.output) if args.output else "<stdout>"
        if args.output is not None:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        issues = validate_text(text, where).issues
        _print(i.format() for i in issues)
        steps = len(definition.steps)
        mapped = len([s for s in conv.mapped if definition.step(s) is not None])
        print(f"{where}: {len(conv.nodes)} nodes from {mapped} of {steps} steps; "
              f"{len(conv.left_out)} part(s) left out" + (" (listed above)" if conv.left_out else ""),
              file=sys.stderr)
        if errors_in(issues):
            print(f"{where}: the converted workflow does not validate (see above)", file=sys.stderr)
            return EXIT_INVALID
        return EXIT_PARTIAL if conv.left_out else EXIT_OK


def _print(lines: object) -> None:
    for line in lines:  # type: ignore[attr-defined]
        print(line, file=sys.stderr)


IMPORT = ImportCommand()
