"""``python -m segflow.serve ...``: the same as ``segflow serve ...``."""

import sys

from segflow.engine.cli import run_command
from segflow.serve.command import SERVE

sys.exit(run_command("serve", SERVE, sys.argv[1:]))
