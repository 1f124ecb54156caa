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

ROOT = str(Path(__file__).resolve().parents[2])
if ROOT not in sys.path:
    sys.path.append(ROOT)
