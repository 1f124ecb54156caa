"""``python -m segflow.client ...``: the same as ``segflow client ...``."""

import sys

from segflow.client.command import CLIENT
from segflow.engine.cli import run_command

sys.exit(run_command("client", CLIENT, sys.argv[1:]))
