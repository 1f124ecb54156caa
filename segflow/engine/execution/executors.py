"""The executors segflow knows, by name, as data: imported only when chosen.

Listing them as ``module:Class`` strings keeps the contract
(:mod:`segflow.engine.execution.executor`) free of any executor import, so no
executor imports its own factory back, and Ray is imported only for ``ray``.
"""

from __future__ import annotations

import importlib

from segflow.engine.execution.executor import Executor, ExecutorUnavailable

EXECUTORS: dict[str, str] = {
    "local": "segflow.engine.execution.local.executor:LocalExecutor",
    "ray": "segflow.engine.execution.ray.executor:RayExecutor",
}


def make_executor(name: str) -> Executor:
    """A fresh executor of the named kind."""
    target = EXECUTORS.get(name)
    if target is None:
        raise ExecutorUnavailable(f"unknown executor '{name}'", hint="choose one of: " + ", ".join(sorted(EXECUTORS)))
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    executor: Executor = cls()
    return executor
