"""Node types that cut frames into crops and tiles for a second model, and stitch its results back."""
