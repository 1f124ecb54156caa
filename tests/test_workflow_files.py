"""Every shipped workflow points editors at the schema, and the schema accepts it."""

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.yaml"))


def test_there_are_workflows():
    assert len(WORKFLOWS) >= 3


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_carries_the_schema_line_and_matches_it(path):
    first = path.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../segflow.schema.json"
    schema = json.loads((ROOT / "segflow.schema.json").read_text())
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)
