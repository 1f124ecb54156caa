"""``detections.consensus``: keep the objects that enough detectors agree on, merged into one each.

Two or more detectors on the same frame (two models, a model and a threshold)
each see some objects the others miss and some that are not there. An object
found by at least ``required_votes`` of them, at the same place (box IoU, or
mask IoU where both give masks) and, with ``class_aware``, of the same class,
becomes one detection: its class by majority, its confidence, box and mask
merged from the votes (a pixel is in the mask when as many detectors' masks
hold it as must agree on the object; a box-only detector votes with its box).
Objects fewer detectors agree on are dropped. ``present`` says per frame
whether the objects asked for are there, for a sink or a gate to act on.

Matching is greedy, surest first: the most confident detection not yet used
takes, from every other detector, its best-overlapping unused detection. The
merged detection keeps the fields of its most confident member.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, field_validator

from segflow.engine import Inputs, Kind, Node, Params, Port, node_type
from segflow.engine.node import ParamProblem
from segflow.nodes.crops.stitch import rows
from segflow.nodes.detections.filter import names_or_ids
from segflow.nodes.detections.merge import DETECTOR_INPUTS, PORTS, unify_fields
from segflow.nodes.detections.zones import class_names
from segflow.vision.box_merge import mask_overlap, merge_boxes, overlap

if TYPE_CHECKING:
    import supervision as sv

Member = tuple[int, int]  # (input, detection) of a vote


def of_classes(detections: sv.Detections, classes: list[str | int]) -> np.ndarray:
    """Which detections are of ``classes``: text matches the class name, a whole number the class id.

    Lenient where ``filter.detections`` is strict: an unnamed detector's class id, as text, matches
    too, so detectors without names still vote.
    """
    names = [c for c in classes if isinstance(c, str)]
    ids = [c for c in classes if isinstance(c, int)]
    keep = np.isin(class_names(detections), names) if names and len(detections) else np.zeros(len(detections), bool)
    if ids and detections.class_id is not None:
        keep |= np.isin(np.asarray(detections.class_id), ids)
    return keep


class ConsensusParams(Params):
    required_votes: int = Field(2, ge=1, le=len(PORTS), description="Detectors that must find an object for it "
                                "to be kept (at most the number of wired inputs).")
    iou: float = Field(0.3, gt=0, le=1, description="Overlap (IoU) at which two detectors' detections are one "
                       "object: of the masks when both have masks, else of the boxes.")
    class_aware: bool = Field(True, description="Only detections of the same class vote together.")
    classes: list[str | int] | None = Field(
        None, min_length=1, description="Consider only these classes: names (stone) match the class name, whole "
        "numbers (3) the class id, as in filter.detections (unset: every class).")
    _classes = field_validator("classes", mode="before")(names_or_ids)
    confidence: float = Field(0.0, ge=0, le=1, description="Drop merged detections less confident than this.")
    class_vote: Literal["majority", "most_confident"] = Field(
        "majority", description="Class of a merged detection: the commonest among its votes (ties: the surest), "
        "or that of the most confident vote.")
    confidence_merge: Literal["mean", "max", "min"] = Field("mean", description="Confidence of a merged detection "
                                                            "from its votes'.")
    box_merge: Literal["mean", "union", "intersection", "largest", "smallest"] = Field(
        "mean", description="Box of a merged detection: the mean of the votes' corners, the box around them all, "
        "their common part (the mean when they share none), or the largest / smallest vote's box.")
    mask_merge: Literal["vote", "union", "intersection"] = Field(
        "vote", description="Mask of a merged detection: pixels held by at least required_votes of the votes' masks "
        "(vote), by any (union) or by all (intersection). A box-only vote counts its box as its mask.")
    required_objects: int | dict[str, int] | None = Field(
        None, description="When `present` is true: at least this many merged detections, or {class: n} for each "
        "class named (unset: at least one).")
    presence_confidence: Literal["max", "mean", "min"] = Field(
        "max", description="How the merged detections' confidences make the frame's presence confidence.")

    @field_validator("required_objects")
    @classmethod
    def _positive(cls, value: int | dict[str, int] | None) -> int | dict[str, int] | None:
        counts = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(n < 1 for n in counts) or value == {}:
            raise ValueError("required_objects must be 1 or more (or {class: n} with n >= 1 for each class)")
        return value


AGGREGATE = {"mean": np.mean, "max": np.max, "min": np.min}


def _pair_overlap(parts: list[sv.Detections], a: Member, b: Member) -> float:
    """IoU of two votes: of their masks when both have one, else of their boxes."""
    (s, i), (t, j) = a, b
    score = overlap(parts[s].xyxy[i], parts[t].xyxy[j], "iou")
    if score > 0 and parts[s].mask is not None and parts[t].mask is not None:
        score = mask_overlap(parts[s].mask[i], parts[t].mask[j], "iou")
    return score


def consensus_groups(parts: list[sv.Detections], p: ConsensusParams) -> list[list[Member]]:
    """Groups of votes from different inputs that are one object; only groups with ``required_votes``."""
    names = [class_names(part) for part in parts]
    confidence = [confidences(part) for part in parts]
    order = sorted(((s, i) for s, part in enumerate(parts) for i in range(len(part))),
                   key=lambda m: -float(confidence[m[0]][m[1]]))
    used: set[Member] = set()
    groups = []
    for seed in order:
        if seed in used:
            continue
        group = [seed]
        for t, part in enumerate(parts):
            if t == seed[0]:
                continue
            candidates = [(t, j) for j in range(len(part)) if (t, j) not in used
                          and (not p.class_aware or names[t][j] == names[seed[0]][seed[1]])]
            scored = [(_pair_overlap(parts, seed, c), c) for c in candidates]
            best = max(scored, default=None, key=lambda sc: sc[0])
            if best is not None and best[0] >= p.iou:
                group.append(best[1])
        if len(group) >= p.required_votes:
            used.update(group)
            groups.append(group)
    return groups


def merge_masks(parts: list[sv.Detections], group: list[Member], shape: tuple[int, int], at_least: int) -> np.ndarray:
    """Pixels held by at least ``at_least`` of the votes' masks (a box-only vote holds its box)."""
    votes = np.zeros(shape, dtype=np.uint8)
    for s, i in group:
        if parts[s].mask is not None:
            votes += parts[s].mask[i]
        else:
            x0, y0, x1, y1 = np.asarray(parts[s].xyxy[i]).round().astype(int)
            votes[max(0, y0):max(0, y1), max(0, x0):max(0, x1)] += 1
    return votes >= at_least


