"""`segflow models`: list the known checkpoints and fetch them into the local model folder.

``list`` shows each known checkpoint (config, size, sha256) and what the model
folder already holds; ``fetch NAME`` downloads one with a progress bar on
stderr, resumes an interrupted transfer and checks the sha256 before the file
takes its final name (``segflow.tools.download``). Where no published digest
is known, the file is kept but reported as not verified, with the digest it
has, so it can be compared with the publisher's (or given with ``--sha256``).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

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

    def run(self, args: argparse.Namespace) -> int:
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
        return 0
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
    return 0


def fetch_model(folder: Path, args: argparse.Namespace) -> int:
    checkpoints = catalogue()
    checkpoint = checkpoints.get(args.name)
    if checkpoint is None:
        close = difflib.get_close_matches(args.name, list(checkpoints), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        print(f"segflow models: unknown checkpoint '{args.name}'{hint}; known: {', '.join(checkpoints)}",
              file=sys.stderr)
        return 2
    if args.sha256 is not None and not SHA256.match(args.sha256):
        print(f"segflow models: --sha256 wants 64 hex digits, got {args.sha256!r}", file=sys.stderr)
        return 2
    if args.retries < 0:
        print("segflow models: --retries must be 0 or more", file=sys.stderr)
        return 2
    expected = args.sha256 or checkpoint.sha256
    dest = folder / checkpoint.file
    if dest.is_file() and not args.force:
        print(f"{checkpoint.name}: already in {dest} (--force fetches it again)")
        return 0
    url = checkpoint.download_url()
    print(f"{checkpoint.name}: {url} -> {dest}", file=sys.stderr)
    try:
        result = fetch(url, dest, expected, retries=args.retries, progress=Progress(checkpoint.file))
    except ChecksumMismatch as exc:
        print(f"segflow models: {exc}", file=sys.stderr)
        return 1
    except DownloadError as exc:
        kept = part_path(dest)
        again = f"; {kept} is kept: run the same command again to resume" if kept.is_file() else ""
        print(f"segflow models: {exc}{again}", file=sys.stderr)
        return 1
    print(f"{checkpoint.name}: {result.size / 1e6:.1f} MB in {dest}")
    print(verdict(checkpoint, result.sha256, result.verified))
    return 0


def verdict(checkpoint: Checkpoint, digest: str, verified: bool) -> str:
    if verified:
        return f"sha256 {digest}: verified"
    return (f"sha256 {digest}: NOT verified: segflow knows no published digest for {checkpoint.name}; "
            "compare it with the publisher's, or fetch with --sha256 to check it")


MODELS = ModelsCommand()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="segflow models", description=MODELS.help)
    MODELS.add_arguments(parser)
    return MODELS.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
