"""Seeded, deterministic generators of synthetic scenes with exact ground truth.

The project ships no downloaded data or weights; everything the example
workflows and the shipped coffee-stones model need is rendered here, so the
ground truth (masks, counts, lengths in mm, colours) is known by construction.
"""

MM_PER_PX = 0.25
"""Scale of every generated conveyor scene: 0.25 mm per pixel (640 px = 160 mm)."""
