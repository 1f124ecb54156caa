import pytest
from engine_test_nodes import CLOSED, GAUGE, BadReturn, Broken, FlakyBatch, GaugeIn, GaugeOut

from segflow.engine.registry import Registry, default_registry


@pytest.fixture
def registry() -> Registry:
    reg = Registry()
    reg.types.update(default_registry().types)
    reg.origins.update(default_registry().origins)
    for cls in (FlakyBatch, GaugeIn, GaugeOut, Broken, BadReturn):
        reg.register(cls, "tests")
    GAUGE.update(now=0, max=0)
    CLOSED.clear()
    return reg
