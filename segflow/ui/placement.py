"""Where new nodes go on the canvas: never on top of a node already there.

A node added, pasted or duplicated that lands on another has to be dragged away
before anything else (about 10 of 58 actions to build a five-node workflow went to
that). So every placement asks here for the nearest free place: the wanted one,
else further down in small steps, then a column to the right. Nodes are taken as
boxes of ``NODE_W`` x ``NODE_H`` at their top-left corner (the browser measures
drawn nodes exactly; this side has only positions).
"""

from __future__ import annotations

from collections.abc import Iterable

NODE_W, NODE_H = 230, 140  # room a drawn node takes, for placing new ones where none is
STEP_Y = 40.0  # how far down each try moves
TRIES_PER_COLUMN = 20

Point = tuple[float, float]


def overlaps(xy: Point, placed: Iterable[Point]) -> bool:
    return any(abs(xy[0] - x) < NODE_W and abs(xy[1] - y) < NODE_H for x, y in placed)


def free_offset(group: list[Point], placed: Iterable[Point], start: Point, column: float,
                columns: int = 3) -> Point:
    """The shift that puts no node of ``group`` on a ``placed`` one.

    ``start`` first, then further down, then a column right; ``start`` itself when
    nothing within ``columns`` columns is free (a full canvas still gets its node).
    """
    taken = list(placed)
    for step in range(columns * TRIES_PER_COLUMN):
        dx = start[0] + (step // TRIES_PER_COLUMN) * column
        dy = start[1] + (step % TRIES_PER_COLUMN) * STEP_Y
        if not any(overlaps((x + dx, y + dy), taken) for x, y in group):
            return dx, dy
    return start


def free_spot(near: Point, placed: Iterable[Point], column: float) -> Point:
    """``near`` itself, or the closest spot below it (then right) where a new node covers no other."""
    dx, dy = free_offset([near], placed, (0.0, 0.0), column)
    return near[0] + dx, near[1] + dy
