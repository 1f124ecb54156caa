"""The ``only_when`` language: a small, safe condition over one frame's findings.

Operators want "write only when a stone is seen" without Python: no ``eval``,
no attribute access, nothing that can run code. The grammar is::

    expr       := term ('or' term)*
    term       := factor ('and' factor)*
    factor     := 'not' factor | '(' expr ')' | comparison | operand
    comparison := operand ('=='|'!='|'<'|'<='|'>'|'>='|'in'|'not in') literal
    operand    := NAME | 'count' '(' literal ')'
    literal    := NUMBER | 'quoted' | "quoted" | WORD | true | false | '[' literal, ... ']'

Frame names: ``count`` (detections in the frame), ``count(stone)`` (detections of
one class), ``frame``, ``timestamp``, ``source`` and ``value`` / ``value.key``
(the sink's value input). Any other name (``class``, ``confidence``,
``tracker_id``, ``length_mm``...) is a detection field: a condition that uses
one holds when it holds for at least one detection of the frame.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FRAME_NAMES = {"count", "frame", "timestamp", "source", "value"}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.\-]*))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}
Env = Mapping[str, Any]
Test = Callable[[Env], bool]


class ConditionError(ValueError):
    """A condition that does not parse: says where and what was expected."""


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"unexpected character {text[pos:].strip()[0]!r} at column {pos + 1}")
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class Condition:
    """A compiled condition; ``Condition("count > 0")(frame_env, detection_envs)``."""

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self._tokens = _tokenize(self.text)
        self._i = 0
        self.detection_names: set[str] = set()
        if not self._tokens:
            self._test: Test = lambda env: True
            return
        self._test = self._expr()
        if self._i < len(self._tokens):
            tok = self._tokens[self._i]
            raise ConditionError(f"unexpected {tok.text!r} at column {tok.pos + 1}: expected 'and', 'or' or the end")

    def __call__(self, frame: Env, detections: list[Env]) -> bool:
        """Whether the frame passes: once for frame names, else for any detection."""
        if not self.detection_names:
            return self._test(frame)
        return any(self._test({**frame, **det}) for det in detections)

    # -- parser: recursive descent over the tokens ---------------------------------
    def _peek(self) -> _Tok | None:
        return self._tokens[self._i] if self._i < len(self._tokens) else None

    def _take(self, text: str | None = None) -> _Tok:
        tok = self._peek()
        if tok is None:
            wanted = repr(text) if text else "more"
            raise ConditionError(f"condition ends early: expected {wanted}")
        if text is not None and tok.text != text:
            raise ConditionError(f"expected {text!r} at column {tok.pos + 1}, found {tok.text!r}")
        self._i += 1
        return tok

    def _is_word(self, word: str) -> bool:
        tok = self._peek()
        return tok is not None and tok.kind == "word" and tok.text == word

    def _expr(self) -> Test:
        parts = [self._term()]
        while self._is_word("or"):
            self._take()
            parts.append(self._term())
        return parts[0] if len(parts) == 1 else (lambda env: any(p(env) for p in parts))

    def _term(self) -> Test:
        parts = [self._factor()]
        while self._is_word("and"):
            self._take()
            parts.append(self._factor())
        return parts[0] if len(parts) == 1 else (lambda env: all(p(env) for p in parts))

    def _factor(self) -> Test:
        if self._is_word("not"):
            self._take()
            inner = self._factor()
            return lambda env: not inner(env)
        tok = self._peek()
        if tok is not None and tok.text == "(":
            self._take()
            inner = self._expr()
            self._take(")")
            return inner
        getter = self._operand()
        nxt = self._peek()
        op = nxt.text if nxt is not None else ""
        if self._is_word("not"):
            self._take()
            self._take("in")
            op = "not in"
        elif op in _COMPARE and (nxt is not None and nxt.kind in ("op", "word")):
            self._take()
        else:
            return lambda env: bool(getter(env))
        literal = self._literal()
        compare = _COMPARE[op]
        if op in ("in", "not in") and not isinstance(literal, (list, str)):
            raise ConditionError(f"'{op}' needs a list such as [stone, bean]")

        def test(env: Env) -> bool:
            value = getter(env)
            if value is None:
                return op == "!=" or op == "not in"
            try:
                return bool(compare(_coerce(value, literal), literal))
            except TypeError:
                return False

        return test

    def _operand(self) -> Callable[[Env], Any]:
        tok = self._take()
        if tok.kind != "word" or tok.text in ("and", "or", "in", "true", "false"):
            raise ConditionError(
                f"expected a name such as 'count' or 'class' at column {tok.pos + 1}, found {tok.text!r}"
            )
        name = tok.text
        nxt = self._peek()
        if name == "count" and nxt is not None and nxt.text == "(":
            self._take("(")
            cls = str(self._literal())
            self._take(")")
            return lambda env: sum(1 for c in env.get("_classes", ()) if c == cls)
        head = name.split(".", 1)[0]
        if head not in FRAME_NAMES:
            self.detection_names.add(name)
        return lambda env: _lookup(env, name)

    def _literal(self) -> Any:
        tok = self._take()
        if tok.kind == "num":
            return float(tok.text) if any(c in tok.text for c in ".eE") else int(tok.text)
        if tok.kind == "str":
            return tok.text[1:-1]
        if tok.text == "[":
            items = [self._literal()]
            while self._peek() is not None and self._peek().text == ",":  # type: ignore[union-attr]
                self._take(",")
                items.append(self._literal())
            self._take("]")
            return items
        if tok.kind == "word":
            return {"true": True, "false": False}.get(tok.text, tok.text)
        raise ConditionError(f"expected a value at column {tok.pos + 1}, found {tok.text!r}")


def _lookup(env: Env, name: str) -> Any:
    if name in env:
        return env[name]
    value: Any = env
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _coerce(value: Any, literal: Any) -> Any:
    """Compare like with like: a class id against ``stone`` compares as text."""
    if isinstance(literal, str) and not isinstance(value, str):
        return str(value)
    if isinstance(literal, list) and literal and isinstance(literal[0], str):
        return str(value)
    return value


def parse_condition(text: str) -> Condition:
    """Compile ``text``; raises :class:`ConditionError` with the column of the mistake."""
    return Condition(text)


def checked_condition(field: str, text: str) -> str:
    """A params validator's body: ``text`` itself when it parses, else a ValueError naming the field."""
    try:
        Condition(text)
    except ConditionError as exc:
        raise ValueError(f"{field} {text!r}: {exc}") from exc
    return text
