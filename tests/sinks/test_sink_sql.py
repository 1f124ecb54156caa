"""sink.sql on SQLite (WAL) and on a real PostgreSQL server started by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
import supervision as sv
from sinkkit import feed, make_node, rendered_detections

from segflow.engine import NodeError
from segflow.engine.node import RunContext
from segflow.nodes.sinks.sql import SqlSink


def fill(node: SqlSink, frames: int = 4) -> None:
    dets = rendered_detections()
    for i in range(frames):
        feed(node, i, dets if i % 2 == 0 else sv.Detections.empty(), value={"mean": float(i)})
    node.close()


def check_contents(url: str, runs: int, frames_per_run: int) -> None:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from runs")).scalar() == runs
        assert conn.execute(sa.text("select count(*) from runs where ended_at is null")).scalar() == 0
        rows = conn.execute(sa.text("select frame_index, detection_count, value from frames order by id")).all()
        assert [(r[0], r[1]) for r in rows] == [(i, 3 if i % 2 == 0 else 0) for i in range(frames_per_run)] * runs
        dets = conn.execute(
            sa.text(
                "select class_name, confidence, x1, y1, x2, y2, tracker_id, fields from detections "
                "where frame_index = 2 order by id"
            )
        ).all()
        assert len(dets) == 3 * runs
        bean = dets[1]
        assert bean[0] == "bean" and bean[1] == pytest.approx(0.42, abs=1e-6)
        assert tuple(bean[2:6]) == (41.0, 21.0, 59.0, 39.0) and bean[6] == 8
        fields = bean[7] if isinstance(bean[7], dict) else __import__("json").loads(bean[7])
        assert fields["length_mm"] == 4.5 and fields["colour_lab"] == [60.0, 3.0, 4.0]
        stones = conn.execute(sa.text("select count(*) from detections where class_name = 'stone'")).scalar()
        assert stones == 2 * 2 * runs  # two stones on each of frames 0 and 2
        names = {ix["name"] for ix in sa.inspect(conn).get_indexes("detections")}
        assert {"ix_detections_logged_at", "ix_detections_class_name"} <= names
    engine.dispose()


def test_sqlite_default_wal_and_restart_appends(tmp_path: Path) -> None:
    fill(make_node(SqlSink, tmp_path, batch_size=2))
    db = tmp_path / "out/segflow.db"
    assert db.exists()
    fill(make_node(SqlSink, tmp_path, batch_size=3))
    url = f"sqlite:///{db}"
    check_contents(url, runs=2, frames_per_run=4)
    with sa.create_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_postgresql(postgres_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        for table in ("detections", "frames", "runs"):
            conn.execute(sa.text(f"drop table if exists {table}"))
    engine.dispose()
    fill(make_node(SqlSink, tmp_path, database=postgres_url, batch_size=2))
    fill(make_node(SqlSink, tmp_path, database=postgres_url, batch_size=64))
    check_contents(postgres_url, runs=2, frames_per_run=4)


def test_masks_and_table_prefix(tmp_path: Path) -> None:
    node = make_node(SqlSink, tmp_path, database="m.db", table_prefix="line1_", mask="rle")
    feed(node, 0, rendered_detections())
    node.close()
    with sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}").connect() as conn:
        masks = conn.execute(sa.text("select mask from line1_detections order by id")).scalars().all()
    import json

    counts = [json.loads(m)["counts"] for m in masks]
    assert [sum(c[1::2]) for c in counts] == [int(m.sum()) for m in rendered_detections().mask]


@pytest.mark.parametrize(
    ("database", "problem"),
    [
        ("ok/x.db", None),
        ("blocker/x.db", "is a file, not a folder"),
        ("sqlite:///blocker/y.db", "is a file, not a folder"),
        ("postgresql+psycopg2://u@127.0.0.1:1/db", None),  # checked for form, not reached yet
        ("nosuchdb://x", "not a database URL"),
    ],
)
def test_check_params(tmp_path: Path, database: str, problem: str | None) -> None:
    (tmp_path / "blocker").write_text("x")
    problems = SqlSink.check_params(SqlSink.Params(database=database), RunContext(base_dir=tmp_path))
    if problem is None:
        assert problems == []
    else:
        assert problems and problem in problems[0].message and problems[0].field == "database"


def test_unreachable_server_is_a_clear_start_error(tmp_path: Path) -> None:
    with pytest.raises(
        NodeError,
        match=r"sink.sql 'sink': cannot open postgresql\+psycopg2://u:\*\*\*@127.0.0.1:1/db",
    ):
        make_node(SqlSink, tmp_path, database="postgresql+psycopg2://u:secret@127.0.0.1:1/db")


def test_close_after_a_failed_setup_is_quiet(tmp_path: Path) -> None:
    node = SqlSink(
        "db",
        SqlSink.Params(database="postgresql+psycopg2://u@127.0.0.1:1/db"),
        RunContext(base_dir=tmp_path),
    )
    with pytest.raises(NodeError):
        node.setup()
    node.close()
    SqlSink("db", SqlSink.Params(), RunContext(base_dir=tmp_path)).close()  # never set up


def test_value_only_frames(tmp_path: Path) -> None:
    node = make_node(SqlSink, tmp_path, database="v.db")
    for i in range(3):
        feed(node, i, value={"mean": i})
    node.close()
    with sa.create_engine(f"sqlite:///{tmp_path / 'v.db'}").connect() as conn:
        rows = conn.execute(sa.text("select frame_index, detection_count, value from frames")).all()
    assert [(r[0], r[1], __import__("json").loads(r[2])) for r in rows] == [(i, None, {"mean": i}) for i in range(3)]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_database_down_for_a_while_mid_run(postgres_server, tmp_path: Path) -> None:
    """Stop the real server mid-run, keep feeding, restart it: every record once, in order, memory flat."""
    engine = sa.create_engine(postgres_server.url)
    with engine.begin() as conn:
        conn.execute(sa.text("drop table if exists outage_runs, outage_frames, outage_detections"))
    engine.dispose()
    node = make_node(SqlSink, tmp_path, database=postgres_server.url, table_prefix="outage_", batch_size=200,
                     memory_records=200, flush_interval_s=0.05, backoff_initial_s=0.05, backoff_max_s=0.2,
                     drain_timeout_s=120)
    dets = rendered_detections()
    sent = {"left": 0, "right": 0}

    def feed_frames(count: int) -> None:
        for _ in range(count):
            for source in sent:
                feed(node, sent[source], dets, source=source)
                sent[source] += 1

    try:
        feed_frames(100)
        postgres_server.stop()  # the database goes away: inserts fail, the spool takes the records
        feed_frames(500)  # warm-up: the spool's memory part fills, the allocator settles
        before = rss_mb()
        feed_frames(3_000)  # 6,000 records with 3 detections each: far more than memory_records
        grown = rss_mb() - before
        print(f"RSS grew {grown:.1f} MB while 6,000 records waited")
        assert len(node.outbox.spool) > 6_000 and node.outbox.spool.disk_count > 5_500  # waiting on disk, not in memory
    finally:
        postgres_server.start()
    feed_frames(100)
    node.close()  # drains the spool into the database that is back
    assert node.undelivered() is None
    # kept in memory, 6,000 such records take about 19 MB (3 KB each): a spool on disk stays well under it
    assert grown < 8, f"RSS grew {grown:.1f} MB while the database was down"
    engine = sa.create_engine(postgres_server.url)
    with engine.connect() as conn:
        for source, count in sent.items():
            frames = conn.execute(sa.text("select frame_index from outage_frames where source = :s order by id"),
                                  {"s": source}).scalars().all()
            assert frames == list(range(count))  # each once, in order
        dets_n = conn.execute(sa.text("select count(*) from outage_detections")).scalar()
        assert dets_n == 3 * sum(sent.values())
    engine.dispose()
