"""``python -m segflow.tools.roboflow_import roboflow DEF.json``: the same as ``segflow import roboflow``."""

import sys

from segflow.engine.cli import run_command
from segflow.tools.roboflow_import.command import IMPORT

sys.exit(run_command("import", IMPORT, sys.argv[1:]))
