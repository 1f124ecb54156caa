"""What a node's footer on the canvas says about one run: how it went, its output in brief, and on which frame.

Footers reach the canvas two ways, built here for both: after a step or a run,
the page's rerun sends the editor's last run (``canvas.payload``); during Play,
which costs no rerun, the frame view relays the player's latest frame from the
status it asks for twice a second (``viewer_server``'s ``/status``). The frame
index is in every footer, so a footer that lags the picture says so.
"""

from __future__ import annotations

from typing import Any

from segflow.engine.execution.session import NodeRun, SessionResult
from segflow.ui import thumbnails


def of_run(result: SessionResult, frame: int | None) -> dict[str, dict[str, Any]]:
    """Node id -> ``{status, text, thumb, frame}`` for every node of ``result``."""
    return {node_id: footer(result, run, frame) for node_id, run in result.runs.items()}


def footer(result: SessionResult, run: NodeRun, frame: int | None) -> dict[str, Any]:
    text = {"ran": f"ran in {run.seconds * 1000:.1f} ms", "cached": "cached (unchanged)",
            "failed": f"failed: {run.error}", "skipped": "did not run",
            "off": "sink (off in previews)"}[run.status]
    thumb = thumbnails.for_node(result, run.node_id) if run.status in ("ran", "cached") else None
    return {"status": run.status, "text": text, "thumb": thumb, "frame": frame}
