"""The condition language: one grammar for every node that takes a condition or a frame value.

``filter.detections`` ``where``, ``relabel.detections`` rules' ``when``, every
sink's ``only_when`` and the values a line output writes are all written in it,
so ``class == stone`` means the same everywhere and a misspelt name is refused
by validation, before the run, wherever it is written. Parsing and name
checking live here, in the engine, because validation needs them; evaluation
over detections lives beside the nodes (:mod:`segflow.delivery.condition`).
Nothing is evaluated as Python, and text and nesting are bounded.

Grammar::

    expr    := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := sum [('==' | '!=') (words | sum) | ('<' | '<=' | '>' | '>=') sum | ['not'] 'in' list]
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := NUMBER | 'text' | "text" | true | false | NAME | FUNCTION '(' [expr (',' expr)*] ')' | '(' expr ')'
    list    := '[' item (',' item)* ']'      item := NUMBER | 'text' | true | false | words

Bare words after ``==``, ``!=`` and inside a list are text (``class == stone``,
``colour_name in [brown, dark orange, coffee-bean]``), unless they are a built-in name or
followed by arithmetic; anywhere else a word is a name. To compare two fields,
bracket the second: ``length_mm == (width_mm)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

MAX_LENGTH = 2000
"""Longest condition, in characters: a rule, not a program."""
MAX_DEPTH = 40
"""Deepest nesting of brackets and operators."""

IMAGE_NAMES = ("image_width", "image_height", "image_area")
"""The frame's size in pixels: they need the image (an ``image`` input, or masks to read it from)."""
FRAME_NAMES: dict[str, str] = {"count": "number", "frame": "number", "timestamp": "number", "source": "text",
                               **dict.fromkeys(IMAGE_NAMES, "number")}
"""Names of the frame (a ``value`` input adds ``value`` and ``value.key``)."""
BOX_NAMES = ("x1", "y1", "x2", "y2", "cx", "cy", "box_width", "box_height", "box_area", "aspect")
DETECTION_NAMES: dict[str, str] = {
    "class": "text", "class_id": "number", "confidence": "number", "tracker_id": "number",
    **dict.fromkeys(BOX_NAMES, "number"),
}
"""Names every detection has (a missing class id, confidence or tracker id reads as missing)."""
REDUCERS = ("count", "max", "min", "mean", "sum", "first")
"""Frame values over the detections: ``count(cond)`` counts those that pass; the others reduce a field."""
ELEMENTWISE = ("abs", "round")
"""Numbers to numbers, one per detection or per frame as their argument is: ``round(x)``, ``round(x, 2)``."""
FUNCTIONS = (*REDUCERS, *ELEMENTWISE)
"""Every function; ``min(a, b, ...)`` and ``max(a, b, ...)`` with two or more arguments compare them
value by value instead of reducing one field."""
_KEYWORDS = {"and", "or", "not", "in", "true", "false"}
_BUILT_IN = {*FRAME_NAMES, *DETECTION_NAMES, *FUNCTIONS, "value"}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<str>'[^']*'|\"[^\"]*\")"
    r"|(?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\+|-|\*|/)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*))"
)
Level = Literal["frame", "detection"]


class ConditionError(ValueError):
    """A mistake in a condition, with the column (1-based) it starts at and a hint at the fix."""

    def __init__(self, message: str, col: int = 0, hint: str = "") -> None:
        self.message, self.col, self.hint = message, col, hint
        super().__init__(f"{message} (column {col})" if col else message)


# -- the syntax tree: plain frozen data, so a compiled condition pickles to other workers --------
@dataclass(frozen=True)
class Lit:
    value: Any  # float | int | str | bool
    col: int
    bare: bool = False  # text written as bare words (``stone``), not quoted


@dataclass(frozen=True)
class ListLit:
    values: tuple[Any, ...]
    col: int


@dataclass(frozen=True)
class Name:
    name: str
    col: int


