import threading
from typing import Any

from segflow.engine import Inputs, Kind, Node, Port, node_type
from segflow.engine.node import BatchParams, Params


class FlakyBatchParams(BatchParams):
    fail_frames: list[int] = []


@node_type("test.flaky_batch")
class FlakyBatch(Node):
    """A batchable node failing on chosen frames: proves one bad packet does not sink its batch."""

    Params = FlakyBatchParams
    batchable = True
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        for item in batch:
            if item.packet.frame_index in self.params.fail_frames:
                raise ValueError(f"bad frame {item.packet.frame_index}")
        return [{"image": item["image"]} for item in batch]


GAUGE = {"now": 0, "max": 0, "lock": threading.Lock()}


@node_type("test.gauge_in")
class GaugeIn(Node):
    """Counts a packet as in flight."""

    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        with GAUGE["lock"]:
            GAUGE["now"] += 1
            GAUGE["max"] = max(GAUGE["max"], GAUGE["now"])
        return {"image": inputs["image"]}


@node_type("test.gauge_out")
class GaugeOut(Node):
    """Counts a packet as done."""

    is_sink = True
    inputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        with GAUGE["lock"]:
            GAUGE["now"] -= 1
        return {}


CLOSED: list[str] = []


class BrokenParams(Params):
    when: str = "setup"


@node_type("test.broken")
class Broken(Node):
    """Fails in setup or records that it was closed."""

    Params = BrokenParams
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def setup(self) -> None:
        if self.params.when == "setup":
            raise FileNotFoundError("weights.pt")

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return {"image": inputs["image"]}

    def close(self) -> None:
        CLOSED.append(self.node_id)


@node_type("test.bad_return")
class BadReturn(Node):
    """Returns a list instead of a dict of outputs: a bug in a plugin, counted as a failure."""

    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return [inputs["image"]]  # type: ignore[return-value]
