"""Fuzzing: mutants of every shipped workflow never crash, hang, leak or get an exit code other than 0-3.

A few hundred mutants run in `make test`, validated in-process through the
real command line (``segflow.engine.cli.main``); a nightly-sized run sets
``SEGFLOW_FUZZ_MUTANTS=5000`` (and ``SEGFLOW_FUZZ_SEED`` for other mutants,
``SEGFLOW_FUZZ_RUNS`` for how many valid ones to run). The seed is printed
(``pytest -s`` shows it), so any failure is reproduced by seed and index.

Besides the shipped workflows, one made here reads a folder of images whose
headers lie about their size (decompression bombs), and model params may
name hostile pickles. Every message must be cut and escaped (no line of
thousands of characters, no raw newline, bidi or control character from a
value). Valid mutants that load no model run for 3 frames as subprocesses,
each in a folder four levels deep: a file written outside it (a workflow
``name: ../../../ESCAPED``) is a leak, and so is the fuzz token in any output.
Validation is bounded in CPU time, not wall time, so a busy machine cannot
fail it; a run is bounded by a generous wall-clock timeout that only a real
hang reaches.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import random
import re
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
from mutants import BOMBS, Mutant, mutants

from segflow.engine import cli
from segflow.engine.text import MESSAGE_LIMIT
from segflow.engine.workflow.validate import validate_file

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))
COUNT = int(os.environ.get("SEGFLOW_FUZZ_MUTANTS", "300"))
SEED = int(os.environ.get("SEGFLOW_FUZZ_SEED", "20261202"))
RUNS = int(os.environ.get("SEGFLOW_FUZZ_RUNS", "6"))
HANG_CPU_S = 5.0  # validating one mutant may use this much CPU at most
RUN_TIMEOUT_S = 300  # a run of 3 frames that takes this long is hung
# Loading models (torch, SAM 2) or waiting for endpoints costs seconds a run: the nightly run covers them.
HEAVY = ("detect.yolo", "segment.sam2", "sink.webhook", "sink.mqtt")
TOKEN = "fuzz-token-s3cret"
HIDDEN_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\u200b-\u200f\ufeff]")
# Mutants of these families run first: they are what issue 23 found.
HOSTILE = ("lying_images", "dotdot_name", "format_spec", "hostile_string")
IMAGES_WORKFLOW = """version: 1
name: fuzz-images
nodes:
  shots:
    type: source.image
    params: {path: bombs}
  objects: {type: detect.threshold, params: {channel: gray, method: otsu, min_area: 20, class_name: coin},
            inputs: {image: shots.image}}
  measure: {type: measure.masks, params: {scale: {mode: fixed, mm_per_px: 0.25}, skeleton: false},
            inputs: {detections: objects.detections}}
  draw: {type: annotate.detections, params: {label: "{class_name} {length_mm:.1f} mm"},
         inputs: {image: shots.image, detections: measure.detections}}
  pictures: {type: sink.images, params: {folder: out/pictures, name: "{workflow}/{source}_{frame:04d}"},
             inputs: {image: draw.image}}
  log: {type: sink.jsonl, params: {path: out/log.jsonl}, inputs: {detections: measure.detections}}
