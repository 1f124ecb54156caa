"""The checks every ultralytics-backed model node makes on its ``model``, ``runtime`` and ``sha256`` params.

``detect.yolo`` and ``classify.yolo`` load the same kinds of files the same
ways, so they refuse the same mistakes with the same words: a missing file or
empty export folder, a runtime that cannot run the file or is not installed, a
pin that does not match (at validation and again at setup, since the file may
change in between), a ``.pt`` that is no checkpoint, and an unpinned pickle.
"""

from __future__ import annotations

from pathlib import Path

from segflow.engine import NodeError
from segflow.engine.node import ParamProblem
from segflow.vision.model_files import (
    CHECKPOINT_HINT,
    SHA256_HINT,
    UNPINNED_HINT,
    checkpoint_problem,
    sha256_problem,
    unpinned_problem,
)
from segflow.vision.ultralytics_refs import is_hub_name, model_problem
from segflow.vision.yolo_onnx import EDGE_RUNTIMES, INSTALL, choose_runtime, runtime_problem


def weights_problems(model: str, resolved: Path, runtime: str, sha256: str | None,
                     example: str) -> list[ParamProblem]:
    """Every problem with a model node's weights params; ``example`` names a model of the right kind."""
    problem = model_problem(model, resolved)
    if problem is not None:
        hint = (
            f"export it from the trained weights: segflow export MODEL.pt --format onnx --out {model}"
            if resolved.suffix.lower() == ".onnx"
            else f"give a .pt/.onnx/.engine file or an OpenVINO folder, or an ultralytics model "
            f"name such as {example} (downloaded on first use)"
        )
        return [ParamProblem("model", problem, hint)]
    problems = []
    wrong_runtime = runtime_problem(model, runtime)
    if wrong_runtime is not None:
        chosen = choose_runtime(model, runtime)
        fix = "give an .onnx file or runtime: ultralytics" if chosen in EDGE_RUNTIMES else INSTALL[chosen]
        problems.append(ParamProblem("runtime", wrong_runtime, fix))
    if sha256 is not None and not resolved.exists():
        problems.append(ParamProblem("sha256", f"only a file can be checked; {model} is a model name",
                                     "give the path of the downloaded file, or drop `sha256`"))
    mismatch = sha256_problem(resolved, sha256)
    if mismatch is not None:
        problems.append(ParamProblem("sha256", mismatch, SHA256_HINT))
    not_torch = checkpoint_problem(resolved)
    if not_torch is not None:
        problems.append(ParamProblem("model", not_torch, CHECKPOINT_HINT))
    unpinned = unpinned_problem(resolved, sha256)
    if unpinned is not None and mismatch is None and not_torch is None:
        problems.append(ParamProblem("model", unpinned, UNPINNED_HINT, warning=True))
    elif is_hub_name(model) and not resolved.exists() and sha256 is None:
        problems.append(ParamProblem(
            "model", f"{model} would be downloaded and loaded with no `sha256` pin (a .pt runs any code "
            "it holds)", "download it once, give its path, then `segflow models pin WORKFLOW`", warning=True))
    return problems


def pinned_source(node_id: str, model: str, resolved: Path, sha256: str | None) -> str:
    """What to load at setup: the local file, or the model name ultralytics downloads; the pin checked again."""
    if sha256 is not None:
        problem = sha256_problem(resolved, sha256) if resolved.exists() else f"{resolved} does not exist"
        if problem is not None:
            raise NodeError(f"node '{node_id}': {problem}", hint=SHA256_HINT)
    return str(resolved) if resolved.exists() or not is_hub_name(model) else model


def load_hint(source: str, model: str, runtime: str, export_kind: str) -> str:
    """The hint for a model that would not load: no internet, or not the export it was taken for."""
    if source == model and is_hub_name(model):
        return ("ultralytics downloads named models on first use, which needs internet; "
                "offline, copy the .pt file here and give its path")
    if runtime in EDGE_RUNTIMES:
        return f"is it a YOLO {export_kind} ONNX export (segflow export MODEL.pt --format onnx)?"
    return "is it an ultralytics model or export (.pt/.onnx/.engine/OpenVINO folder)?"
