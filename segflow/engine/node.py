"""The node API: what a node type declares and what the engine calls.

A node type is a class with a pydantic ``Params`` model, typed input and output
ports, and ``process_batch`` (the primitive) or ``process`` (a convenience over
it). The engine decides threads and batching; a node only transforms values.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from segflow.engine.frame import Frame, PacketInfo
from segflow.engine.observe.metrics import Undelivered
from segflow.engine.ports import Kind

TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class Params(BaseModel):
    """Base of every node's parameters: unknown keys are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BatchParams(Params):
    """Parameters every batchable node accepts: how the engine gathers micro-batches."""

    batch_size: int = Field(
        1, ge=1, le=1024, description="Most images per call, gathered across frames and sources: frames, "
        "or crops when the node runs on crops."
    )
    max_wait_ms: float = Field(
        5.0, ge=0, le=60_000, description="Longest a partial batch waits for more packets."
    )


class LiveSourceParams(Params):
    """Parameters of sources that produce frames whether or not we keep up."""

    drop: Literal["oldest", "newest", "none"] = Field(
        "none",
        description="When the graph cannot keep up: drop the oldest waiting frame, "
        "the newest frame, or none (block the source).",
    )


@dataclass(frozen=True)
class Port:
    """A typed input or output of a node."""

    kind: Kind
    description: str = ""
    required: bool = True
    # An optional input left unwired takes the value of the same kind that fed the node
    # upstream along this other input (measure.masks: the frame its detections came from).
    follow: str | None = None
    # Inputs that share a ``one_of`` name are alternatives: exactly one of them must be wired
    # (a model node's ``image`` or ``crops``).
    one_of: str = ""
    # An output that carries the value of this input, enriched (a model's ``crops`` out, results filled):
    # validation follows it upstream to the port that made the value, to read that port's ``traits``.
    passes: str = ""
    # What the value made at this output is known to have, for the nodes it feeds to check
    # (``parents``: crops cut around detections, which a stitch can attach results to; ``frame``: the
    # image this node's detections are in, which a ``follow`` input takes over the node's own image input).
    traits: frozenset[str] = frozenset()


class Inputs(dict[str, Any]):
    """A node's inputs for one packet, plus which packet it is (``.packet``) and its params for it.

    ``.params`` is the node's params with the values other nodes gave for this packet
    (a param written ``$node.port``); None when the caller gave none (a test calling
    ``process`` directly), so a node reads ``inputs.params or self.params``.
    """

    __slots__ = ("packet", "params")

    def __init__(self, values: Mapping[str, Any], packet: PacketInfo, params: Any = None) -> None:
        super().__init__(values)
        self.packet = packet
        self.params = params


@dataclass
class ParamProblem:
    """A problem a node type finds in its parameters before anything runs (``warning``: it may still run)."""

    field: str
    message: str
    hint: str = ""
    warning: bool = False


class StopFlag:
    """A stop request that nodes can poll or wait on (sources in their long waits).

    It belongs to one process: pickled (a context sent to another worker), it
    arrives as a fresh, unset flag that the executor over there sets.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)

    def __reduce__(self) -> tuple[type[StopFlag], tuple[()]]:
        return (StopFlag, ())


def new_run_id() -> str:
    """A sortable id for one run: its UTC start time plus a random tail, e.g. ``20260101T120000Z-3fa2c1``."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


@dataclass
class RunContext:
    """What a node may know about the run it is part of: plain data, so it travels to other workers.

    ``workflow_name`` is always the workflow's ``name:`` (what sinks log beside every
    record), headless or in the editor. ``run_id`` names the run, not a node:
    every sink of the run (on every Ray worker) stamps it on its records, so a
    detection has one ``record_id`` in the JSONL file, the database and the webhook.
    """

    workflow_name: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    stop_event: StopFlag = field(default_factory=StopFlag, compare=False)
    models_dir: Path | None = None  # settings.models_dir, resolved; None: the environment's or the default
    run_id: str = field(default_factory=new_run_id)
    # Every path a node writes must lie inside this folder (the editor's workspace); None: anywhere.
    # Checked when the workflow is validated (segflow.engine.workflow.confine).
    write_root: Path | None = None
    # Model nodes share one loaded copy per file and device across the process (the editor's browser
    # sessions); a headless run's replicas each load their own (segflow.vision.shared_models).
    share_models: bool = False

    @property
    def workflow(self) -> str:
        """The old name of ``workflow_name`` (it held the name, never the workflow): kept for plugins."""
        return self.workflow_name

    def for_settings(self, workflow_name: str, models_dir: str | None) -> RunContext:
        """A context for one workflow of this run: its name, and its model folder when it names one."""
        return RunContext(workflow_name, self.base_dir, models_dir=self.resolve(models_dir) if models_dir else None,
                          run_id=self.run_id, write_root=self.write_root, share_models=self.share_models)

    def resolve(self, path: str | Path) -> Path:
        """Relative paths in params are relative to ``base_dir`` (the working directory)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


class NodeError(Exception):
    """An expected failure on one packet (bad frame, unreadable file): no traceback shown."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


