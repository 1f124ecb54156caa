"""Model node types: detectors and segmenters, micro-batched (YOLO, SAM 2, GrabCut, threshold)."""
