"""Run hooks: how progress bars, metrics exporters and editors watch a run.

Every method takes keyword arguments and ``**future_kwargs``, so adding an
argument later never breaks a hook someone else wrote. Executors start hooks
through :func:`start_hooks`, which also keeps hooks written for the old
``on_start(workflow=<name>)`` working (with a DeprecationWarning) until
:data:`WORKFLOW_KWARG_REMOVED_IN`.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Protocol

from segflow.engine.frame import PacketInfo
from segflow.engine.node import SourceHealth
from segflow.engine.observe.metrics import RunReport


class SourceWatch(Protocol):
    """What ``on_start(sources=...)`` maps each source id to.

    A :class:`~segflow.engine.node.SourceNode` when the source runs in this
    process; a view of its last reported state when it runs in a Ray shard.
    """

    def health(self) -> SourceHealth:
        """The source's state now; called from a monitoring thread, so read only."""


class RunHooks:
    """Base class with no-op methods; override what you need."""

    def on_start(self, *, workflow_name: str, total_frames: int | None, **future_kwargs: Any) -> None:
        """The graph is set up and sources are about to start; ``workflow_name`` is the workflow's ``name``.

        Executors also pass ``node_metrics`` (a zero-argument callable returning the
        live :class:`~segflow.engine.observe.metrics.NodeMetrics` of every node, sources
        included) and ``sources`` (source id -> :class:`SourceWatch`, whose ``health()`` a
        monitor may read from its own thread).
        """

    def on_packet_done(self, *, info: PacketInfo, values: dict[Any, Any], frames_done: int,
                       **future_kwargs: Any) -> None:
        """A packet left the graph (called from a worker thread: keep it quick)."""

    def on_failure(self, *, node: str, node_type: str, info: PacketInfo | None, error: str,
                   **future_kwargs: Any) -> None:
        """A node failed on one packet (or a source failed)."""

    def on_end(self, *, report: RunReport, **future_kwargs: Any) -> None:
        """The run is over and every node is closed."""


class HookList(RunHooks):
    def __init__(self, hooks: list[RunHooks]) -> None:
        self.hooks = hooks

    def on_start(self, **kwargs: Any) -> None:
        for hook in self.hooks:
            start_hooks(hook, **kwargs)

    def on_packet_done(self, **kwargs: Any) -> None:
        for hook in self.hooks:
            hook.on_packet_done(**kwargs)

    def on_failure(self, **kwargs: Any) -> None:
        for hook in self.hooks:
            hook.on_failure(**kwargs)

    def on_end(self, **kwargs: Any) -> None:
        for hook in self.hooks:
            hook.on_end(**kwargs)


WORKFLOW_KWARG_REMOVED_IN = "0.3.0"
"""The release in which ``on_start`` stops passing the workflow's name as ``workflow``."""


def start_hooks(hook: RunHooks, *, workflow_name: str, **kwargs: Any) -> None:
    """Call ``hook.on_start``: what every executor does, so old and new hooks are told alike.

    ``on_start`` once passed the workflow's *name* as ``workflow``, the word that means the workflow
    object everywhere else; it is now ``workflow_name``. A hook whose ``on_start`` still names a
    ``workflow`` parameter gets the name there too, with a DeprecationWarning, until
    :data:`WORKFLOW_KWARG_REMOVED_IN`. (A hook that reads ``kwargs["workflow"]`` from ``**kwargs``
    cannot be told apart from one that ignores it: it must read ``workflow_name``.)
    """
    parameters = inspect.signature(hook.on_start).parameters
    if "workflow" in parameters and "workflow_name" not in parameters:
        warnings.warn(
            f"{type(hook).__qualname__}.on_start takes `workflow`, which is now `workflow_name` (the workflow's "
            f"name): rename the parameter; `workflow` is no longer passed from segflow {WORKFLOW_KWARG_REMOVED_IN}",
            DeprecationWarning,
            stacklevel=2,
        )
        kwargs["workflow"] = workflow_name
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            hook.on_start(**kwargs)
            return
    hook.on_start(workflow_name=workflow_name, **kwargs)