def class_ids(part: sv.Detections) -> np.ndarray:
    return np.zeros(len(part), dtype=np.int64) if part.class_id is None else np.asarray(part.class_id)


def confidences(part: sv.Detections) -> np.ndarray:
    return np.ones(len(part), dtype=np.float32) if part.confidence is None else np.asarray(part.confidence, np.float32)


def pooled(parts: list[sv.Detections]) -> sv.Detections:
    """Every input's detections in one set, in input order, their fields made alike.

    Masks are merged by vote and tracker ids (a tracked input beside an untracked one) mean
    nothing across detectors, so neither is pooled; missing confidences and class ids are filled.
    """
    import supervision as sv

    return sv.Detections.merge(unify_fields([
        dataclasses.replace(part, mask=None, tracker_id=None, confidence=confidences(part), class_id=class_ids(part))
        for part in parts if len(part)]))


@node_type("detections.consensus")
class DetectionsConsensus(Node):
    """Keep objects that at least `required_votes` detectors found, merged (class, confidence, box, mask by vote)."""

    Params = ConsensusParams
    params: ConsensusParams
    inputs = dict(DETECTOR_INPUTS)
    outputs = {
        "detections": Port(Kind.DETECTIONS, "One detection per agreed object, with `votes` (how many detectors "
                           "found it) and `detectors` (which: first+third)."),
        "present": Port(Kind.VALUE, "true when the objects asked for (required_objects) are in the frame."),
        "value": Port(Kind.VALUE, "{present, confidence, count, per_class: {name: n}, confidence_per_class}: "
                      "confidence is the merged detections' (presence_confidence), None without any."),
    }

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str]:
        return frozenset({"votes", "detectors", "class_name"})

    @classmethod
    def check_wiring(cls, params: Any, origins: Mapping[str, Port]) -> list[ParamProblem]:
        wired = sum(port in origins for port in PORTS)
        if params.required_votes > wired:
            return [ParamProblem("params.required_votes", f"required_votes is {params.required_votes} but only "
                                 f"{wired} detectors are wired, so no object could ever be kept",
                                 f"wire more detectors (third, fourth) or set required_votes to {wired} or less")]
        return []

    def process(self, inputs: Inputs) -> dict[str, Any]:
        p = self.params
        named = [(port, inputs[port]) for port in PORTS if inputs.get(port) is not None]
        if p.classes is not None:
            named = [(port, d[of_classes(d, p.classes)]) for port, d in named]
        parts = [d for _, d in named]
        merged = self._merge(parts, [port for port, _ in named], consensus_groups(parts, p))
        if p.confidence > 0 and len(merged):
            merged = merged[merged.confidence >= p.confidence]
        value = self._presence(merged)
        return {"detections": merged, "present": value["present"], "value": value}

    def _merge(self, parts: list[sv.Detections], ports: list[str], groups: list[list[Member]]) -> sv.Detections:
        import supervision as sv

        if not groups:
            empty = sv.Detections.empty()
            empty.data = {"class_name": np.empty(0, dtype=str), "votes": np.empty(0, dtype=np.int64),
                          "detectors": np.empty(0, dtype=str)}
            return empty
        shape = next((part.mask.shape[1:] for part in parts if len(part) and part.mask is not None), None)
        merged = [self._merge_group(parts, group, shape) for group in groups]
        starts = np.cumsum([0] + [len(part) for part in parts])  # where each input's detections begin in the pool
        out = rows(pooled(parts), np.array([starts[s] + i for s, i in (g[0] for g in groups)]))
        data = {**out.data, "class_name": np.array([m[0] for m in merged]),
                "votes": np.array([len(g) for g in groups]),
                "detectors": np.array(["+".join(sorted((ports[s] for s, _ in g), key=PORTS.index)) for g in groups])}
        return dataclasses.replace(
            out, class_id=np.array([m[1] for m in merged]), confidence=np.array([m[2] for m in merged], np.float32),
            xyxy=np.array([m[3] for m in merged], dtype=np.float32), tracker_id=None, data=data,
            mask=np.stack([m[4] for m in merged]) if shape is not None else None)

    def _merge_group(self, parts: list[sv.Detections], group: list[Member],
                     shape: tuple[int, int] | None) -> tuple[str, int, float, np.ndarray, np.ndarray | None]:
        """Class name, class id, confidence, box and mask (None without masks) of one agreed object."""
        p = self.params
        conf = np.array([confidences(parts[s])[i] for s, i in group])
        votes = [class_names(parts[s])[i] for s, i in group]
        counts = Counter(votes)
        wanted = 1 if p.class_vote == "most_confident" else max(counts.values())
        # the surest vote of the commonest classes (of any class, for most_confident)
        name = next(n for n, _ in sorted(zip(votes, conf, strict=True), key=lambda vc: -vc[1]) if counts[n] >= wanted)
        s, i = next(member for member, n in zip(group, votes, strict=True) if n == name)
        box = merge_boxes(np.array([parts[t].xyxy[j] for t, j in group], dtype=np.float64), p.box_merge)
        mask = None
        if shape is not None:
            at_least = {"union": 1, "intersection": len(group)}.get(p.mask_merge, p.required_votes)
            mask = merge_masks(parts, group, shape, at_least)
        return name, int(class_ids(parts[s])[i]), float(AGGREGATE[p.confidence_merge](conf)), box, mask

    def _presence(self, merged: sv.Detections) -> dict[str, Any]:
        p = self.params
        names = class_names(merged)
        per_class = dict(sorted(Counter(names).items()))
        reduce = AGGREGATE[p.presence_confidence]
        confidence = merged.confidence if merged.confidence is not None else np.ones(len(merged))
        by_class = {n: float(reduce(confidence[[m == n for m in names]])) for n in per_class}
        if isinstance(p.required_objects, dict):
            present = all(per_class.get(n, 0) >= k for n, k in p.required_objects.items())
        else:
            present = len(merged) >= (p.required_objects or 1)
        return {"present": present, "confidence": float(reduce(confidence)) if len(merged) else None,
                "count": len(merged), "per_class": per_class, "confidence_per_class": by_class}
