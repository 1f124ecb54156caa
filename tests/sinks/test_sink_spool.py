"""The spool: memory then disk, order kept across spills, restarts and crashes."""

from __future__ import annotations

from pathlib import Path

import pytest

from segflow.delivery.remote import Backoff
from segflow.delivery.spool import Spool


def recs(a: int, b: int) -> list[dict]:
    return [{"record_id": str(i), "n": i} for i in range(a, b)]


def drain(spool: Spool, size: int = 3) -> list[int]:
    got = []
    while (batch := spool.take(size)) is not None:
        got.extend(r["n"] for r in batch.items)
        spool.commit()
    return got


@pytest.mark.parametrize("memory", [0, 1, 4, 100])
def test_order_survives_spilling(tmp_path: Path, memory: int) -> None:
    spool = Spool(tmp_path, memory_limit=memory, segment_bytes=60)
    for a in range(0, 30, 3):
        spool.put(recs(a, a + 3))
    assert len(spool) == 30
    assert (spool.disk_count > 0) is (memory < 30)
    assert drain(spool, size=4) == list(range(30))
    assert len(spool) == 0 and not list(tmp_path.glob("*.jsonl"))  # finished segments are removed


def test_a_batch_in_flight_when_memory_spills_keeps_its_place(tmp_path: Path) -> None:
    spool = Spool(tmp_path, memory_limit=3)
    spool.put(recs(0, 3))
    first = spool.take(2)  # 0, 1 in flight from memory
    assert [r["n"] for r in first.items] == [0, 1]
    spool.put(recs(3, 7))  # memory overflows: in-flight, 2, 3..6 go to disk in this order
    assert spool.take(2) is first  # the sender retries the same batch
    spool.commit()
    assert drain(spool) == [2, 3, 4, 5, 6]


def test_close_and_restart_replays_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path, memory_limit=5, segment_bytes=80)
    spool.put(recs(0, 12))
    spool.take(4)
    spool.commit()  # 0..3 delivered
    spool.take(4)  # 4..7 in flight, never acknowledged
    spool.put(recs(12, 14))
    spool.close()
    again = Spool(tmp_path, memory_limit=5)
    assert len(again) == 10
    again.put(recs(14, 16))
    assert drain(again) == list(range(4, 16))


def test_crash_between_send_and_commit_resends_and_repairs_a_torn_line(tmp_path: Path) -> None:
    spool = Spool(tmp_path, memory_limit=0)
    spool.put(recs(0, 6))
    spool.take(2)
    spool.commit()
    spool.take(2)  # 2, 3 sent; the process dies before commit
    segment = next(tmp_path.glob("*.jsonl"))
    with open(segment, "ab") as f:
        f.write(b'{"record_id":"6","n"')  # a spill torn by kill -9
    again = Spool(tmp_path, memory_limit=0)
    assert drain(again, size=10) == [2, 3, 4, 5]


@pytest.mark.parametrize(
    ("initial", "maximum", "expected"),
    [(1.0, 60.0, [1, 2, 4, 8, 16, 32, 60, 60]), (0.5, 3.0, [0.5, 1, 2, 3, 3, 3, 3, 3])],
)
def test_backoff(initial: float, maximum: float, expected: list[float]) -> None:
    backoff = Backoff(initial, maximum)
    assert [backoff.next() for _ in expected] == expected
    backoff.reset()
    assert backoff.next() == initial