Role = Literal["source", "model", "io", "cpu"]


class Node:
    """Base class of every node type.

    Subclasses set ``Params``, ``inputs`` and ``outputs`` and override
    ``process_batch`` or ``process``. ``setup`` loads models once; ``close``
    releases them (sinks flush there) and runs on every path out of a run.
    """

    type_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = Params
    inputs: ClassVar[dict[str, Port]] = {}
    outputs: ClassVar[dict[str, Port]] = {}
    batchable: ClassVar[bool] = False
    threaded: ClassVar[bool] = False
    is_sink: ClassVar[bool] = False
    is_source: ClassVar[bool] = False
    # Keeps state across frames (a tracker, a line counter): one frame alone is not enough to
    # see what it does, so editors replay the frames before the one they show.
    stateful: ClassVar[bool] = False
    # Params whose change needs a fresh setup() (a model path); a change to any other param is
    # applied in place through configure(), so an editor keeps the model loaded. None: all of them.
    reload_params: ClassVar[frozenset[str] | None] = None

    def __init__(self, node_id: str, params: Any, context: RunContext | None = None) -> None:
        self.node_id = node_id
        self.params = params
        self.context = context or RunContext()

    @classmethod
    def role(cls) -> Role:
        """What the node is, for placing it in a stage and drawing it: never read from its id.

        ``model``: batchable, owns a stage; ``io``: a sink or a ``threaded`` node (blocking
        I/O), owns a stage; ``cpu``: cheap, runs inline behind the models above it.
        """
        if cls.is_source:
            return "source"
        if cls.batchable:
            return "model"
        if cls.is_sink or cls.threaded:
            return "io"
        return "cpu"

    @classmethod
    def family(cls) -> str:
        return cls.type_name.split(".", 1)[0]

    @classmethod
    def summary(cls) -> str:
        """One line for palettes and ``segflow nodes``: the description or docstring head."""
        text = cls.description or (cls.__doc__ or "").strip()
        return text.splitlines()[0].strip() if text else ""

    @classmethod
    def added_fields(cls, params: Any) -> frozenset[str] | None:
        """The ``detections.data`` fields this node adds to the detections it outputs.

        Validation checks the names in conditions downstream against them, so
        ``length_mm`` after a measure node without a scale is refused before the
        run. None (the default) says nothing is declared: any name is accepted.
        """
        return None

    @classmethod
    def needed_fields(cls, params: Any) -> dict[str, str]:
        """Fields this node cannot work without on its detections, each with the hint that supplies it.

        ``line.count`` needs ``tracker_id`` (a tracker upstream): validation refuses a
        graph where no upstream node declares it, instead of failing every frame.
        """
        return {}

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        """Problems of params that name fields, given the fields reaching the node (None: unknown).

        ``wired`` names the inputs that are connected. A sink's ``fields:`` is checked
        here, against what its records can hold.
        """
        return []

    @classmethod
    def batch_items(cls, inputs: Inputs) -> int:
        """How many model items one packet's inputs are: a micro-batch is ``batch_size`` items.

        One per packet by default; a node that runs on crops says how many crops the packet
        holds, so batches of crops from many frames and cameras are filled by crop count.
        """
        return 1

    @classmethod
    def check_wiring(cls, params: Any, origins: Mapping[str, Port]) -> list[ParamProblem]:
        """Problems in how the node is wired, given the output port that made each wired input.

        ``origins`` maps each wired input to the port that *made* its value (followed back
        through ``Port.passes``), so a stitch can see whether its crops have parents.
        ``ParamProblem.field`` names the input port, or ``params.NAME`` for a param that does not fit the
        wiring (empty: the node).
        """
        return []

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        """Problems detectable before the run (a missing model file, an unwritable path)."""
        return []

    def setup(self) -> None:
        """Load models, open files: called once before the first packet."""

    def configure(self) -> None:
        """Derive per-call settings from ``self.params``; runs after setup and after an in-place update."""

    def update_params(self, params: Any) -> bool:
        """Take new params without a new setup when only params outside ``reload_params`` changed."""
        if self.reload_params is None:
            return False
        changed = {name for name in type(params).model_fields
                   if getattr(params, name) != getattr(self.params, name)}
        if changed & self.reload_params:
            return False
        self.params = params
        self.configure()
        return True

    def reset(self) -> None:
        """Forget what earlier frames left behind (drawn traces), keeping what ``setup`` loaded.

        An editor calls it on every kept node before it replays frames after a jump, while its
        ``stateful`` nodes are set up afresh: so a node that keeps something per track id (without
        being a tracker itself) never joins the old run's ids to the new one's.
        """

    def process(self, inputs: Inputs) -> dict[str, Any]:
        """Process one packet; the default runs ``process_batch`` on a batch of one."""
        if type(self).process_batch is Node.process_batch:
            raise NotImplementedError(f"{type(self).__name__} implements neither process nor process_batch")
        return self.process_batch([inputs])[0]

    def process_batch(self, batch: list[Inputs]) -> list[dict[str, Any]]:
        """Process a micro-batch; the default calls ``process`` once per packet."""
        if type(self).process is Node.process:
            raise NotImplementedError(f"{type(self).__name__} implements neither process nor process_batch")
        return [self.process(item) for item in batch]

    def close(self) -> None:
        """Release resources; sinks flush here. Must be safe to call after a failed setup."""


