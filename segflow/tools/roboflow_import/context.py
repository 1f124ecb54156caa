"""The state of one conversion: the segflow nodes and inputs made so far, and what was left out.

Block mappers (``blocks_*.py``) read a step's fields through :class:`Conversion`
(``take``, ``ref``, ``param``, ``model``), so it knows which fields were used:
a field no mapper read is reported as left out when the step is finished,
and a step whose data comes from a step left out is left out with that
reason. Nothing is dropped without a line saying which block, which field and
why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segflow.tools.roboflow_import.definition import Definition, Problem, Step
from segflow.tools.roboflow_import.selectors import Kind, Ref, input_selector, step_selector

IMAGE_INPUTS = ("WorkflowImage", "InferenceImage")
PARAMETER_INPUTS = ("WorkflowParameter", "InferenceParameter")
NOT_NODE_ID = re.compile(r"[^A-Za-z0-9_-]")
STITCH_MODES = {"results": "new", "classified": "attach"}
"""Ref.field of a model's crops output -> how crop.stitch puts the results on the frame."""
PLATFORM_OUTPUTS = {"inference_id": "Roboflow's id of a hosted inference; segflow records carry a record_id",
                    "model_id": "the model's Roboflow id; segflow nodes name their model file",
                    "parent_id": "Roboflow's lineage id; segflow crops know their parent detection"}


class Skip(Exception):
    """The whole step is left out; ``key`` is the field that decided it (None: the block itself)."""

    def __init__(self, reason: str, key: str | None = None, hint: str = "") -> None:
        super().__init__(reason)
        self.reason, self.key, self.hint = reason, key, hint


@dataclass
class Node:
    """One segflow node to write, with the Roboflow step it came from (a comment in the YAML)."""

    id: str
    type: str
    params: dict[str, Any]
    inputs: dict[str, str]
    origin: str


@dataclass
class Gate:
    """A ContinueIf's condition for the steps it lets through: a sink's ``only_when``."""

    condition: str
    detections: Ref | None
    value: Ref | None
    steps: tuple[str, ...]


