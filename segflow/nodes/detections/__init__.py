"""Node types that work on detections: filter, relabel, merge, track, zones, annotate."""
