"""A model file's class names, read without loading the model or running any of its code.

Validation uses them to refuse ``classes: [person]`` on a model that only
knows ``stone`` before the run, instead of at start. Two formats say their
names in data:

- an ultralytics ``.pt`` checkpoint is a zip holding a pickle; the model object
  in it keeps ``names`` (``{0: 'stone', ...}``) in its state. The pickle is read
  with an unpickler whose every class is an inert stand-in, so nothing the file
  names is imported or called; only plain data (dicts, text, numbers) is real.
- an ultralytics ``.onnx`` export keeps ``names`` in the model's metadata,
  read here from the protobuf's top-level fields (the graph is skipped by length).

Anything else (a TensorRT engine, an OpenVINO folder, a name to download, a
file this cannot read) gives None: the names are then checked when the model loads.
"""

from __future__ import annotations

import ast
import io
import pickle
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_PICKLE_BYTES = 64 * 2**20
"""Largest ``data.pkl`` read for names (a YOLO checkpoint's is well under a MiB; the weights are elsewhere)."""


def class_names(path: Path) -> dict[int, str] | None:
    """``{id: name}`` as the model file says, or None when it cannot be told without loading the model."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".pt", ".pth") and zipfile.is_zipfile(path):
            return _checkpoint_names(path)
        if suffix == ".onnx" and path.is_file():
            return _names(_onnx_metadata(path.read_bytes()).get("names"))
    except (OSError, ValueError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, RecursionError):
        return None
    return None


# -- .pt: the pickle, with inert classes -------------------------------------------------------------
class _Inert:
    """What every class in the pickle becomes: it keeps its arguments, state and items, and does nothing.

    A pickle may make one without ``__init__`` (``NEWOBJ``), so every attribute is optional.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:  # an OrderedDict's items
        self.__dict__.setdefault("items", {})[key] = value

    def append(self, value: Any) -> None:
        items = self.__dict__.setdefault("items", {})
        items[len(items)] = value

    def extend(self, values: Any) -> None:
        for value in values:
            self.append(value)


class _InertUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        return type(name, (_Inert,), {})  # never the real class: nothing is imported

    def persistent_load(self, pid: Any) -> Any:
        return None  # tensor storages live in other zip members: not needed for names


def _checkpoint_names(path: Path) -> dict[int, str] | None:
    with zipfile.ZipFile(path) as archive:
        member = next((i for i in archive.infolist() if i.filename.endswith("/data.pkl")
                       or i.filename == "data.pkl"), None)
        if member is None or member.file_size > MAX_PICKLE_BYTES:
            return None
        data = archive.read(member)
    root = _InertUnpickler(io.BytesIO(data)).load()
    return next((names for names in map(_names, _values_named("names", root)) if names), None)


def _values_named(key: str, root: Any, limit: int = 200_000) -> Iterator[Any]:
    """Every value stored under ``key`` in a dict anywhere in ``root`` (breadth first, bounded)."""
    queue, seen = [root], 0
    while queue and seen < limit:
        item = queue.pop(0)
        seen += 1
        if isinstance(item, _Inert):
            queue += list(vars(item).values())
        elif isinstance(item, dict):
            if key in item:
                yield item[key]
            queue += list(item.values())
        elif isinstance(item, (list, tuple)):
            queue += list(item)


def _names(value: Any) -> dict[int, str] | None:
    """``{id: name}`` from a dict (or its text, as ONNX metadata holds it), else None."""
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)  # data, never code
        except (ValueError, SyntaxError):
            return None
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if isinstance(value, dict) and value and all(isinstance(k, int) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    return None


# -- .onnx: ModelProto.metadata_props (field 14) ---------------------------------------------------------
def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(data) or shift > 63:
            raise ValueError("truncated protobuf")
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """The top-level ``(field number, value)`` pairs of a protobuf message."""
    at = 0
    while at < len(data):
        tag, at = _varint(data, at)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, value
        elif wire == 2:
            length, at = _varint(data, at)
            yield number, data[at:at + length]
            at += length
        elif wire in (1, 5):
            at += 8 if wire == 1 else 4
        else:
            raise ValueError(f"protobuf wire type {wire} not expected in an ONNX model")


def _onnx_metadata(data: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for number, value in _fields(data):
        if number == 14 and isinstance(value, bytes):
            entry = {n: v for n, v in _fields(value) if isinstance(v, bytes)}
            out[entry.get(1, b"").decode("utf-8", "replace")] = entry.get(2, b"").decode("utf-8", "replace")
    return out