@dataclass
class Conversion:
    definition: Definition
    models: dict[str, str]
    name: str
    out_dir: str
    source: str | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    provided: dict[str, dict[str, Ref]] = field(default_factory=dict)
    gates: dict[str, Gate] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    left_out: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    mapped: list[str] = field(default_factory=list)
    stitched: dict[str, str] = field(default_factory=dict)  # a model's crops output -> its crop.stitch node
    _used: set[str] = field(default_factory=set)
    _used_inputs: set[str] = field(default_factory=set)

    # -- the definition's inputs -------------------------------------------------------------
    def declared(self, name: str) -> dict[str, Any] | None:
        return next((i for i in self.definition.inputs if i.get("name") == name), None)

    def image_ref(self, name: str) -> Ref | None:
        spec = self.declared(name)
        if spec is None or spec.get("type") not in IMAGE_INPUTS:
            return None
        self._used_inputs.add(name)
        if self.source is not None and name == self.first_image_input():
            return Ref(f"{name}.image", "image")
        self.inputs.setdefault(name, {"kind": "image", "description": f"Roboflow input '{name}'"})
        return Ref(f"$inputs.{name}", "image")

    def first_image_input(self) -> str | None:
        return next((i["name"] for i in self.definition.inputs if i.get("type") in IMAGE_INPUTS), None)

    # -- reading a step's fields ---------------------------------------------------------------
    def begin(self, step: Step) -> None:
        self._used = {"type", "name"}

    def has(self, step: Step, key: str) -> bool:
        return key in step.body

    def take(self, step: Step, key: str, default: Any = None) -> Any:
        """A field's raw value, marked as used."""
        self._used.add(key)
        return step.body.get(key, default)

    def ref(self, step: Step, key: str, kinds: tuple[Kind, ...], value: Any = None) -> Ref:
        """The segflow data a selector field reads; Skip when it comes from a step left out."""
        selector = self.take(step, key) if value is None else value
        found = self.resolve(selector, key)
        if "detections" in kinds and "crops" not in kinds:
            found = self.frame_detections(step, found)
        if found.kind not in kinds:
            raise Skip(f"'{key}' reads {found.kind} where segflow needs {' or '.join(kinds)}", key)
        return found

    def resolve(self, selector: Any, key: str) -> Ref:
        name = input_selector(selector)
        if name is not None:
            image = self.image_ref(name)
            if image is None:
                raise Skip(f"'{key}' reads the workflow input '{name}', which is not an image here", key)
            return image
        sel = step_selector(selector)
        if sel is None:
            raise Skip(f"'{key}' is not a selector ($inputs.NAME or $steps.STEP.OUTPUT): {str(selector)[:60]}", key)
        step, output = sel
        if step in self.skipped:
            raise Skip(f"'{key}' reads step '{step}', which was left out (said there)", key)
        outputs = self.provided.get(step, {})
        if output in PLATFORM_OUTPUTS:
            raise Skip(f"'{key}' reads {output}: {PLATFORM_OUTPUTS[output]}", key)
        if output is None or output not in outputs:
            names = ", ".join(sorted(outputs)) or "none"
            raise Skip(f"'{key}' reads '{selector}': segflow has no such output of step '{step}' "
                       f"(mapped outputs: {names})", key)
        return outputs[output]

    def frame_detections(self, step: Step, found: Ref) -> Ref:
        """A model's per-crop results as frame detections: a ``crop.stitch`` inserted once per output.

        Roboflow runs the steps after a model on crops once per crop; segflow maps the results
        back to the frame (tiles: new detections, nothing merged; classified crops: onto their
        parents) and runs the rest once per frame, so counts and areas are the crops' totals.
        """
        if found.kind != "crops" or found.field not in STITCH_MODES:
            return found
        stitch_id = self.stitched.get(found.ref)
        if stitch_id is None:
            stitch_id = self.stitched[found.ref] = self._node_id(f"{found.step}_to_frame")
            mode = STITCH_MODES[found.field]
            params = {"mode": mode, "merge": "none"} if mode == "new" else {"mode": mode}
            origin = self.definition.step(found.step) or step
            self.nodes[stitch_id] = Node(stitch_id, "crop.stitch", params, {"crops": found.ref},
                                         f"step '{origin.name}' ({origin.type}): its per-crop results on the frame")
            self.note(step, None, f"reads the per-crop results of step '{found.step}': segflow maps them to the "
                      f"frame first (crop.stitch mode {mode}, node '{stitch_id}')")
        return Ref(f"{stitch_id}.detections", "detections", step=found.step)

    def param(self, step: Step, key: str, kind: str | None, default: Any = None) -> Any:
        """A param's value: the literal, or ``$inputs.NAME`` with the input declared by ``kind``.

        ``kind`` None: segflow has no input of that shape (a list of class names), so an input
        with a default gives its default, written in, and one without is left out.
        """
        value = self.take(step, key, default)
        name = input_selector(value)
        if name is None:
            if step_selector(value) is not None:
                self.leave(step, key, "a value from another step: segflow params take one only where the "
                           "node type says so (zones, lines)")
                return default
            return value
        spec = self.declared(name) or {}
        self._used_inputs.add(name)
        if kind is None:
            if "default_value" in spec:
                self.note(step, key, f"input '{name}' has no segflow kind of that shape; its default "
                          f"{spec['default_value']!r} is written in")
                return spec["default_value"]
            self.leave(step, key, f"input '{name}' has no segflow kind of that shape and no default")
            return default
        declared = {"kind": kind, "description": f"Roboflow input '{name}'"}
        if spec.get("default_value") is not None:
            declared["default"] = spec["default_value"]
        self.inputs.setdefault(name, declared)
        return f"$inputs.{name}"

    def model(self, step: Step, key: str = "model_id", default: str | None = None) -> str:
        """The local file for the step's model id, from ``--model ID=PATH``; an error naming the flag."""
        value = self.take(step, key, default)
        name = input_selector(value)
        if name is not None:
            self._used_inputs.add(name)
            value = (self.declared(name) or {}).get("default_value")
            if name in self.models and value not in self.models:
                return self.models[name]
            if value is None:
                self.errors.append(self.definition.at(
                    step, key, f"the model comes from input '{name}', which has no default: "
                    "segflow loads its model before the run", f"give --model {name}=PATH"))
                return "MODEL"
        if value in self.models:
            return self.models[value]
        self.errors.append(self.definition.at(
            step, key, f"model '{value}' has no local file", f"give --model {value}=PATH (a YOLO .pt or ONNX "
            "file; segflow downloads nothing at run time)"))
        return "MODEL"

    # -- what a step makes ---------------------------------------------------------------------
    def node(self, step: Step, type_: str, params: dict[str, Any], inputs: dict[str, Ref | str],
             suffix: str = "", origin: str = "") -> str:
        node_id = self._node_id(step.name + suffix)
        wired = {port: r.ref if isinstance(r, Ref) else r for port, r in inputs.items()}
        self.nodes[node_id] = Node(node_id, type_, params, wired, origin or f"step '{step.name}' ({step.type})")
        return node_id

    def credit(self, node_id: str, step_names: list[str]) -> None:
        """Name steps with no node of their own (a ContinueIf, a formatter) in the node that does their job."""
        for name in step_names:
            step = self.definition.step(name)
            if step is not None and not any(f"step '{name}'" in n.origin for n in self.nodes.values()):
                self.nodes[node_id].origin += f", with step '{name}' ({step.type})"

    def provide(self, step: Step, output: str, ref: Ref) -> None:
        self.provided.setdefault(step.name, {})[output] = Ref(ref.ref, ref.kind, ref.path, ref.field,
                                                              ref.columns, step.name, ref.gate)

    def gate(self, step: Step) -> Gate | None:
        """The ContinueIf condition over this step, taken (a sink writes it as only_when)."""
        return self.gates.pop(step.name, None)

    def _node_id(self, wanted: str) -> str:
        base = NOT_NODE_ID.sub("_", wanted)[:90] or "step"
        if not base[0].isalpha() and base[0] != "_":
            base = "s_" + base
        candidate, n = base, 2
        while candidate in self.nodes or candidate in self.inputs or candidate == self.first_image_input():
            candidate, n = f"{base}_{n}", n + 1
        return candidate

    # -- what is said about a step ---------------------------------------------------------------
    def leave(self, step: Step | None, key: str | None, reason: str, hint: str = "") -> None:
        block = step.type if step else "input"
        text = f"{block}: field '{key}': {reason}" if key else f"{block}: {reason}"
        self.left_out.append(self.definition.at(step, key, text, hint, severity="left out"))

    def note(self, step: Step | None, key: str | None, text: str) -> None:
        self.notes.append(self.definition.at(step, key, text, severity="note"))

    def finish(self, step: Step, ignore: dict[str, Any] | None = None) -> None:
        """Report every field no mapper read; ``ignore`` names fields whose default changes nothing."""
        for key, value in step.body.items():
            if key in self._used or (ignore and key in ignore and ignore[key] == value):
                continue
            self.leave(step, key, "segflow has no counterpart for this field")
        self.mapped.append(step.name)

    def unused_inputs(self) -> list[dict[str, Any]]:
        return [i for i in self.definition.inputs if i.get("name") not in self._used_inputs]

    @property
    def out(self) -> Path:
        return Path(self.out_dir)
