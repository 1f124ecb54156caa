"""Make ``engine`` and ``nodes`` resolve to the project's packages, whatever else pytest put on sys.path.

The project is installed in editable mode through a finder that Python consults
after its path search. Once pytest puts ``tests/`` on sys.path (it does for
``tests/test_*.py``), the folders ``tests/engine`` and ``tests/nodes`` would be
imported as namespace packages named ``engine`` and ``nodes``. With the root on
the path the real packages win: a regular package beats a namespace one
wherever it sits on the path.
"""

import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.append(ROOT)


@pytest.fixture(scope="session")
def shipped_onnx(tmp_path_factory):
    """assets/models/coffee-stones-seg.pt exported to ONNX by `segflow export`, once per session."""
    import importlib.util

    if "conftest_models" not in sys.modules:
        spec = importlib.util.spec_from_file_location("conftest_models", Path(ROOT) / "tests/nodes/conftest_models.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["conftest_models"] = module
        spec.loader.exec_module(module)
    return sys.modules["conftest_models"].shipped_onnx(tmp_path_factory.mktemp("onnx"))
