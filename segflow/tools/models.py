"""`segflow models`: list the known checkpoints, fetch them into the local model folder, pin a workflow's.

``list`` shows each known checkpoint (config, size, sha256) and what the model
folder already holds; ``fetch NAME`` downloads one with a progress bar on
stderr, resumes an interrupted transfer and checks the sha256 before the file
takes its final name (``segflow.tools.download``). Where no published digest
is known, the file is kept but reported as not verified, with the digest it
has, so it can be compared with the publisher's (or given with ``--sha256``).
``pin WORKFLOW`` writes the ``sha256`` of every model file a workflow loads
into it (comments and layout kept), so a swapped or tampered pickle is refused
from then on; a pin that no longer matches its file is reported, never
overwritten.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

from segflow.engine.observe.exit_codes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from segflow.tools.download import ChecksumMismatch, DownloadError, Progress, fetch, part_path
from segflow.vision.model_store import ENV_DIR, ENV_URL, Checkpoint, catalogue, models_dir

SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class ModelsCommand:
    help = "list known model checkpoints and fetch them into the model folder"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        folder = argparse.ArgumentParser(add_help=False)
        folder.add_argument(
            "--dir", default=None, help=f"the model folder (default ${ENV_DIR}, else ~/.cache/segflow/models)"
        )
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        p = sub.add_parser("list", parents=[folder], help="known checkpoints and what the model folder holds")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("fetch", parents=[folder], help=f"download a known checkpoint (base URL: ${ENV_URL})")
        p.add_argument("name", help="e.g. sam2.1-tiny (see `segflow models list`)")
        p.add_argument("--sha256", default=None, help="the digest to check against (when segflow knows none)")
        p.add_argument("--retries", type=int, default=3, help="resume an interrupted transfer this often (3)")
        p.add_argument("--force", action="store_true", help="fetch again even when the file is there")
        p = sub.add_parser("pin", help="write the sha256 of every model file a workflow loads into it")
        p.add_argument("workflow", type=Path, help="the workflow file to pin (rewritten in place)")

    def run(self, args: argparse.Namespace) -> int:
        if args.action == "pin":
            return pin_models(args.workflow)
        folder = models_dir(args.dir)
        if args.action == "list":
            return list_models(folder, args.json)
        return fetch_model(folder, args)


def list_models(folder: Path, as_json: bool) -> int:
    rows = []
    for c in catalogue().values():
        path = folder / c.file
        part = part_path(path)
        rows.append({
            "name": c.name, "file": c.file, "config": c.config, "approx_mib": c.approx_mib, "sha256": c.sha256,
            "present": path.is_file(), "size": path.stat().st_size if path.is_file() else None,
            "partial": part.stat().st_size if part.is_file() else None,
        })
    files = {c.file for c in catalogue().values()}
    others = sorted(p.name for p in folder.glob("*") if p.is_file() and p.name not in files
                    and not p.name.endswith(".part")) if folder.is_dir() else []
    if as_json:
        print(json.dumps({"folder": str(folder), "checkpoints": rows, "other_files": others}, indent=2))
        return EXIT_OK
    print(f"model folder: {folder}")
    print(f"{'name':<18}{'config':<38}{'size':>10}  {'sha256':<18}here")
    for r in rows:
        digest = r["sha256"][:16] if r["sha256"] else "not known"
        if r["present"]:
            here = f"yes ({r['size'] / 1e6:.1f} MB)"
        elif r["partial"]:
            here = f"partial ({r['partial'] / 1e6:.1f} MB; fetch resumes it)"
        else:
            here = "no"
        print(f"{r['name']:<18}{r['config']:<38}{'~' + str(r['approx_mib']) + ' MiB':>10}  {digest:<18}{here}")
    if others:
        print(f"other files there: {', '.join(others)}")
    print("fetch one with: segflow models fetch NAME; name it in a workflow as `checkpoint: NAME`")
    return EXIT_OK


def fetch_model(folder: Path, args: argparse.Namespace) -> int:
    checkpoints = catalogue()
    checkpoint = checkpoints.get(args.name)
    if checkpoint is None:
        close = difflib.get_close_matches(args.name, list(checkpoints), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"segflow models: unknown checkpoint '{args.name}'{hint}; known: {', '.join(checkpoints)}",
              file=sys.stderr)
        return EXIT_INVALID
    if args.sha256 is not None and not SHA256.match(args.sha256):
        print(f"segflow models: --sha256 wants 64 hex digits, got {args.sha256!r}", file=sys.stderr)
        return EXIT_INVALID
    if args.retries < 0:
        print("segflow models: --retries must be 0 or more", file=sys.stderr)
        return EXIT_INVALID
    expected = args.sha256 or checkpoint.sha256
    dest = folder / checkpoint.file
    if dest.is_file() and not args.force:
        print(f"{checkpoint.name}: already in {dest} (--force fetches it again)")
        return EXIT_OK
    url = checkpoint.download_url()
    print(f"{checkpoint.name}: {url} -> {dest}", file=sys.stderr)
    try:
        result = fetch(url, dest, expected, retries=args.retries, progress=Progress(checkpoint.file))
    except ChecksumMismatch as exc:
        print(f"segflow models: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except DownloadError as exc:
        kept = part_path(dest)
        again = f"; {kept} is kept: run the same command again to resume" if kept.is_file() else ""
        print(f"segflow models: {exc}{again}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{checkpoint.name}: {result.size / 1e6:.1f} MB in {dest}")
    print(verdict(checkpoint, result.sha256, result.verified))
    return EXIT_OK


def verdict(checkpoint: Checkpoint, digest: str, verified: bool) -> str:
    if verified:
        return f"sha256 {digest}: verified"
    return (f"sha256 {digest}: NOT verified: segflow knows no published digest for {checkpoint.name}; "
            "compare it with the publisher's, or fetch with --sha256 to check it")


def pin_models(workflow: Path) -> int:
    """Pin each model file of ``workflow`` by its sha256: 0 when done, 2 when the workflow is invalid.

    A pin that no longer matches its file is a validation error, so it is reported and never rewritten.
    """
    from segflow.engine.node import RunContext
    from segflow.engine.paths import write_atomic
    from segflow.engine.workflow.validate import validate_file
    from segflow.ui.yaml_roundtrip import dumps, loads
    from segflow.vision.model_files import file_sha256

    result = validate_file(workflow)
    if result.graph is None:
        for issue in result.issues:
            print(issue.format(), file=sys.stderr)
        return EXIT_INVALID
    graph = result.graph
    context = RunContext().for_settings(graph.name, graph.settings.models_dir)
    text = workflow.read_text(encoding="utf-8")
    data, style = loads(text)
    pinned = 0
    for node_id, node in graph.nodes.items():
        weights_file = getattr(node.cls, "weights_file", None)
        if weights_file is None or "sha256" not in type(node.params).model_fields:
            continue
        path = weights_file(node.params, context)
        if not path.exists():
            print(f"{workflow}: node '{node_id}': {path} is not here, so it cannot be pinned (fetch it first)")
            continue
        if node.params.sha256 is not None:  # validation checked it matches
            print(f"{workflow}: node '{node_id}': {path} already pinned")
            continue
        digest = file_sha256(path)
        params = data["nodes"][node_id]["params"]  # validated: a mapping, with the model in it
        if len(str(params)) > 60:
            params.fa.set_block_style()  # a 64-digit pin in a one-line {...} makes a line too long to read
        params["sha256"] = digest
        pinned += 1
        print(f"{workflow}: node '{node_id}': pinned {path} (sha256 {digest})")
    if pinned:
        write_atomic(workflow, dumps(data, style).encode("utf-8"))
    return EXIT_OK


MODELS = ModelsCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow models", description=MODELS.help)
    MODELS.add_arguments(parser)
    return MODELS.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
