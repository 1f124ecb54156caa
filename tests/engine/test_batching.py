import queue
from dataclasses import dataclass

import pytest

from segflow.engine.execution.batching import END, MicroBatcher


@dataclass
class Item:
    name: str
    enqueued: float


class FakeQueue:
    """Items arrive at given times; waiting advances a fake clock instead of sleeping."""

    def __init__(self, arrivals):
        self.arrivals = list(arrivals)  # (time, item)
        self.now = 0.0

    def clock(self):
        return self.now

    def get(self, timeout):
        if not self.arrivals:
            if timeout is None:
                raise AssertionError("would block forever")
            self.now += timeout
            raise queue.Empty
        at, item = self.arrivals[0]
        if timeout is not None and at > self.now + timeout:
            self.now += timeout
            raise queue.Empty
        self.now = max(self.now, at)
        self.arrivals.pop(0)
        return item


def items(*times):
    return [(t, Item(f"i{n}", t)) for n, t in enumerate(times)]


@pytest.mark.parametrize(
    ("size", "wait", "arrivals", "expected_sizes"),
    [
        (4, 0.010, items(0, 0.001, 0.002, 0.003, 0.004), [4, 1]),  # full batches first
        (4, 0.010, items(0, 0.020, 0.021), [1, 2]),  # the wait expires before the second arrives
        (4, 0.010, items(0, 0.005, 0.009, 0.011), [3, 1]),  # deadline counted from the first arrival
        (1, 1.000, items(0, 0, 0), [1, 1, 1]),  # size one never waits
        (8, 0.000, items(0, 0, 0, 0.001), [3, 1]),  # zero wait takes only what is already there
    ],
)
def test_batch_sizes(size, wait, arrivals, expected_sizes):
    fake = FakeQueue(arrivals + [(99.0, END)])
    batcher = MicroBatcher(size, wait, fake.clock)
    sizes = []
    while True:
        batch = batcher.collect(fake.get)
        if batch.items:
            sizes.append(len(batch.items))
        if batch.ended:
            break
    assert sizes == expected_sizes


def test_late_items_do_not_wait_again():
    # The worker was busy: the first item has waited past its deadline already.
    fake = FakeQueue(items(0, 0.001))
    fake.now = 0.5
    batch = MicroBatcher(8, 0.010, fake.clock).collect(fake.get)
    assert [i.name for i in batch.items] == ["i0", "i1"]
    assert fake.now == pytest.approx(0.5)  # took what was waiting, never slept


def test_end_marker_flushes_a_partial_batch():
    fake = FakeQueue(items(0, 0.001) + [(0.002, END)])
    batch = MicroBatcher(8, 1.0, fake.clock).collect(fake.get)
    assert len(batch.items) == 2 and batch.ended


def test_size_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(0, 0.0, lambda: 0.0)


@dataclass
class Weighed:
    name: str
    enqueued: float
    weight: int


@pytest.mark.parametrize(
    ("size", "weights", "expected"),
    [
        (12, [6, 6, 6, 6], [["a", "b"], ["c", "d"]]),  # two packets of six crops fill twelve
        (12, [5, 6, 4, 7], [["a", "b"], ["c", "d"]]),  # the one that would overflow starts the next batch
        (4, [9, 1, 1], [["a"], ["b", "c"]]),  # heavier than a batch: alone (the node splits it)
        (4, [0, 0, 2], [["a", "b", "c"]]),  # a packet with no crops still counts one
    ],
)
def test_batches_fill_by_weight_never_past_the_size(size, weights, expected):
    arrivals = [(0.0, Weighed(chr(ord("a") + n), 0.0, w)) for n, w in enumerate(weights)]
    fake = FakeQueue(arrivals + [(99.0, END)])
    batcher = MicroBatcher(size, 1.0, fake.clock, weight=lambda item: item.weight)
    got = []
    while True:
        batch = batcher.collect(fake.get)
        if batch.items:
            got.append([item.name for item in batch.items])
        if batch.ended:
            break
    assert got == expected
