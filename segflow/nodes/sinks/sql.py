"""``sink.sql``: frames and detections in a real database through SQLAlchemy.

SQLite is the embedded default (a file path; WAL journal, so readers such as
a dashboard never block the writer and a crash leaves the database
consistent); any SQLAlchemy URL works too (``postgresql://user@host/db``).
Three tables: ``runs`` (one row per run and sink), ``frames`` (every
frame that passed the gate) and ``detections``, indexed on time and class.
A frame arrives as one typed :class:`~segflow.delivery.records.FrameRecord`
(``per`` is always ``frame``); its rows are made from its attributes (run id,
time as a ``datetime``), never parsed back from text.
Rows are inserted in batched transactions: a batch is all there or absent.
A restart adds a run and appends; nothing is dropped or rewritten.

A database that goes away mid-run (a restart, an hour's outage) only delays
rows: records go through the same spool as the network sinks
(:mod:`segflow.delivery.remote`): a bounded memory queue that spills to
disk, and one sender thread that inserts batches oldest first, retrying with
backoff. Memory stays flat however long the outage; after it, every record
arrives once and in order. A batch whose fate is unknown (the connection
broke during the commit) is checked against the ``frames`` table before it is
sent again, so nothing is inserted twice.
"""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field, field_validator

from segflow.delivery.columns import column_problems, columns, record_names, select
from segflow.delivery.common import writable_problems
from segflow.delivery.records import FrameRecord
from segflow.delivery.remote import Rejected, RemoteParams, RemoteSink
from segflow.engine import node_type
from segflow.engine.masking import mask, remember_url
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.workflow.confine import writes_path

log = logging.getLogger(__name__)

DETECTION_COLUMNS = ("det_index", "class_id", "class", "confidence", "box", "tracker_id", "mask")


class SqlParams(RemoteParams):
    database: str = Field(
        "out/segflow.db",
        description="A SQLite file path, or an SQLAlchemy URL such as "
        "`postgresql+psycopg2://user:${PGPASSWORD}@host:5432/db` (`${VAR}` reads the environment).",
        json_schema_extra=writes_path(),
    )
    table_prefix: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_]*$",
        description="Put before the table names (runs, frames, detections) to share a database.",
    )
    mask: Literal["none", "rle", "polygon"] = Field(
        "none", description="Store each detection's mask as COCO RLE or polygons (JSON)."
    )
    per: Literal["frame"] = Field(
        "frame",
        description="Always `frame`: each frame is a row of `frames` and each of its detections a row of "
        "`detections` (for one flat record per detection, use sink.jsonl or sink.csv).",
    )

    @field_validator("per", mode="before")
    @classmethod
    def _always_frame(cls, per: Any) -> Any:
        if per != "frame":
            raise ValueError("sink.sql always writes each frame to `frames` and its detections to `detections`; "
                             "per can only be 'frame' (sink.jsonl or sink.csv write one record per detection)")
        return per


def is_url(database: str) -> bool:
    return "://" in database


