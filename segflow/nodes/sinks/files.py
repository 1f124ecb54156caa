"""``sink.jsonl`` and ``sink.csv``: records as lines in files that rotate and survive crashes.

Both append to the configured file (a restart continues it), write whole
lines only (see :mod:`segflow.delivery.linefile`) and rotate by size or record
count. A CSV file's header is the union of the fields its records carry and
never changes inside one file: a record with a new field starts a new file
whose header adds it, rather than shifting columns under an old header.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from segflow.delivery.base import RecordSink
from segflow.delivery.common import FileParams, RecordParams, writable_problems
from segflow.delivery.linefile import LineFile, first_line
from segflow.delivery.records import BASE_FIELDS, DETECTION_FIELDS, dumps
from segflow.engine import node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.engine.workflow.confine import writes_path


class FileSinkParams(RecordParams, FileParams):
    path: str = Field(..., description="The file to append to (relative to the working directory).",
                      json_schema_extra=writes_path())
    rotate_mb: float = Field(
        0.0,
        ge=0,
        description="Start a new file when this one would pass this size in MiB (0 = never).",
    )
    rotate_records: int = Field(0, ge=0, description="Start a new file after this many records (0 = never).")


class FileSink(RecordSink):
    """A record sink writing lines to one rotating file."""

    Params = FileSinkParams
    params: FileSinkParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        return writable_problems(context.resolve(params.path), "path", params.min_free_mb)

    def target(self) -> str:
        return str(self.context.resolve(self.params.path))

    def header_line(self) -> str | None:
        return None

    def open(self) -> None:
        p = self.params
        self.file = LineFile(
            self.context.resolve(p.path),
            rotate_bytes=int(p.rotate_mb * 2**20),
            rotate_records=p.rotate_records,
            header=self.header_line if type(self).header_line is not FileSink.header_line else None,
        )
        self.file.open()

    def sync(self) -> None:
        self.file.sync()

    def shutdown(self) -> None:
        file = getattr(self, "file", None)
        if file is not None:
            file.close()


@node_type("sink.jsonl")
class JsonlSink(FileSink):
    """Append one JSON object per line: per detection or per frame, with every field."""

    def write(self, records: list[dict[str, Any]]) -> None:
        self.file.write([dumps(r) + "\n" for r in records])


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """CSV cells: ``box`` becomes x1..y2, nested dicts ``a.b`` columns, lists JSON text.

    A per-frame record's ``detections`` list is one column of JSON text, last in
    the row: a frame is one line, as asked, and nothing of it is dropped.
    """
    cells: dict[str, Any] = {}
    for key, value in record.items():
        name = prefix + key
        if key == "box" and not prefix and isinstance(value, list) and len(value) == 4:
            cells.update(zip(("x1", "y1", "x2", "y2"), value, strict=True))
        elif isinstance(value, Mapping) and key != "mask":
            cells.update(flatten(value, name + "."))
        elif isinstance(value, (list, dict)):
            cells[name] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, str):
            cells[name] = value.replace("\r", "\\r").replace("\n", "\\n")  # one record, one line
        else:
            cells[name] = "" if value is None else value
    return cells


_FIRST = [
    *BASE_FIELDS,
    *(f for f in DETECTION_FIELDS if f != "box"),
    "x1",
    "y1",
    "x2",
    "y2",
    "count",
]


def ordered_union(header: list[str], rows: list[dict[str, Any]], as_given: bool = False) -> list[str]:
    """``header`` plus the new fields of ``rows``: known fields first (unless ``as_given``), then first-seen order."""
    seen = set(header)
    extra: list[str] = []
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                extra.append(key)
    if header or as_given:  # as_given: the sink's `fields:` set the order
        return header + extra
    return [f for f in _FIRST if f in seen] + [f for f in extra if f not in _FIRST]


class CsvParams(FileSinkParams):
    delimiter: str = Field(",", min_length=1, max_length=1, description="The field separator.")


@node_type("sink.csv")
class CsvSink(FileSink):
    """Append rows to a CSV file whose header is the union of the fields, stable within a file."""

    Params = CsvParams
    params: CsvParams

    def open(self) -> None:
        self.header: list[str] = []
        super().open()
        existing = first_line(self.file.path) if self.file.size else ""
        if existing:
            self.header = next(csv.reader([existing], delimiter=self.params.delimiter))

    def header_line(self) -> str | None:
        return self._line(self.header) if self.header else None

    def _line(self, cells: list[Any]) -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=self.params.delimiter, lineterminator="\n").writerow(cells)
        return out.getvalue()

    def write(self, records: list[dict[str, Any]]) -> None:
        rows = [flatten(r) for r in records]
        header = ordered_union(self.header, rows, as_given=bool(self.params.fields))
        if header != self.header:
            if self.file.size:
                self.file.rotate()  # a new field: a new file, never a shifted column
            self.header = header
        self.file.write([self._line([row.get(f, "") for f in header]) for row in rows])
