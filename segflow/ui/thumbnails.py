"""A node's last output as a few hundred bytes for the canvas: a tiny JPEG, or a count.

The canvas shows on each node what it produced in the last run: the picture
for image outputs, the number of detections, the rows of a table. The whole
graph payload is sent to the browser on every rerun, so a thumbnail must stay
small (at most WIDTH px wide, low JPEG quality) and is made once per result.
Play asks for the footers of its latest frame from another thread, twice a
second: the cache is locked, and keeps the thumbnails of the last few results only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from segflow.engine.crops import Crops
from segflow.engine.execution.session import SessionResult
from segflow.engine.frame import Frame
from segflow.ui import media
from segflow.ui.results import crops_picture

WIDTH = 120  # px, the widest a thumbnail image may be
QUALITY = 70
KEPT_RESULTS = 4  # the editor's last run, and Play's latest frames

# id(result) -> (the result, kept so its id stays unique; node id -> thumbnail)
_cache: OrderedDict[int, tuple[SessionResult, dict[str, dict[str, Any] | None]]] = OrderedDict()
_lock = threading.Lock()


def of_value(value: Any) -> dict[str, Any] | None:
    """``{"image": data-URL}``, ``{"text": "12 detections"}``, or None for nothing worth showing."""
    if isinstance(value, Frame):
        url = jpeg_data_url(value.pixels)
        return {"image": url} if url else None
    if isinstance(value, Crops):
        url = jpeg_data_url(crops_picture(value))
        return {"image": url, "count": len(value)} if url else None
    if hasattr(value, "xyxy") and hasattr(value, "data"):
        n = len(value)
        return {"text": f"{n} detection" + ("" if n == 1 else "s"), "count": n}
    if isinstance(value, (list, tuple)) and value and all(isinstance(r, dict) for r in value):
        return {"text": f"{len(value)} row" + ("" if len(value) == 1 else "s"), "count": len(value)}
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return {"text": f"{value:g}" if isinstance(value, float) else str(value)}
    return None


def jpeg_data_url(pixels: Any) -> str | None:
    import cv2

    array = np.asarray(pixels)
    if array.ndim not in (2, 3) or array.size == 0:
        return None
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    h, w = array.shape[:2]
    if w > WIDTH:
        array = cv2.resize(array, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
    try:
        return media.jpeg_data_url(array, QUALITY)
    except media.MediaError:
        return None


def for_node(result: SessionResult, node_id: str) -> dict[str, Any] | None:
    """The node's first output worth showing: an image first, else a count."""
    with _lock:
        kept = _cache.get(id(result))
        if kept is not None and node_id in kept[1]:
            return kept[1][node_id]
    found = _first_worth_showing(result.outputs.get(node_id, {}))
    with _lock:
        kept = _cache.get(id(result))
        if kept is None:
            kept = _cache[id(result)] = (result, {})
            while len(_cache) > KEPT_RESULTS:
                _cache.popitem(last=False)
        kept[1][node_id] = found
    return found


def _first_worth_showing(outputs: dict[str, Any]) -> dict[str, Any] | None:
    for prefer_image in (True, False):
        for value in outputs.values():
            if prefer_image != isinstance(value, Frame):
                continue
            found = of_value(value)
            if found:
                return found
    return None
