"""Engine-free maths and files that nodes, tools and the editor share.

Mask geometry, sub-pixel edges, colour maths, calibration, YOLO box and mask decoding, the overlap
and union of detections' boxes and masks, datasets,
the model store. Rule: nothing here imports the engine's execution, a node, a tool or the UI;
each module is testable on numpy arrays alone.
"""
