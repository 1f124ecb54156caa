"""segflow: YAML node graphs for instance segmentation.

Everything segflow installs lives under this one name (``segflow.engine``,
``segflow.nodes``, ``segflow.ui``, ``segflow.tools``), so it can share an
environment with distributions called ``nodes`` or ``tools`` and with a
plugin author's own ``nodes`` package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("segflow")
except PackageNotFoundError:  # a source checkout that was never installed
    __version__ = "0.0.0"