def _tables(prefix: str) -> Any:
    """The schema (built lazily: SQLAlchemy is imported only when a SQL sink is used)."""
    from sqlalchemy import (
        JSON,
        BigInteger,
        Column,
        DateTime,
        Float,
        Index,
        Integer,
        MetaData,
        String,
        Table,
    )

    key = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only
    meta = MetaData()
    runs = Table(
        f"{prefix}runs",
        meta,
        Column("run_id", String(64), primary_key=True),
        Column("node_id", String(200), primary_key=True),
        Column("workflow", String(200)),
        Column("host", String(200)),
        Column("started_at", DateTime(timezone=True)),
        Column("ended_at", DateTime(timezone=True), nullable=True),
    )
    frames = Table(
        f"{prefix}frames",
        meta,
        Column("id", key, primary_key=True, autoincrement=True),
        Column("run_id", String(64), nullable=False),
        Column("source", String(200), nullable=False),
        Column("frame_index", BigInteger, nullable=False),
        Column("source_time", Float),
        Column("logged_at", DateTime(timezone=True)),
        Column("detection_count", Integer),
        Column("value", JSON, nullable=True),
        Index(f"ix_{prefix}frames_logged_at", "logged_at"),
        Index(f"ix_{prefix}frames_run_source_frame", "run_id", "source", "frame_index"),
    )
    detections = Table(
        f"{prefix}detections",
        meta,
        Column("id", key, primary_key=True, autoincrement=True),
        Column("record_id", String(200), nullable=False, unique=True),
        Column("run_id", String(64), nullable=False),
        Column("source", String(200), nullable=False),
        Column("frame_index", BigInteger, nullable=False),
        Column("source_time", Float),
        Column("logged_at", DateTime(timezone=True)),
        Column("det_index", Integer),
        Column("class_id", Integer, nullable=True),
        Column("class_name", String(200)),
        Column("confidence", Float, nullable=True),
        Column("x1", Float),
        Column("y1", Float),
        Column("x2", Float),
        Column("y2", Float),
        Column("tracker_id", BigInteger, nullable=True),
        Column("fields", JSON, nullable=True),
        Column("mask", JSON, nullable=True),
        Index(f"ix_{prefix}detections_logged_at", "logged_at"),
        Index(f"ix_{prefix}detections_class_name", "class_name"),
        Index(f"ix_{prefix}detections_run_source_frame", "run_id", "source", "frame_index"),
    )
    return meta, runs, frames, detections


def _expand(url: str) -> str:
    """``${VAR}`` in the URL read from the environment; its password is remembered for masking, both ways."""
    import os

    remember_url(url)
    expanded = os.path.expandvars(url)
    remember_url(expanded)
    return expanded


