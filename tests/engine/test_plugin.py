"""A third-party node type arrives through the `segflow.nodes` entry point of an installed package."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN_MODULE = '''
"""A plugin with one node type: counts bright pixels."""
from typing import Any

from pydantic import Field

from segflow.engine import Inputs, Kind, Node, Params, Port, node_type


class BrightParams(Params):
    level: int = Field(200, ge=0, le=255, description="Pixels above this count as bright.")


@node_type("acme.bright_pixels")
class BrightPixels(Node):
    """Count pixels brighter than a level (a plugin node)."""

    Params = BrightParams
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"value": Port(Kind.VALUE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return {"value": int((inputs["image"].pixels.max(axis=2) > self.params.level).sum())}
'''


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "acme_segflow").mkdir()
    (src / "acme_segflow" / "__init__.py").write_text(PLUGIN_MODULE)
    (src / "pyproject.toml").write_text(textwrap.dedent("""
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "acme-segflow"
        version = "0.1"
        [project.entry-points."segflow.nodes"]
        acme = "acme_segflow"
        [tool.setuptools]
        packages = ["acme_segflow"]
    """))
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(src)], check=True, capture_output=True)
    return target


def run(args, plugin_path, **kw):
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, "-m", "segflow.engine.cli", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120, **kw)


def test_installed_plugin_is_listed(plugin_path):
    types = {t["type"]: t for t in json.loads(run(["nodes", "--json"], plugin_path).stdout)}
    assert types["acme.bright_pixels"]["params"]["level"]["default"] == 200
    assert "debug.noop" in types  # built-ins arrive the same way


def test_plugin_node_runs_and_validates(plugin_path, tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text(textwrap.dedent(f"""
        version: 1
        name: plugin
        nodes:
          cam: {{type: source.test_pattern, params: {{frames: 4, width: 32, height: 24}}}}
          bright: {{type: acme.bright_pixels, params: {{level: 100}}, inputs: {{image: cam.image}}}}
          rec: {{type: debug.record, params: {{path: {tmp_path / 'out.jsonl'}}}, inputs: {{value: bright.value}}}}
    """))
    res = run(["run", wf, "--quiet"], plugin_path)
    assert res.returncode == 0, res.stderr
    values = [json.loads(line)["value"] for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert len(values) == 4 and all(isinstance(v, int) and v > 0 for v in values)
    bad = wf.read_text().replace("level: 100", "level: 999")
    wf.write_text(bad)
    res = run(["validate", wf], plugin_path)
    assert res.returncode == 2 and "node 'bright': param 'level'" in res.stderr


def test_without_the_plugin_the_type_is_unknown(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text("version: 1\nname: p\nnodes:\n  cam: {type: source.test_pattern}\n"
                  "  b: {type: acme.bright_pixels, inputs: {image: cam.image}}\n")
    res = subprocess.run([sys.executable, "-m", "segflow.engine.cli", "validate", str(wf)], capture_output=True,
                         text=True)
    assert res.returncode == 2 and "unknown node type 'acme.bright_pixels'" in res.stderr
