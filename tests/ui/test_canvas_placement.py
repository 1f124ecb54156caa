"""Where new nodes go: the wanted place when free, else the nearest free one down, then right."""

from __future__ import annotations

import pytest

from segflow.ui.placement import NODE_H, STEP_Y, free_offset, free_spot, overlaps


@pytest.mark.parametrize(("near", "placed", "expected"), [
    ((40.0, 40.0), [], (40.0, 40.0)),                              # empty canvas: where asked
    ((40.0, 40.0), [(600.0, 40.0)], (40.0, 40.0)),                 # a node elsewhere: where asked
    ((40.0, 40.0), [(40.0, 40.0)], (40.0, 40.0 + 4 * STEP_Y)),    # on a node: down until clear (140 px)
    ((40.0, 40.0), [(40.0, 40.0 + y) for y in range(0, 1000, 100)], (40.0 + 250, 40.0)),  # a full column: right
])
def test_free_spot(near, placed, expected):
    assert free_spot(near, placed, 250) == expected
    assert placed == [] or not overlaps(free_spot(near, placed, 250), placed)


def test_a_group_moves_as_one_until_none_of_it_covers_a_node():
    group = [(0.0, 0.0), (300.0, 60.0)]
    placed = [(340.0, 100.0)]  # under the second node's place at the start offset (40, 40)
    dx, dy = free_offset(group, placed, (40.0, 40.0), 250)
    assert dx == 40.0 and dy > 40.0
    assert not any(overlaps((x + dx, y + dy), placed) for x, y in group)
    assert 60.0 + dy - 100.0 >= NODE_H  # the second node now clears the placed one by a node's height


def test_no_free_place_within_reach_keeps_the_start():
    wall = [(float(x), float(y)) for x in range(0, 2000, 100) for y in range(0, 2000, 100)]
    assert free_offset([(0.0, 0.0)], wall, (40.0, 40.0), 250) == (40.0, 40.0)
