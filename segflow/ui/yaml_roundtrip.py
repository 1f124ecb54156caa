"""YAML in and out of the editor with the user's comments, key order and styles kept.

The engine reads workflows with PyYAML (safe, located errors); the editor must
also write them back, and a file a person wrote should come back as that
person wrote it, with only the edited values changed. ruamel.yaml's
round-trip mode keeps comments, key order, flow/block styles and quotes.

The text is first checked by the engine's own safe loader, so a document the
engine would refuse (a Python tag, a duplicate key) is refused here too, with
the same line and column.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from segflow.engine.workflow.yaml_source import load_yaml

FLOW_WIDTH = 72  # nested values shorter than this (as JSON) are written in flow style: {a: 1}


@dataclass(frozen=True)
class YamlProblem:
    line: int
    col: int
    message: str
    hint: str = ""

    def format(self) -> str:
        return f"line {self.line}, column {self.col}: {self.message}" + (f" ({self.hint})" if self.hint else "")


class YamlParseError(ValueError):
    """The text is not YAML the engine accepts; ``problems`` say where."""

    def __init__(self, problems: list[YamlProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(p.format() for p in problems))


@dataclass
class Style:
    """Indentation of the document, guessed on load and reused on dump."""

    mapping: int = 2
    sequence: int = 4
    offset: int = 2


def _yaml(style: Style) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a user's long line
    yaml.indent(mapping=style.mapping, sequence=style.sequence, offset=style.offset)
    return yaml


def loads(text: str) -> tuple[Any, Style]:
    """Parse ``text`` keeping comments; raise :class:`YamlParseError` with line numbers."""
    checked = load_yaml(text, "<editor>")
    if checked.issues:
        raise YamlParseError([
            YamlProblem(i.location.line if i.location else 1, i.location.col if i.location else 1,
                        i.message, i.hint)
            for i in checked.issues
        ])
    style = Style()
    try:
        _, sequence, offset = load_yaml_guess_indent(text)
        if sequence and offset is not None:
            style = Style(2, int(sequence), int(offset))
    except (YAMLError, TypeError, ValueError):
        pass
    try:
        data = _yaml(style).load(text)
    except YAMLError as exc:  # the engine's loader accepted it, so this is rare
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlParseError([YamlProblem(line, col, str(getattr(exc, "problem", exc)))]) from exc
    return (CommentedMap() if data is None else data), style


def dumps(data: Any, style: Style | None = None) -> str:
    stream = io.StringIO()
    _yaml(style or Style()).dump(data, stream)
    return stream.getvalue()


def merge_text(original: str, base: str, new: str) -> str:
    """Apply the change ``base`` -> ``new`` (two ruamel dumps) to ``original`` (the user's text).

    ruamel keeps comments and order but re-flows some layout (a flow mapping
    written over several lines comes out on one). A three-way line merge keeps
    the user's lines wherever the edit did not touch them, so an untouched
    document comes back byte for byte and an edit changes only its own lines.
    """
    if new == base:
        return original
    if not original:
        return new
    b_lines, o_lines, n_lines = base.splitlines(True), original.splitlines(True), new.splitlines(True)
    same_line: dict[int, int] = {}  # base line -> the identical original line
    block_of: dict[int, int] = {}  # base line -> index of a re-flowed block
    blocks: list[tuple[int, int, int, int]] = []
    only_original: dict[int, list[str]] = {}  # original lines with no base line, by base position
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b_lines, o_lines, autojunk=False).get_opcodes():
        if tag == "equal":
            same_line.update({i1 + k: j1 + k for k in range(i2 - i1)})
        elif i1 == i2:
            only_original.setdefault(i1, []).extend(o_lines[j1:j2])
        else:
            blocks.append((i1, i2, j1, j2))
            block_of.update({k: len(blocks) - 1 for k in range(i1, i2)})
    edits = SequenceMatcher(None, b_lines, n_lines, autojunk=False).get_opcodes()
    dirty: set[int] = set()  # re-flowed blocks the edit reaches: those take ruamel's layout
    for tag, i1, i2, _, _ in edits:
        if tag == "equal":
            continue
        dirty.update(block_of[k] for k in range(i1, i2) if k in block_of)
        if i1 == i2 and i1 in block_of and block_of.get(i1 - 1) == block_of[i1]:
            dirty.add(block_of[i1])
    out: list[str] = []
    done: set[int] = set()
    for tag, i1, i2, j1, j2 in edits:
        for k in range(i1, i2):
            out.extend(only_original.pop(k, []))
            if tag != "equal":
                continue
            if k in same_line:
                out.append(o_lines[same_line[k]])
            elif block_of[k] in dirty:
                out.append(n_lines[j1 + k - i1])
            elif block_of[k] not in done:
                done.add(block_of[k])
                out.extend(o_lines[blocks[block_of[k]][2]:blocks[block_of[k]][3]])
        if tag != "equal":
            out.extend(n_lines[j1:j2])
    for rest in only_original.values():
        out.extend(rest)
    return "".join(out)


def to_node(value: Any) -> Any:
    """A plain value as ruamel nodes: short nested values in flow style, like hand-written files."""
    if isinstance(value, dict):
        out: Any = CommentedMap((k, to_node(v)) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        out = CommentedSeq(to_node(v) for v in value)
    else:
        return value
    if len(_plain_repr(value)) <= FLOW_WIDTH:
        out.fa.set_flow_style()
    return out


def to_plain(value: Any) -> Any:
    """Plain dicts, lists, str, int and float from ruamel containers and scalars."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def _plain_repr(value: Any) -> str:
    import json

    return json.dumps(to_plain(value), default=str)
