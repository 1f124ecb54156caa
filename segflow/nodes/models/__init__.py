"""Model nodes (detect.yolo, segment.sam2, ...) and the checks each runs on its weights file.

The checks live here, in the package, not in a module of their own (every module under
``segflow/nodes`` defines a node type): the ``sha256`` pin, the file's format, no pin.
One place, so that each model node refuses the same mistakes with the same words: a file
whose hash is not the pinned one (refused at validation and again at setup, since the
file may change in between), a ``.pt`` that cannot be a PyTorch checkpoint, and a pickle
loaded with no pin (a warning). The file tests themselves are engine-free
(``segflow.vision.model_files``); here they become the engine's ``ParamProblem`` /
``NodeError``, which vision may not import.
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


def weights_problems(path: Path, sha256: str | None, field: str,
                     checkpoint_hint: str = CHECKPOINT_HINT) -> list[ParamProblem]:
    """Validation's problems with the weights at ``path``, pinned (or not) by ``sha256``.

    ``field`` is the param that names the file (``model``, ``checkpoint``): format and
    no-pin problems point at it, a hash mismatch at ``sha256``. The no-pin warning is
    left out when the file is refused anyway.
    """
    problems = []
    mismatch = sha256_problem(path, sha256)
    if mismatch is not None:
        problems.append(ParamProblem("sha256", mismatch, SHA256_HINT))
    not_torch = checkpoint_problem(path)
    if not_torch is not None:
        problems.append(ParamProblem(field, not_torch, checkpoint_hint))
    unpinned = unpinned_problem(path, sha256)
    if unpinned is not None and mismatch is None and not_torch is None:
        problems.append(ParamProblem(field, unpinned, UNPINNED_HINT, warning=True))
    return problems


def check_pin(node_id: str, path: Path, sha256: str | None) -> None:
    """At setup, just before loading: refuse the file unless it still has the pinned hash.

    Validation checked it already, but the file may have been swapped since; a pinned
    file that is gone is refused too (nothing else would be loaded in its place).
    """
    if sha256 is None:
        return
    problem = sha256_problem(path, sha256) if path.exists() else f"{path} does not exist"
    if problem is not None:
        raise NodeError(f"node '{node_id}': {problem}", hint=SHA256_HINT)
