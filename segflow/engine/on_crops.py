"""Model nodes on frames *or* crops: the ports, the item count, and the flat batch a model call sees.

The contract every model node that takes crops follows (``detect.yolo``,
``segment.sam2``, the classifier):

- inputs ``image`` (a frame) and ``crops`` (:class:`~segflow.engine.crops.Crops`),
  both optional, exactly one wired (``Port.one_of``): validation says so before the run;
- outputs: the frame output as before (``detections``), given for frames, and
  ``crops``: the same crops, each ``Crop.result`` filled, in crop pixels, given for crops;
- ``batch_size`` counts *images*: a packet of six crops is six items
  (:meth:`OnCrops.batch_items`), so the engine fills a micro-batch with the crops of
  many frames and cameras, and :func:`run_items` cuts the flat list into model calls
  of at most ``batch_size`` (a packet with more crops than that is still done, in
  several calls).

A node adds the ports with :func:`subject_ports` and ``CROPS_OUT``, mixes in
:class:`OnCrops`, and writes ``process_batch`` as ``run_items(batch, infer, ...)``
where ``infer`` takes a list of :class:`Item` and returns one result per item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from segflow.engine.crops import Crop, Crops
from segflow.engine.node import Inputs, Port
from segflow.engine.ports import Kind

SUBJECT = "subject"  # the one_of group of ``image`` and ``crops``
CROPS_OUT = Port(Kind.CROPS, "The crops, each with this model's result (in crop pixels); given when crops come in.",
                 passes="crops")


def subject_ports(image_help: str) -> dict[str, Port]:
    """The ``image`` and ``crops`` inputs: exactly one of them wired."""
    return {
        "image": Port(Kind.IMAGE, image_help + " (or wire crops).", required=False, one_of=SUBJECT),
        "crops": Port(Kind.CROPS, "Crops or tiles to run on instead of a frame (crop.detections, crop.tiles); "
                      "batch_size then counts crops.", required=False, one_of=SUBJECT),
    }


class OnCrops:
    """Mixed into a model node that takes crops: a packet weighs as many items as it has crops."""

    @classmethod
    def batch_items(cls, inputs: Inputs) -> int:
        crops = inputs.get("crops")
        return 1 if crops is None else len(crops)


@dataclass(frozen=True)
class Item:
    """One image a model call sees: a whole frame, or one crop of a packet."""

    packet: int  # index of its packet in the micro-batch
    pixels: Any
    inputs: Inputs  # the packet's inputs (a frame model may need more than the pixels)
    crop: Crop | None = None  # None: the frame itself
    crops: Crops | None = None


def flatten(batch: Sequence[Inputs]) -> list[Item]:
    """Every image of a micro-batch in order: each packet's frame, or each of its crops."""
    items: list[Item] = []
    for i, inputs in enumerate(batch):
        crops = inputs.get("crops")
        if crops is None:
            items.append(Item(i, inputs["image"].pixels, inputs))
        else:
            items.extend(Item(i, crop.pixels, inputs, crop, crops) for crop in crops.items)
    return items


def run_items(batch: Sequence[Inputs], infer: Callable[[list[Item]], Sequence[Any]], size: int,
              frame_port: str) -> list[dict[str, Any]]:
    """Run ``infer`` on the micro-batch's images in calls of at most ``size``; outputs per packet.

    The engine already fills a micro-batch to ``size`` items, so this splits only a packet
    that alone holds more crops than that; a batch of frames is never split (a direct
    call with more frames than ``size`` is one call, as before crops existed). A frame's
    result goes out on ``frame_port``; a packet of crops gets its crops back on ``crops``,
    each with its result, in order (a packet with no crops too, untouched).
    """
    items = flatten(batch)
    size = max(size, len(batch))
    results: list[Any] = []
    for start in range(0, len(items), size):
        chunk = items[start:start + size]
        out = list(infer(chunk))
        if len(out) != len(chunk):
            raise RuntimeError(f"the model gave {len(out)} results for {len(chunk)} images")
        results.extend(out)
    per_packet: list[list[Any]] = [[] for _ in batch]
    for item, result in zip(items, results, strict=True):
        per_packet[item.packet].append(result)
    outputs: list[dict[str, Any]] = []
    for inputs, found in zip(batch, per_packet, strict=True):
        crops = inputs.get("crops")
        outputs.append({frame_port: found[0]} if crops is None else {"crops": crops.with_results(found)})
    return outputs