@dataclass(frozen=True)
class Call:
    fn: str
    arg: Expr | None
    col: int
    more: tuple[Expr, ...] = ()  # arguments after the first: min(a, b), round(x, 2)


@dataclass(frozen=True)
class Neg:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Not:
    operand: Expr
    col: int


@dataclass(frozen=True)
class Binary:
    """Arithmetic (``+ - * /``), a comparison (``== != < <= > >= in not_in``) or logic (``and or``)."""

    op: str
    left: Expr
    right: Expr
    col: int


Expr = Lit | ListLit | Name | Call | Neg | Not | Binary
ARITHMETIC = {"+", "-", "*", "/"}
ORDERING = {"<", "<=", ">", ">="}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    col: int


def _tokenize(text: str) -> list[_Tok]:
    tokens, pos = [], 0
    while text[pos:].strip():
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            col = len(text) - len(text[pos:].lstrip()) + 1
            char = text[col - 1]
            if char in "'\"":
                raise ConditionError(f"text starting with {char} has no closing {char}", col)
            hint = "compare with ==" if char == "=" else "names are letters, digits and _; quote other text"
            raise ConditionError(f"unexpected {char!r}", col, hint)
        kind = match.lastgroup or ""
        tokens.append(_Tok(kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    """Recursive descent over the tokens; every error says the column."""

    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.end = len(text) + 1

    def peek(self, ahead: int = 0) -> _Tok | None:
        i = self.i + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def at(self, *texts: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in ("op", "word") and tok.text in texts

    def take(self, text: str | None = None, wanted: str = "") -> _Tok:
        tok = self.peek()
        what = wanted or (repr(text) if text else "more")
        if tok is None:
            raise ConditionError(f"the condition ends early: expected {what}", self.end)
        if text is not None and tok.text != text:
            raise ConditionError(f"expected {what}, found {tok.text!r}", tok.col)
        self.i += 1
        return tok

    def nested(self, col: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested deeper than {MAX_DEPTH} levels", col, "split it into simpler rules")

    def expr(self) -> Expr:
        return self.logic("or", self.conjunction)

    def conjunction(self) -> Expr:
        return self.logic("and", self.negation)

    def logic(self, op: str, part: Any) -> Expr:
        left = part()
        while self.at(op):
            col = self.take().col
            left = Binary(op, left, part(), col)
        return left

    def negation(self) -> Expr:
        if self.at("not"):
            col = self.take().col
            self.nested(col)
            inner = self.negation()
            self.depth -= 1
            return Not(inner, col)
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.sum()
        tok = self.peek()
        if tok is None or tok.kind not in ("op", "word"):
            return left
        if tok.text in ("==", "!="):
            self.take()
            return Binary(tok.text, left, self.words() or self.sum(), tok.col)
        if tok.text in ORDERING:
            self.take()
            return Binary(tok.text, left, self.sum(), tok.col)
        if tok.text == "in" or (tok.text == "not" and self.peek(1) is not None and self.peek(1).text == "in"):  # type: ignore[union-attr]
            op = "in" if tok.text == "in" else "not_in"
            self.take()
            if op == "not_in":
                self.take("in")
            return Binary(op, left, self.list_literal(), tok.col)
        return left

    def sum(self) -> Expr:
        return self.arithmetic(("+", "-"), self.product)

    def product(self) -> Expr:
        return self.arithmetic(("*", "/"), self.unary)

    def arithmetic(self, ops: tuple[str, ...], part: Any) -> Expr:
        left = part()
        while self.at(*ops):
            tok = self.take()
            left = Binary(tok.text, left, part(), tok.col)
        return left

    def unary(self) -> Expr:
        if self.at("-"):
            col = self.take().col
            self.nested(col)
            operand = self.unary()
            self.depth -= 1
            if isinstance(operand, Lit) and _is_number(operand.value):
                return Lit(-operand.value, col)
            return Neg(operand, col)
        return self.atom()

    def atom(self) -> Expr:
        tok = self.take(wanted="a name, a number or text")
        if tok.kind == "num":
            return Lit(_number(tok.text), tok.col)
        if tok.kind == "str":
            return Lit(tok.text[1:-1], tok.col)
        if tok.text == "(":
            self.nested(tok.col)
            inner = self.expr()
            self.take(")", "')'")
            self.depth -= 1
            return inner
        if tok.kind == "word" and tok.text in ("true", "false"):
            return Lit(tok.text == "true", tok.col)
        if tok.kind != "word" or tok.text in _KEYWORDS:
            raise ConditionError(f"expected a name, a number or text, found {tok.text!r}", tok.col)
        if self.at("("):
            self.take()
            self.nested(tok.col)
            arg = None if self.at(")") else self.expr()
            more = []
            while arg is not None and self.at(","):
                self.take()
                more.append(self.expr())
            self.take(")", "',' or ')'")
            self.depth -= 1
            return Call(tok.text, arg, tok.col, tuple(more))
        return Name(tok.text, tok.col)

    def words(self) -> Lit | None:
        """Bare words as text (``stone``, ``dark orange``, ``coffee-bean``), or None for an expression.

        A built-in name (``box_width``), a function call or a word followed by arithmetic is an
        expression; so is any field in brackets: ``length_mm == (width_mm)``. A ``-`` with no space
        on either side joins words (``coffee-bean``); with spaces it subtracts.
        """
        tok = self.peek()
        if tok is None or tok.kind != "word" or tok.text in _KEYWORDS or tok.text in _BUILT_IN:
            return None
        nxt = self.peek(self.joined())
        if nxt is not None and nxt.text in ("(", *ARITHMETIC):
            return None
        parts, col = [], tok.col
        while (tok := self.peek()) is not None and tok.kind == "word" and tok.text not in _KEYWORDS:
            n = self.joined()
            parts.append("".join(t.text for t in self.tokens[self.i:self.i + n]))
            self.i += n
        return Lit(" ".join(parts), col, bare=True)

    def joined(self) -> int:
        """How many tokens from here make one word: ``coffee-bean`` is three, ``coffee - bean`` one."""
        n, tokens = 1, self.tokens
        while (self.i + n + 1 < len(tokens) and tokens[self.i + n].text == "-"
               and tokens[self.i + n + 1].kind in ("word", "num")
               and _touch(tokens[self.i + n - 1], tokens[self.i + n]) and _touch(tokens[self.i + n],
                                                                                  tokens[self.i + n + 1])):
            n += 2
        return n

    def list_literal(self) -> ListLit:
        start = self.take("[", "a list such as [stone, bean]")
        values = [self.item()]
        while self.at(","):
            self.take()
            values.append(self.item())
        self.take("]", "',' or ']'")
        return ListLit(tuple(values), start.col)

    def item(self) -> Any:
        words = self.words()
        if words is not None:
            return words.value
        value = self.unary()
        if not isinstance(value, Lit):
            raise ConditionError("a list holds numbers and text only", value.col)
        return value.value


def _touch(a: _Tok, b: _Tok) -> bool:
    return a.col + len(a.text) == b.col


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(text: str) -> int | float:
    return float(text) if any(c in text for c in ".eE") else int(text)


@lru_cache(maxsize=1024)
def parse(text: str) -> Expr | None:
    """The syntax tree of ``text`` (None for an empty condition, which always holds).

    Trees are frozen, so one parse serves the params model, validation and every node built from it.
    """
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"the condition is {len(text):,} characters; the limit is {MAX_LENGTH:,}",
                             hint="split it over several rules or nodes")
    parser = _Parser(text)
    if not parser.tokens:
        return None
    tree = parser.expr()
    tok = parser.peek()
    if tok is not None:
        raise ConditionError(f"unexpected {tok.text!r}: expected 'and', 'or' or the end", tok.col,
                             "quote text that holds spaces or other characters: 'a b'" if tok.kind == "word" else "")
    return tree
