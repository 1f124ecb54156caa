"""The baseline of bench/serve_requests.py: the server most people write first.

    python bench/naive_server.py PORT [MODEL]

FastAPI + ultralytics, the model loaded once and called once per request
(FastAPI runs the sync route on its thread pool, so concurrent requests call
the model concurrently, one image each, never batched). It answers the
detections' boxes and confidences, so it does strictly less work per image
than the segflow workflow it is compared with. ``MODEL`` (default: the shipped
``.pt``) may be an ONNX export, which ultralytics runs on onnxruntime: the
baseline for a segflow served on the same export (``runtime: compiled``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import uvicorn
from fastapi import FastAPI, File, HTTPException, UploadFile

MODEL = Path(__file__).resolve().parents[1] / "assets" / "models" / "coffee-stones-seg.pt"
PREDICT = {"imgsz": 320, "retina_masks": True, "conf": 0.35, "verbose": False}


def create_app(weights: Path = MODEL) -> FastAPI:
    from ultralytics import YOLO

    model = YOLO(str(weights), task="segment")
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/run")
    def run(image: UploadFile = File(...)) -> dict[str, list]:  # noqa: B008 - FastAPI's idiom
        pixels = cv2.imdecode(np.frombuffer(image.file.read(), np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            raise HTTPException(422, "not an image")
        result = model.predict(pixels, **PREDICT)[0]
        return {"boxes": result.boxes.xyxy.tolist(), "confidence": result.boxes.conf.tolist()}

    return app


if __name__ == "__main__":
    weights = Path(sys.argv[2]) if len(sys.argv) > 2 else MODEL
    uvicorn.run(create_app(weights), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
