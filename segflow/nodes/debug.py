"""``debug.*``: cheap and simulated nodes for testing and benchmarking graphs.

They exercise the engine without models: a pass-through, a simulated model
with a fixed cost per call and per item (sleeping, so it releases the GIL like
real inference), a node that fails on chosen frames, and a recording sink.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any, Literal

import numpy as np
from pydantic import Field

from segflow.delivery.common import writable_problems
from segflow.engine import BatchParams, Inputs, Kind, Node, NodeError, Params, Port, SinkNode, node_type
from segflow.engine.crops import Classification
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.on_crops import CROPS_OUT, Item, OnCrops, run_items, subject_ports
from segflow.engine.workflow.confine import writes_path


@node_type("debug.noop")
class Noop(Node):
    """Pass the image through unchanged (engine-overhead benchmarks)."""

    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return {"image": inputs["image"]}


@node_type("debug.invert")
class Invert(Node):
    """Invert the image's pixels: a cheap node whose output depends on its input."""

    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        return {"image": frame.with_pixels(255 - frame.pixels)}


@node_type("debug.stats")
class Stats(Node):
    """Mean brightness of the image as a value (a cheap image → value node)."""

    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"value": Port(Kind.VALUE, "{'mean': float, 'frame': int}")}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        frame = inputs["image"]
        return {"value": {"mean": float(np.mean(frame.pixels)), "frame": frame.index}}


@node_type("debug.merge")
class Merge(Node):
    """Join two values of the same packet into one dict (tests joins in the graph)."""

    inputs = {"a": Port(Kind.VALUE), "b": Port(Kind.VALUE, required=False)}
    outputs = {"value": Port(Kind.VALUE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        return {"value": {"a": inputs["a"], "b": inputs.get("b")}}


class SimulatedModelParams(BatchParams):
    call_ms: float = Field(20.0, ge=0, description="Fixed cost of one call, in ms.")
    item_ms: float = Field(1.0, ge=0, description="Added cost per item in the batch, in ms.")


@node_type("debug.simulated_model")
class SimulatedModel(OnCrops, Node):
    """A stand-in for a model: costs call_ms + item_ms per item, sleeping (releases the GIL).

    On crops it is a stand-in classifier: each crop is classed ``bright`` or ``dark`` by its
    mean grey level (deterministic, so runs can be compared), at the same simulated cost.
    """

    Params = SimulatedModelParams
    params: SimulatedModelParams
    batchable = True
    inputs = subject_ports("The frame")
    outputs = {"image": Port(Kind.IMAGE), "value": Port(Kind.VALUE, "images (frames or crops) in the micro-batch"),
               "crops": CROPS_OUT}

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        outputs = run_items(batch, self.infer, self.params.batch_size, "image")
        images = sum(self.batch_items(item) for item in batch)
        for out in outputs:
            out["value"] = images
        return outputs

    def infer(self, items: list[Item]) -> list[Any]:
        time.sleep((self.params.call_ms + self.params.item_ms * len(items)) / 1000.0)
        return [item.inputs["image"] if item.crop is None else brightness(item.pixels) for item in items]


def brightness(pixels: np.ndarray) -> Classification:
    mean = float(np.mean(pixels)) / 255.0
    bright = mean >= 0.5
    return Classification(int(bright), "bright" if bright else "dark", round(max(mean, 1 - mean), 4))


_NOT_EXCEPTIONS: dict[str, type[BaseException]] = {
    "SystemExit": SystemExit, "KeyboardInterrupt": KeyboardInterrupt, "GeneratorExit": GeneratorExit,
}


class FailParams(Params):
    every: int = Field(0, ge=0, description="Fail on frames whose index is a multiple of this (0: never).")
    frames: list[int] = Field(default_factory=list, description="Fail on these frame indices.")
    message: str = Field("simulated failure", description="The error message.")
    exception: Literal["NodeError", "SystemExit", "KeyboardInterrupt", "GeneratorExit"] = Field(
        "NodeError", description="What to raise: a NodeError (one frame lost), or something that is not an "
        "Exception, as some libraries do (the run must end cleanly, with this node named).",
    )


@node_type("debug.fail")
class Fail(Node):
    """Pass the image through, but fail on chosen frames (tests error policies)."""

    Params = FailParams
    params: FailParams
    inputs = {"image": Port(Kind.IMAGE)}
    outputs = {"image": Port(Kind.IMAGE)}

    def process(self, inputs: Inputs) -> dict[str, Any]:
        index = inputs.packet.frame_index
        p = self.params
        if index in p.frames or (p.every and index % p.every == 0):
            message = f"{p.message} on frame {index}"
            raise NodeError(message) if p.exception == "NodeError" else _NOT_EXCEPTIONS[p.exception](message)
        return {"image": inputs["image"]}


class RecordParams(Params):
    path: str = Field(..., description="JSONL file to append one line per packet to.",
                      json_schema_extra=writes_path())


@node_type("debug.record")
class Record(SinkNode):
    """Append one JSON line per packet: source, frame, a digest of the image and any value."""

    Params = RecordParams
    params: RecordParams
    inputs = {"image": Port(Kind.IMAGE, required=False), "value": Port(Kind.VALUE, required=False)}

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return writable_problems(context.resolve(params.path), "path")

    def setup(self) -> None:
        path = self.context.resolve(self.params.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        record: dict[str, Any] = {"source": inputs.packet.source_id, "frame": inputs.packet.frame_index}
        if inputs.get("image") is not None:
            record["digest"] = hashlib.blake2b(inputs["image"].pixels.tobytes(), digest_size=8).hexdigest()
        if "value" in inputs:
            record["value"] = inputs["value"]
        with self._lock:
            self._file.write(json.dumps(record, sort_keys=True) + "\n")
        return {}

    def close(self) -> None:
        file = getattr(self, "_file", None)
        if file is not None:
            file.close()
