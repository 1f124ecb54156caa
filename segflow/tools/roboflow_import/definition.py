"""Reading a Roboflow Workflows definition: the JSON, its steps in order, where each sits in the file.

A definition is ``{version, inputs, steps, outputs}`` (an export may wrap it
in ``{"specification": ...}``). Everything said about it later names a step
and a line (``def.json:12:7: step 'model': ...``), so the text positions of
steps and their fields are found here once. A file that is not a definition
is a :class:`DefinitionError` with every problem at once, never a traceback.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

from segflow.engine.workflow.issues import located
from segflow.tools.roboflow_import.selectors import step_selector, steps_named

MAX_BYTES = 20_000_000


@dataclass(frozen=True)
class Problem:
    """One thing said about the definition, located: an error, or a part left out (``severity``)."""

    file: str
    line: int
    col: int
    step: str | None
    text: str
    hint: str = ""
    severity: str = "error"
    noun: str = "step"

    def format(self) -> str:
        return located(f"{self.file}:{self.line}:{self.col}", self.text, self.hint, self.step, self.noun,
                       "" if self.severity == "error" else self.severity)


class DefinitionError(Exception):
    """The definition cannot be converted at all; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.format() for p in problems))


@dataclass
class Step:
    """One entry of ``steps``: its name, block type and fields, and where it starts in the file."""

    name: str
    type: str
    body: dict[str, Any]
    line: int
    col: int
    offset: int

    def reads(self) -> set[str]:
        """The steps this one takes data from (its selectors, at any depth)."""
        return steps_named({k: v for k, v in self.body.items() if k not in ("type", "name", "next_steps")})


@dataclass
class Definition:
    path: Path
    text: str
    inputs: list[dict[str, Any]]
    steps: list[Step]
    outputs: list[dict[str, Any]]
    version: str = ""
    order: list[str] = field(default_factory=list)

    def at(self, step: Step | None, key: str | None = None, error: str = "", hint: str = "",
           severity: str = "error") -> Problem:
        """A problem at ``step`` (at its field ``key`` where found), or at the file's start."""
        offset = step.offset if step else 0
        if key is not None:
            found = re.compile(rf'"{re.escape(key)}"\s*:').search(self.text, offset)
            if found:
                offset = found.start()
        line, col = position(self.text, offset)
        if step is not None and step.type == "JsonField":  # an entry of `outputs`, not a step
            return Problem(str(self.path), line, col, str(step.body.get("name")), error, hint, severity, "output")
        return Problem(str(self.path), line, col, step.name if step else None, error, hint, severity)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


def position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def load(path: Path) -> Definition:
    """The definition in ``path``, its steps in an order where each comes after what it reads."""
    problems: list[Problem] = []
    where = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DefinitionError([Problem(where, 1, 1, None, f"the file is over {MAX_BYTES // 1_000_000} MB",
                                           "a workflow definition is a few KB of JSON")])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DefinitionError([Problem(where, 1, 1, None, f"cannot read the definition: {exc}")]) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError([Problem(where, exc.lineno, exc.colno, None, f"not JSON: {exc.msg}",
                                       "export the workflow's JSON definition from Roboflow (Workflows -> Deploy)")
                               ]) from exc
    if isinstance(data, dict) and isinstance(data.get("specification"), dict):
        data = data["specification"]
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        raise DefinitionError([Problem(where, 1, 1, None, "not a Roboflow Workflows definition: "
                                       "expected an object with 'version', 'inputs', 'steps' and 'outputs'")])
    steps: list[Step] = []
    offset = 0
    seen: set[str] = set()
    for index, raw in enumerate(data["steps"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not isinstance(raw.get("type"), str):
            problems.append(Problem(where, 1, 1, None, f"steps[{index}] needs a 'type' and a 'name'"))
            continue
        spellings = {json.dumps(raw["name"], ensure_ascii=False), json.dumps(raw["name"])}  # UTF-8 or \u escapes
        quoted = "|".join(re.escape(s) for s in spellings)
        found = re.compile(rf'"name"\s*:\s*(?:{quoted})').search(text, offset)
        start = found.start() if found else offset
        offset = found.end() if found else offset
        line, col = position(text, start)
        step = Step(raw["name"], raw["type"], raw, line, col, start)
        if step.name in seen:
            problems.append(Problem(where, line, col, step.name, "a second step of this name"))
        seen.add(step.name)
        steps.append(step)
    definition = Definition(path, text, _entries(data, "inputs"), steps, _entries(data, "outputs"),
                            str(data.get("version", "")))
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for step in steps:
        sorter.add(step.name, *(n for n in step.reads() if n in seen and n != step.name))
        for target in (step.body.get("next_steps") or []) if step.type in CONTINUE_IF else []:
            sel = step_selector(target)
            if sel and sel[0] in seen:
                sorter.add(sel[0], step.name)
    try:
        definition.order = list(sorter.static_order())
    except CycleError as exc:
        problems.append(definition.at(definition.step(exc.args[1][0]), None, "the steps read each other in a cycle: "
                                      + " -> ".join(exc.args[1])))
    if problems:
        raise DefinitionError(problems)
    return definition


CONTINUE_IF = ("ContinueIf", "roboflow_core/continue_if@v1")


def _entries(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [e for e in data.get(key) or [] if isinstance(e, dict)]
