"""What goes over the wire between ``segflow serve`` and its clients, typed once for both sides.

Only pydantic here: the client imports it without the server's dependencies.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RunRequest(BaseModel):
    """``POST /workflows/{name}/run`` as JSON: images as base64 text (a ``data:`` URL is fine)."""

    images: list[str] = Field(..., min_length=1, description="Encoded images (PNG, JPEG, ...) as base64.")
    inputs: dict[str, Any] = Field(default_factory=dict, description="Values of the workflow's inputs.")
    annotated: bool = Field(False, description="Also return the image each sink received (JPEG, base64).")


class ImageResult(BaseModel):
    """One image's results: per sink the records it would write, per sink its image when asked."""

    index: int
    records: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)
    errors: list[str] = Field(default_factory=list)
    annotated: dict[str, str] = Field(default_factory=dict)

    def detections(self, sink: str | None = None) -> list[dict[str, Any]]:
        """The per-detection records of ``sink`` (default: the first sink that wrote any)."""
        for name, rows in self.records.items():
            if sink in (None, name):
                found = [d for r in rows for d in (r.get("detections") or [r]) if "det_index" in d]
                if found or sink is not None:
                    return found
        return []


class RunResponse(BaseModel):
    workflow: str
    results: list[ImageResult]


class WorkflowInfo(BaseModel):
    name: str
    file: str
    description: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    version: int = Field(1, description="1, then one more at each reload that took effect.")
    setups: dict[str, int] = Field(default_factory=dict,
                                   description="Per node, how often it was set up (a model node: its model loaded).")
    reload_error: str = Field("", description="Why the last reload was refused (located); empty once one succeeds.")


class ReloadResult(BaseModel):
    """``POST /workflows/{name}/reload``: what changed, what was set up anew, what kept running."""

    workflow: str
    version: int
    changed: list[str] = Field(default_factory=list, description="Nodes whose type, params or inputs changed.")
    removed: list[str] = Field(default_factory=list)
    set_up: list[str] = Field(default_factory=list, description="Nodes set up anew (models loaded).")
    kept: list[str] = Field(default_factory=list, description="Nodes taken over running, models loaded.")
    runs: int = Field(0, description="Runs (one per set of input values) switched to the new version.")


class PipelineRequest(BaseModel):
    """Start a pipeline: a served workflow by name, or a whole workflow as YAML text."""

    workflow: str | None = None
    yaml: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)


class PipelineUpdate(BaseModel):
    yaml: str


class PipelineInfo(BaseModel):
    id: str
    workflow: str
    state: str
    error: str = ""
    healthy: bool = False
    sources: dict[str, Any] = Field(default_factory=dict)
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    frames_done: int = Field(0, description="Frames through since the pipeline started, across every change.")
    generation: int = Field(0, description="Restarts so far (a change applied live is not one).")
    swaps: list[dict[str, Any]] = Field(default_factory=list, description="Each change: how, the nodes, and "
                                        "at_frames (frames_done when it was made).")


class UpdateResult(BaseModel):
    how: str = Field(..., description="'live': params applied in place; 'restarted': drained and resumed.")
    nodes: list[str]
    pipeline: PipelineInfo
