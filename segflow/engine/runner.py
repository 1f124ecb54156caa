"""Deprecated name of :mod:`segflow.engine.api` (the Python API), kept for scripts written before 0.2.

The layout moved the engine into phases (``workflow/``, ``execution/``,
``observe/``); the facade is now ``segflow.engine.api``. Importing this module
still works and says where to go, so a user's script keeps running.
"""

import warnings

from segflow.engine.api import Workflow, load, loads

warnings.warn(
    "segflow.engine.runner is now segflow.engine.api: change the import (this alias goes in a later release)",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = ["Workflow", "load", "loads"]
