"""A served workflow and its runs: one per set of input values, kept while they are asked for.

Input values are bound into params when a workflow is loaded (``$inputs.NAME``),
so requests that give the same values share one :class:`BatchedRun` (and its
micro-batches), and requests that give other values get a run of their own.
The most recently used :data:`MAX_BOUND_RUNS` runs are kept set up; an older
one is drained and closed. An image input that is the workflow's first source
is what the request's images feed, so it never makes a run of its own.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from segflow.engine.api import Workflow
from segflow.serve.batched import BatchedRun

MAX_BOUND_RUNS = 4


class Served:
    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self._lock = threading.Lock()
        self._runs: OrderedDict[str, BatchedRun] = OrderedDict()
        self._fed = workflow.graph.source_ids[0] if workflow.graph.source_ids else None

    @property
    def name(self) -> str:
        return self.workflow.name

    def runs(self) -> list[tuple[str, BatchedRun]]:
        with self._lock:
            return list(self._runs.items())

    def _key(self, inputs: Mapping[str, Any]) -> str:
        return json.dumps({k: v for k, v in sorted(inputs.items()) if k != self._fed}, default=str)

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

    def _new_run(self, key: str, inputs: Mapping[str, Any], first_image: Any) -> BatchedRun:
        given = {k: v for k, v in inputs.items() if k != self._fed}
        workflow = self.workflow
        if given or not workflow.graph.bound:
            if self._fed in workflow.graph.inputs and first_image is not None:
                given[self._fed] = first_image  # bound only to compile: the requests' images feed it
            workflow = workflow.with_inputs(given)
        run = BatchedRun(workflow)
        evicted: list[BatchedRun] = []
        with self._lock:
            run = self._runs.setdefault(key, run)
            while len(self._runs) > MAX_BOUND_RUNS:
                evicted.append(self._runs.popitem(last=False)[1])
        for old in evicted:
            old.stop()
        return run

    def stop(self) -> None:
        for _, run in self.runs():
            run.stop()
