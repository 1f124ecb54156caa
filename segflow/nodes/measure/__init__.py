"""Measurement node types: sizes in pixels and millimetres, and the lens correction they rely on."""
