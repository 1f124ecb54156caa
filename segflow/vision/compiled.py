"""``runtime: auto`` and ``compiled``: a ``.pt`` exported on first use for the fastest runtime here, then cached.

The ultralytics ``.pt`` path runs the network in eager PyTorch; the same
network exported to a dynamic-shape ONNX graph runs on this project's edge
runtime (onnxruntime, or OpenVINO when installed) noticeably faster on a CPU
(README, "Compiled models"), and a TensorRT engine is the fast path on an
NVIDIA GPU. Compiling is an export, which takes seconds to minutes, so it
happens once: the result is kept under ``<models dir>/compiled/`` with a name
made of everything that decides its bytes (the weights' sha256, the target
runtime and its version, the device, the export options). Change any of them
and a new entry is built; nothing is ever "updated in place".

An entry is written under a temporary name and renamed, then its digest is
written beside it (``.sha256``) the same way: a crash mid-export leaves no entry,
and an entry whose bytes no longer match its digest (a disk error, a hand edit)
is rebuilt, not loaded. One export per entry at a time, in this process and
across processes (a lock file beside it): three editor sessions or two servers
starting on the same new weights export them once, and all load the same file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from segflow.vision.model_files import file_sha256
from segflow.vision.model_store import models_dir
from segflow.vision.yolo_export import export_weights
from segflow.vision.yolo_onnx import installed

log = logging.getLogger(__name__)

# The target runtimes, fastest first where each is possible; the package whose version goes in the key.
PACKAGES = {"tensorrt": "tensorrt", "openvino": "openvino", "onnxruntime": "onnxruntime"}


def cuda_device(device: str) -> bool:
    """Whether ``device`` (a node's ``device`` param) means an NVIDIA GPU that torch can see."""
    if device in ("cpu", "mps"):
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def compile_target(device: str, is_installed: Callable[[str], bool] = installed,
                   has_cuda: Callable[[str], bool] = cuda_device) -> str:
    """The runtime a ``.pt`` is compiled for: TensorRT on an NVIDIA GPU, else OpenVINO, else onnxruntime."""
    if is_installed("tensorrt") and has_cuda(device):
        return "tensorrt"
    return "openvino" if is_installed("openvino") else "onnxruntime"


def auto_compiles(device: str, is_installed: Callable[[str], bool] = installed,
                  has_cuda: Callable[[str], bool] = cuda_device) -> bool:
    """Whether ``runtime: auto`` compiles a ``.pt`` here: where the compiled model is the faster one.

    On a CPU the ONNX graph on the edge runtime beats eager PyTorch (bench/compiled.py); on an
    NVIDIA GPU a TensorRT engine beats it. On a GPU without TensorRT (or on Apple's mps) the
    ``.pt`` stays on torch, on the GPU, rather than moving to an ONNX graph on the CPU. The
    export needs ultralytics and onnx, and the target runtime to run it.
    """
    if not (is_installed("ultralytics") and is_installed("onnx")):
        return False
    target = compile_target(device, is_installed, has_cuda)
    if target == "tensorrt":
        return True
    if device == "mps" or (device != "cpu" and has_cuda(device)):
        return False
    return is_installed(target)


@dataclass(frozen=True)
class CompileSpec:
    """Everything that decides a compiled file's bytes: change one and the cache key changes."""

    weights_sha256: str
    target: str  # tensorrt, openvino, onnxruntime
    runtime_version: str
    device: str  # "cpu" for the ONNX targets (one graph for any CPU); the GPU for TensorRT
    imgsz: int | None  # TensorRT only; the ONNX export is dynamic (any size)
    half: bool  # TensorRT only
    exporter: str  # the ultralytics version that writes the graph

    @classmethod
    def of(cls, weights: Path, target: str, device: str, imgsz: int | None, half: bool) -> CompileSpec:
        engine = target == "tensorrt"
        return cls(
            weights_sha256=file_sha256(weights),
            target=target,
            runtime_version=importlib.metadata.version(PACKAGES[target]),
            device=(device if device not in ("auto", "") else "cuda:0") if engine else "cpu",
            imgsz=imgsz if engine else None,
            half=half if engine else False,
            exporter=importlib.metadata.version("ultralytics"),
        )

    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:20]

    @property
    def suffix(self) -> str:
        return ".engine" if self.target == "tensorrt" else ".onnx"


def compiled_dir(folder: Path | None = None) -> Path:
    """Where compiled models are kept: ``compiled/`` in the model folder (``settings.models_dir`` wins)."""
    return models_dir(folder) / "compiled"


def entry_path(weights: Path, spec: CompileSpec, folder: Path | None = None) -> Path:
    return compiled_dir(folder) / f"{weights.stem}-{spec.target}-{spec.key()}{spec.suffix}"


def valid(entry: Path) -> bool:
    """An entry is usable when it and its digest are there and agree."""
    digest = entry.with_name(entry.name + ".sha256")
    try:
        return entry.is_file() and digest.read_text().strip() == file_sha256(entry)
    except OSError:
        return False


_entry_locks: dict[Path, threading.Lock] = {}
_entry_locks_guard = threading.Lock()


@contextmanager
def one_export_at_a_time(entry: Path) -> Iterator[None]:
    """Hold ``entry``'s lock: a thread's in this process, and a lock file's (``flock``) against other processes."""
    with _entry_locks_guard:
        lock = _entry_locks.setdefault(entry, threading.Lock())
    with lock:
        entry.parent.mkdir(parents=True, exist_ok=True)
        with open(entry.with_name(f".{entry.name}.lock"), "a") as handle:
            try:
                import fcntl
            except ImportError:  # not a POSIX system: the thread lock still holds within the process
                yield
                return
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
            yield


def compiled(weights: Path, spec: CompileSpec, folder: Path | None, progress: Callable[[str], None]) -> Path:
    """The compiled file for ``weights`` under ``spec``: from the cache, else exported now (with a progress line).

    Raises :class:`segflow.vision.yolo_export.ExportFailed` when the export fails, ``OSError``
    when the model folder cannot be written.
    """
    entry = entry_path(weights, spec, folder)
    if valid(entry):
        return entry
    with one_export_at_a_time(entry):
        if valid(entry):  # another thread or process exported it while this one waited
            return entry
        return export_entry(weights, spec, entry, progress)


def export_entry(weights: Path, spec: CompileSpec, entry: Path, progress: Callable[[str], None]) -> Path:
    """Export ``weights`` to ``entry`` and write its digest beside it, each by a rename (the caller holds its lock)."""
    if entry.exists():
        log.warning("compiled model %s does not match its digest: compiling it again", entry)
    progress(f"compiling {weights.name} for {spec.target} (first use, cached in {entry.parent})...")
    part = entry.with_name(f".{entry.name}.{secrets.token_hex(6)}.part")  # a crash leaves only a part
    try:
        export_weights(weights, "engine" if spec.target == "tensorrt" else "onnx", part,
                       imgsz=spec.imgsz, dynamic=True, device=spec.device, half=spec.half)
        digest = file_sha256(part)
        os.replace(part, entry)
    finally:
        if part.exists():
            part.unlink() if part.is_file() else shutil.rmtree(part)
    sidecar = entry.with_name(f".{entry.name}.sha256.{secrets.token_hex(6)}.part")
    sidecar.write_text(digest + "\n")
    os.replace(sidecar, entry.with_name(entry.name + ".sha256"))
    return entry