@dataclass(frozen=True)
class SourceHealth:
    """How a source is doing right now, for a monitoring endpoint.

    ``up`` is False while a live source has no stream (between a drop and a
    reconnect); ``drops`` counts streams lost after giving frames and
    ``reconnects`` streams regained; ``detail`` says why it is down.
    """

    up: bool = True
    drops: int = 0
    reconnects: int = 0
    detail: str = ""


class SourceNode(Node):
    """A node that produces frames: a file, a camera, a test pattern.

    The engine reads each source in its own thread, so ``frames`` may block.
    Long waits should watch ``self.context.stop_event`` so a stop is prompt.
    """

    is_source: ClassVar[bool] = True
    outputs: ClassVar[dict[str, Port]] = {"image": Port(Kind.IMAGE, "The frames of this source.")}

    def frames(self) -> Iterator[Frame]:
        raise NotImplementedError

    def frames_after(self, index: int) -> Iterator[Frame]:
        """The frames after frame ``index``, numbered on from it: a new run carrying on where one stopped.

        A server restarting a changed pipeline resumes each source after the last
        frame that went through, so no frame is lost or processed twice. A live
        source simply goes on (its frames are the ones arriving now); a recorded
        one is read from the start and its frames up to ``index`` are skipped,
        which is right for every source that gives the same frames each run and
        which a source that can seek (``source.video``) overrides.
        """
        if self.is_live():
            return self.frames()
        return (frame for frame in self.frames() if frame.index > index)

    def total_frames(self) -> int | None:
        """How many frames this source will give, when known (for progress and ETA)."""
        return None

    def is_live(self) -> bool:
        """Live sources produce frames on their own clock and may drop them."""
        return False

    def health(self) -> SourceHealth:
        """The source's state now; called from a monitoring thread while ``frames`` runs, so read only."""
        return SourceHealth()

    def drop_policy(self) -> str:
        return str(getattr(self.params, "drop", "none"))

    def make_frame(self, pixels: Any, index: int, timestamp: float, **meta: Any) -> Frame:
        return Frame(pixels, self.node_id, index, timestamp, meta)


class SinkNode(Node):
    """A node whose effect is outside the graph: a file, a database, a broker."""

    is_sink: ClassVar[bool] = True

    def undelivered(self) -> Undelivered | None:
        """After ``close``: the records this sink could not write, and where they are kept; None if none."""
        return None


N = TypeVar("N", bound=type[Node])


def node_type(name: str) -> Callable[[N], N]:
    """Mark a class as the node type ``name`` (``family.name``) for the registry to find."""
    if not TYPE_NAME.match(name):
        raise ValueError(f"node type name {name!r} must look like 'family.name' (lowercase)")

    def mark(cls: N) -> N:
        cls.type_name = name
        cls.__segflow_node__ = True  # type: ignore[attr-defined]
        return cls

    return mark
