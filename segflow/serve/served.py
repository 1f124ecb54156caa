"""A served workflow and its runs: one per set of input values, kept while they are asked for.

Input values are bound into params when a workflow is loaded (``$inputs.NAME``),
so requests that give the same values share one :class:`BatchedRun` (and its
micro-batches), and requests that give other values get a run of their own.
The most recently used :data:`MAX_BOUND_RUNS` runs are kept set up; an older
one is drained and closed. An image input that is the workflow's first source
is what the request's images feed, so it never makes a run of its own.

:meth:`Served.reload` swaps in a new version of the workflow without a gap:
every run gets a successor that sets up only the nodes that changed (the
others, models loaded, are taken over), requests already in flight finish on
the old version, and a version that does not load or set up leaves the old
one serving, with the reason kept in :attr:`Served.reload_error` and logged.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from segflow.engine.api import Workflow, load
from segflow.engine.masking import mask
from segflow.engine.workflow.issues import WorkflowError
from segflow.serve.batched import BatchedRun, Result, Retired, RunEnded

log = logging.getLogger("segflow")
MAX_BOUND_RUNS = 4


@dataclass
class Reloaded:
    """What a reload changed: nodes whose spec differs, nodes set up anew, nodes kept running."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    set_up: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    runs: int = 0


class NotReloaded(Exception):
    """A new version that cannot replace the served one (it does not set up, or it renames the workflow)."""


class Served:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.setups: Counter[str] = Counter()  # node id -> times set up (a model node: times its model loaded)
        self.reload_error = ""  # why the last reload was refused; "" once one succeeds
        self.version = 1
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one reload at a time, and no new run in the middle of one
        self._runs: OrderedDict[str, BatchedRun] = OrderedDict()
        self._fed = workflow.graph.source_ids[0] if workflow.graph.source_ids else None

    @property
    def name(self) -> str:
        return self.workflow.name

    def runs(self) -> list[tuple[str, BatchedRun]]:
        with self._lock:
            return list(self._runs.items())

    def _count(self, built: list[str]) -> None:
        with self._lock:
            self.setups.update(built)

    def _key(self, inputs: Mapping[str, Any]) -> str:
        return json.dumps({k: v for k, v in sorted(inputs.items()) if k != self._fed}, default=str)

    def submit(self, inputs: Mapping[str, Any], images: list[Any]) -> list[Future[Result]]:
        """Put a request's images into the run for its input values (raises WorkflowError, RunEnded)."""
        while True:
            run = self.run_for(inputs, images[0])
            try:
                return run.submit(images)
            except Retired:  # replaced by a reload, or evicted, after we found it: ask for the current one
                continue

    def run_for(self, inputs: Mapping[str, Any], first_image: Any = None) -> BatchedRun:
        """The run for these input values, bound and started on first use (raises WorkflowError)."""
        key = self._key(inputs)
        with self._lock:
            found = self._runs.get(key)
            if found is not None:
                self._runs.move_to_end(key)
        if found is None:
            found = self._new_run(key, inputs, first_image)
        found.start()
        return found

    def _bound(self, workflow: Workflow, given: Mapping[str, Any]) -> Workflow:
        return workflow.with_inputs(given) if given or not workflow.graph.bound else workflow

    def _new_run(self, key: str, inputs: Mapping[str, Any], first_image: Any) -> BatchedRun:
        given = {k: v for k, v in inputs.items() if k != self._fed}
        with self._reload_lock:
            if self._fed in self.workflow.graph.inputs and first_image is not None:
                given[self._fed] = first_image  # bound only to compile: the requests' images feed it
            run = BatchedRun(self._bound(self.workflow, given), given, self._count)
            evicted: list[BatchedRun] = []
            with self._lock:
                run = self._runs.setdefault(key, run)
                while len(self._runs) > MAX_BOUND_RUNS:
                    evicted.append(self._runs.popitem(last=False)[1])
        for old in evicted:
            old.stop()
        return run

    # --- reload ----------------------------------------------------------------------------
    def reload_file(self) -> Reloaded:
        """Load the workflow's file again and switch to it; on any refusal the old version keeps serving."""
        old = self.workflow
        try:
            workflow = load(old.file, old.overrides, old.registry, old.base_dir)
        except WorkflowError as exc:
            self._refused("\n".join(issue.format() for issue in exc.issues) or "the file cannot be read")
            raise
        return self.reload(workflow)

    def reload(self, workflow: Workflow) -> Reloaded:
        """Switch to ``workflow``: changed nodes set up beside the running ones, then a switch with no gap."""
        if workflow.name != self.name:
            self._refused(f"{workflow.file}: the workflow's name changed from '{self.name}' to '{workflow.name}'; "
                          "a server serves a workflow under its name: restart it to rename one")
            raise NotReloaded(self.reload_error)
        with self._reload_lock:
            if workflow.text == self.workflow.text and not self.reload_error:
                return Reloaded()  # the same text again (saved unchanged, or the watcher and a request both saw it)
            old_graph = self.workflow.graph
            changed = sorted(nid for nid, node in workflow.graph.nodes.items() if nid not in old_graph.nodes
                             or (node.cls, node.params, node.inputs) != (old_graph.nodes[nid].cls,
                                                                          old_graph.nodes[nid].params,
                                                                          old_graph.nodes[nid].inputs))
            done = Reloaded(changed, sorted(set(old_graph.nodes) - set(workflow.graph.nodes)))
            successors: list[tuple[str, BatchedRun, BatchedRun]] = []
            try:
                for key, old in self.runs():
                    new = BatchedRun(self._bound(workflow, old.inputs), old.inputs, self._count, previous=old)
                    successors.append((key, old, new))
                    new.start()
            except RunEnded as exc:  # an old run crashed meanwhile: nothing to hand over, try again
                self._abandon(successors)
                self._refused(f"{workflow.file}: {exc}; the previous version keeps serving, reload again")
                raise NotReloaded(self.reload_error) from exc
            except Exception as exc:  # a node of the new version did not set up (SetupError names it)
                self._abandon(successors)
                self._refused(f"{workflow.file}: {mask(str(exc))}")
                raise NotReloaded(self.reload_error) from exc
            with self._lock:
                self.workflow, self.version, self.reload_error = workflow, self.version + 1, ""
                self._fed = workflow.graph.source_ids[0] if workflow.graph.source_ids else None
                for key, _, new in successors:
                    self._runs[key] = new
            for _, old, new in successors:
                new.proceed()
                old.stop()  # retired: later requests go to the new run; those in flight finish here
                done.set_up = sorted(set(done.set_up) | set(new.built))
                done.kept = sorted(set(done.kept) | set(new.kept))
            done.runs = len(successors)
        log.info("reloaded %s (version %d): changed %s; set up %s; kept %s", workflow.file, self.version,
                 ", ".join(done.changed) or "nothing", ", ".join(done.set_up) or "nothing",
                 ", ".join(done.kept) or "nothing")
        return done

    @staticmethod
    def _abandon(successors: list[tuple[str, BatchedRun, BatchedRun]]) -> None:
        for _, _, new in successors:
            new.stop()  # never switched to: gives the nodes it took back to the old run

    def _refused(self, reason: str) -> None:
        self.reload_error = reason
        log.error("reload of workflow '%s' refused; the previous version keeps serving:\n%s", self.name, reason)

    def stop(self) -> None:
        for _, run in self.runs():
            run.stop()