"""


def validate(path: Path) -> tuple[int, str, float]:
    """``segflow validate`` in this process: its exit code, what it printed, and the CPU seconds it took."""
    out, err = io.StringIO(), io.StringIO()
    started = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["validate", str(path)])
    return code, out.getvalue() + err.getvalue(), time.process_time() - started


def describe(m: Mutant) -> str:
    return f"mutant {m.index} (seed {SEED}) of {m.source}: {' + '.join(m.operations)}"


def lying(encoded: bytes, kind: str, width: int, height: int) -> bytes:
    """An honest small image whose header now claims ``width`` x ``height``."""
    raw = bytearray(encoded)
    if kind == "png":
        raw[16:24] = struct.pack(">II", width, height)
        raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    elif kind == "jpg":
        at = next(i for i in range(2, len(raw) - 9) if raw[i] == 0xFF and raw[i + 1] in (0xC0, 0xC1, 0xC2))
        raw[at + 5:at + 9] = struct.pack(">HH", min(height, 65535), min(width, 65535))
    elif kind == "bmp":
        raw[18:26] = struct.pack("<ii", width, -height)
    return bytes(raw)


def make_bombs(folder: Path, rng: random.Random) -> None:
    """Two honest images and a dozen whose headers lie, are truncated or hold no image at all."""
    folder.mkdir()
    coins = cv2.cvtColor(cv2.resize(cv2.imread(str(ROOT / "assets/samples/coins.png")), (96, 64)), cv2.COLOR_BGR2GRAY)
    image = cv2.cvtColor(coins, cv2.COLOR_GRAY2BGR)
    cv2.imwrite(str(folder / "a-honest.png"), image)
    cv2.imwrite(str(folder / "z-honest.jpg"), image)
    for kind in ("png", "jpg", "bmp"):
        encoded = cv2.imencode(f".{kind}", image)[1].tobytes()
        for w, h in ((50_000, 50_000), (32_000, 32_000), (65_535, 1), (rng.randrange(1, 1 << 31), 3), (0, 0)):
            (folder / f"lie-{kind}-{w}x{h}.{kind}").write_bytes(lying(encoded, kind, w, h))
        (folder / f"truncated.{kind}").write_bytes(encoded[: len(encoded) // 3])
    (folder / "empty.png").write_bytes(b"")
    (folder / "random.png").write_bytes(rng.randbytes(4096))
    (folder / "pgm-lie.pgm").write_bytes(b"P5 99999 99999 255\n" + bytes(64))
    (folder / "sub").mkdir()
    honest_png = cv2.imencode(".png", image)[1].tobytes()
    (folder / "sub" / "nested-lie.png").write_bytes(lying(honest_png, "png", 40_000, 40_000))


class Payload:
    """A pickle that runs code when loaded: the fuzzer never loads it, validation must warn about it."""

    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('a pickle ran code')",))


def make_pickles(folder: Path, rng: random.Random) -> None:
    folder.mkdir()
    (folder / "random.pt").write_bytes(rng.randbytes(4096))
    (folder / "empty.pt").write_bytes(b"")
    (folder / "code.pt").write_bytes(pickle.dumps(Payload(), protocol=2))
    (folder / "truncated.pt").write_bytes((ROOT / "assets/models/coffee-stones-seg.pt").read_bytes()[:4096])
    (folder / "folder").mkdir()
    (folder / "folder" / "notes.txt").write_text("no model here")
    (folder / "model_openvino").mkdir()
    (folder / "model_openvino" / "model.xml").write_text("<net/>")


def check_output(m: Mutant, text: str, printed: str, problems: list[str]) -> None:
    """Messages are cut and escaped, secrets masked, and an unpinned pickle is named."""
    longest = max((len(line) for line in printed.splitlines()), default=0)
    if longest > MESSAGE_LIMIT + 400:
        problems.append(f"{describe(m)}: a line of {longest:,} characters was printed")
    hidden = HIDDEN_RAW.search(printed)
    if hidden:
        problems.append(f"{describe(m)}: {hidden.group(0)!r} printed raw: {printed[:300]!r}")
    if TOKEN in printed:
        problems.append(f"{describe(m)}: the token leaked: {printed[:300]}")
    if "pickles/code.pt" in text and "sha256" not in text and "no `sha256` pin" not in printed and " ok" in printed:
        problems.append(f"{describe(m)}: a code pickle validated with no warning")


def test_mutants_of_every_shipped_workflow(tmp_path, monkeypatch, caplog):
    print(f"fuzz seed {SEED}: {COUNT} mutants, up to {RUNS} runs")
    rng = random.Random(SEED)
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    make_bombs(tmp_path / BOMBS, rng)
    make_pickles(tmp_path / "pickles", rng)
    monkeypatch.chdir(tmp_path)  # relative paths resolve as from the repository root; outputs land here
    monkeypatch.setenv("SEGFLOW_TOKEN", TOKEN)  # sinks_network.yaml reads it
    sources = {p.name: p.read_text(encoding="utf-8") for p in WORKFLOWS} | {"fuzz-images.yaml": IMAGES_WORKFLOW}
    problems: list[str] = []
    valid: list[tuple[Mutant, Path]] = []
    seen_codes: set[int] = set()
    started = time.perf_counter()
    for m in mutants(sources, COUNT, SEED):
        path = tmp_path / f"mutant-{m.index}.yaml"
        path.write_bytes(m.text if isinstance(m.text, bytes) else m.text.encode("utf-8", "surrogatepass"))
        caplog.clear()
        try:
            code, printed, cpu = validate(path)
        except BaseException as exc:  # noqa: BLE001 - anything escaping the CLI is the bug we look for
            problems.append(f"{describe(m)}: raised {type(exc).__name__}: {exc}"[:400])
            continue
        logged = caplog.text
        seen_codes.add(code)
        if code not in (0, 2):
            problems.append(f"{describe(m)}: exit {code}: {(printed + logged)[-300:]}")
        if "Traceback" in printed + logged or "internal error" in printed + logged:
            problems.append(f"{describe(m)}: a traceback or internal error: {(printed + logged)[-300:]}")
        if cpu > HANG_CPU_S:
            problems.append(f"{describe(m)}: validation took {cpu:.1f} s of CPU")
        check_output(m, m.text if isinstance(m.text, str) else "", printed + logged, problems)
        if code == 0:
            valid.append((m, path))
        else:
            path.unlink()
    print(f"validated {COUNT} mutants in {time.perf_counter() - started:.1f} s: exit codes {sorted(seen_codes)}, "
          f"{len(valid)} valid, {len(problems)} problems")
    assert not problems, "\n".join(problems[:20])
    assert seen_codes == {0, 2}, seen_codes  # some mutants stay valid, most do not
    run_some(valid, tmp_path, problems)
    assert not problems, "\n".join(problems[:20])


def run_some(valid: list[tuple[Mutant, Path]], tmp_path: Path, problems: list[str]) -> None:
    """Run up to RUNS valid mutants for 3 frames, hostile families first; in `make test` only model-free ones."""
    nightly = RUNS > 6
    chosen = [(m, p) for m, p in valid if nightly or not any(t in p.read_text() for t in HEAVY)]
    chosen = [(m, p) for m, p in chosen if "segment.sam2" not in p.read_text()]  # no SAM 2 weights here
    chosen.sort(key=lambda mp: (not set(mp[0].operations) & set(HOSTILE), mp[0].index))
    assert chosen or RUNS == 0, "no valid mutant to run"
    deep = tmp_path / "runs" / "a" / "b" / "c"
    for m, path in chosen[:RUNS]:
        folder = deep / f"run-{m.index}"
        folder.mkdir(parents=True)
        for shared in ("assets", BOMBS, "pickles"):
            (folder / shared).symlink_to(tmp_path / shared, target_is_directory=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "run", str(path), "--max-frames", "3",
                                  "--quiet"], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=folder,
                                 env=os.environ | {"SEGFLOW_TOKEN": TOKEN})
        except subprocess.TimeoutExpired:
            problems.append(f"{describe(m)}: the 3-frame run hung for {RUN_TIMEOUT_S} s")
            continue
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        if res.returncode not in (0, 1, 3):  # ran; failed (named, no traceback); or records set aside
            problems.append(f"{describe(m)}: run exit {res.returncode}: {res.stderr[-300:]}")
        if "Traceback" in res.stderr or "internal error" in res.stderr:
            problems.append(f"{describe(m)}: run printed a traceback: {res.stderr[-400:]}")
        check_output(m, "", res.stdout + res.stderr, problems)
        if f"path: {BOMBS}" in path.read_text() and "stopped by source" in res.stderr:  # two honest images there
            problems.append(f"{describe(m)}: a bad image stopped the source: {res.stderr[-300:]}")
        print(f"ran {describe(m)}: exit {res.returncode}, {cpu:.1f} s CPU")
    every = [Path(top) / name for top, dirs, files in os.walk(tmp_path) for name in dirs + files]  # links unfollowed
    outside = [p for p in every if not p.is_relative_to(deep)]  # sanitised names stay inside
    leaked = [p for p in outside if "ESCAPED" in p.name or p.name == "PWNED"]
    leaked += [p for p in outside if p.is_relative_to(tmp_path / "runs") and p.is_file()]
    if leaked:
        problems.append(f"files written outside their run's folder: {[str(p) for p in leaked[:5]]}")


def test_the_fuzzer_reaches_every_shipped_workflow_and_mutation():
    sources = {p.name: p.read_text(encoding="utf-8") for p in WORKFLOWS} | {"fuzz-images.yaml": IMAGES_WORKFLOW}
    made = list(mutants(sources, 300, SEED))
    assert {m.source for m in made} == set(sources)
    from mutants import MUTATIONS

    assert {op for m in made for op in m.operations} == set(MUTATIONS)
    assert made == list(mutants(sources, 300, SEED))  # the seed fixes them
    assert validate_file(WORKFLOWS[0]).ok  # the fuzzer starts from valid files