@node_type("sink.sql")
class SqlSink(RemoteSink):
    """Frames and detections into SQLite (default, WAL) or PostgreSQL, in batched transactions, spooled."""

    Params = SqlParams
    params: SqlParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        spool = super().check_params(params, context)
        return spool + cls._database_problems(params, context)

    @classmethod
    def _database_problems(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        if not is_url(params.database):
            return writable_problems(context.resolve(params.database), "database", params.min_free_mb)
        try:
            from sqlalchemy import create_engine
            from sqlalchemy.engine import make_url

            url = make_url(_expand(params.database))
            create_engine(url).dispose()  # loads the dialect and its driver; connects to nothing
        except ImportError as exc:
            return [ParamProblem("database", f"no driver for this database: {exc}", "pip install psycopg2-binary")]
        except Exception as exc:
            return [ParamProblem("database", f"not a database URL: {mask(str(exc))}",
                                 "e.g. postgresql://user@host/db (percent-encode @ / # ? : in the password)")]
        if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
            return writable_problems(context.resolve(url.database), "database", params.min_free_mb)
        return []

    def _url(self) -> Any:
        from sqlalchemy.engine import make_url

        if is_url(self.params.database):
            url = make_url(_expand(self.params.database))
            if url.drivername.startswith("sqlite") and url.database not in (None, "", ":memory:"):
                url = url.set(database=str(self.context.resolve(url.database)))
            return url
        path = self.context.resolve(self.params.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{path}")

    def target(self) -> str:
        url = getattr(self, "url", None)
        return url.render_as_string(hide_password=True) if url is not None else self.params.database

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        """``fields:`` chooses the ``detections.fields`` JSON of each row: named like a per-detection record's."""
        return column_problems(params.fields, record_names("detection", "detections" in wired, fields,
                                                           "value" in wired, params.mask != "none"))

    def items(self, record: FrameRecord) -> list[Any]:
        """The typed frame record itself: its rows are made at insert time, from its attributes."""
        return [record]

    def to_json(self, item: Any) -> Any:
        return item.to_json()

    def from_json(self, data: Any) -> Any:
        return FrameRecord.from_json(data)

    def open(self) -> None:
        """Open the database now: a wrong address or password fails the start, not an hour later."""
        from sqlalchemy import create_engine, event

        self._run_row = False
        self._unsure = True  # replayed batches may have been inserted before a crash: check first
        self.url = self._url()
        sqlite = self.url.drivername.startswith("sqlite")
        self.engine = create_engine(self.url, pool_pre_ping=not sqlite)
        if sqlite:

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA busy_timeout=10000")
                cursor.close()

        meta, self.runs, self.frames, self.detections = _tables(self.params.table_prefix)
        meta.create_all(self.engine)  # checkfirst: a restart finds the tables and appends
        with self.engine.begin() as conn:
            conn.execute(
                self.runs.insert().values(
                    run_id=self.context.run_id,
                    workflow=self.context.workflow_name,
                    node_id=self.node_id,
                    host=socket.gethostname(),
                    started_at=datetime.now(timezone.utc),
                )
            )
        self._run_row = True

    def write(self, items: list[Any]) -> None:
        """Insert one batch in one transaction; after a failure, skip the frames that did arrive."""
        from sqlalchemy import exc as sa_exc

        todo = self._not_yet_inserted(items) if self._unsure else items
        frames, detections = self._rows(todo, columns(self.params.fields))
        try:
            with self.engine.begin() as conn:  # one transaction: the batch is all there or absent
                if frames:
                    conn.execute(self.frames.insert(), frames)
                if detections:
                    conn.execute(self.detections.insert(), detections)
        except (sa_exc.DataError, sa_exc.IntegrityError) as exc:
            self._unsure = False
            raise Rejected(f"{self.target()} refused the rows: {type(exc.orig).__name__}") from exc
        except Exception:
            self._unsure = True  # the commit may or may not have happened
            raise
        self._unsure = False

    def _not_yet_inserted(self, records: list[FrameRecord]) -> list[FrameRecord]:
        from sqlalchemy import select

        keys = {(r.run_id, r.source, r.frame) for r in records}
        frames = self.frames.c
        query = select(frames.run_id, frames.source, frames.frame_index).where(
            frames.run_id.in_({k[0] for k in keys}),
            frames.frame_index.between(min(k[2] for k in keys), max(k[2] for k in keys)),
        )
        with self.engine.connect() as conn:
            present = {tuple(row) for row in conn.execute(query)}
        return [r for r in records if (r.run_id, r.source, r.frame) not in present]

    @staticmethod
    def _rows(records: list[FrameRecord], chosen: list[tuple[str, str]]) -> tuple[list[dict[str, Any]],
                                                                                   list[dict[str, Any]]]:
        frames, detections = [], []
        for r in records:
            where = {
                "run_id": r.run_id,
                "source": r.source,
                "frame_index": r.frame,
                "source_time": r.timestamp,
                "logged_at": r.logged_at,
            }
            count = None if r.detections is None else len(r.detections)
            frames.append({**where, "detection_count": count, "value": r.value})
            for det in r.detections or ():
                box = det["box"]
                detections.append(
                    {
                        **where,
                        "record_id": f"{r.record_id}-{det['det_index']}",
                        "det_index": det["det_index"],
                        "class_id": det["class_id"],
                        "class_name": det["class"],
                        "confidence": det["confidence"],
                        "x1": box[0],
                        "y1": box[1],
                        "x2": box[2],
                        "y2": box[3],
                        "tracker_id": det["tracker_id"],
                        "fields": (select({**det, "value": r.value}, chosen) if chosen else
                                   {k: v for k, v in det.items() if k not in DETECTION_COLUMNS} or None),
                        "mask": det.get("mask"),
                    }
                )
        return frames, detections

    def shutdown(self) -> None:
        """Note the run's end (when the database is there to take it) and close the pool."""
        engine = getattr(self, "engine", None)
        if engine is None:
            return
        try:
            from sqlalchemy import update

            if not self._run_row:
                return
            with engine.begin() as conn:
                conn.execute(
                    update(self.runs)
                    .where(self.runs.c.run_id == self.context.run_id, self.runs.c.node_id == self.node_id)
                    .values(ended_at=datetime.now(timezone.utc))
                )
        except Exception as exc:  # the database is down at the end: the rows wait in the spool anyway
            log.warning("%s '%s': cannot note the run's end in %s: %s", self.type_name, self.node_id,
                        self.target(), mask(str(exc)).splitlines()[0])
        finally:
            engine.dispose()
            self.engine = None
