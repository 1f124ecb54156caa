"""User text on its way into a message, a file name or a format: one function for each way.

A workflow comes from someone the edge box must not trust blindly: a type name
of a million characters, a node id holding a right-to-left override or a
newline, a workflow ``name:`` of ``../../x``, a label ``{length_mm:-999999999}``
that asks for a gigabyte of padding. Every message shows user text through
:func:`shorten` (cut, its length said, invisible and control characters
escaped), every name that becomes part of a path goes through :func:`path_part`,
and every format template a param holds is checked by :func:`check_template`
before anything runs. One place each, so a new node or sink cannot forget one
of the rules.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from typing import Any

# C0/C1 controls and the characters that reorder or hide text (bidi overrides and isolates, zero
# width, line/paragraph separators, BOM): shown raw they let a name disguise itself or a message.
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"  # all but tab and newline
_INVISIBLE = "\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff"
UNSAFE = re.compile(f"[\t\n{_CONTROLS}{_INVISIBLE}]")
UNSAFE_IN_LINES = re.compile(f"[{_CONTROLS}{_INVISIBLE}]")
MESSAGE_LIMIT = 4000
"""The longest message (log line, validation issue) shown whole; a longer one is cut and its length said."""


def _escaped(match: re.Match[str]) -> str:
    return match.group(0).encode("unicode_escape").decode("ascii")


def shorten(text: str, limit: int = 120, lines: bool = False) -> str:
    r"""``text`` as a message shows it: cut at ``limit`` with its length said, hidden characters escaped.

    A newline, a bidi override or a NUL is shown as ``\n``, ``\u202e``, ``\x00``, so a value
    cannot fake a second line or reverse what follows it. ``lines`` keeps newlines and tabs (a
    whole message of several lines, not one value inside it).
    """
    cut = text if len(text) <= limit else text[:limit]
    shown = (UNSAFE_IN_LINES if lines else UNSAFE).sub(_escaped, cut)
    return shown if len(text) <= limit else f"{shown}... ({len(text):,} characters)"


def message(text: str) -> str:
    """A whole message (several lines allowed) as it may be printed or logged."""
    return shorten(text, MESSAGE_LIMIT, lines=True)


PATH_PART_BYTES = 100
"""The longest name one path component made from user text may take (a file system allows 255)."""


def path_part(name: str, default: str = "_") -> str:
    """``name`` made safe as ONE path component: no separator, no ``..``, no hidden file, not too long.

    Letters (any script), digits, ``- _ .`` are kept, anything else becomes ``_``; a leading dot
    becomes ``_``, so ``..`` and ``.`` can never climb or stay in place. A name over
    :data:`PATH_PART_BYTES` bytes is cut and given a short hash of the whole, so two long names
    that share a beginning stay apart.
    """
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    safe = re.sub(r"^\.", "_", safe) or default
    if len(safe.encode("utf-8")) <= PATH_PART_BYTES:
        return safe
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    head = safe.encode("utf-8")[: PATH_PART_BYTES - len(digest) - 1].decode("utf-8", "ignore")
    return f"{head}-{digest}"


MAX_FORMAT_WIDTH = 200
"""The widest field or highest precision a template may ask for: a label is a line, not a gigabyte."""
FORMAT_SPEC = re.compile(
    r"(?:(?P<fill>.)?[<>=^])?[-+ ]?z?#?0?(?P<width>\d+)?[,_]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?",
    re.DOTALL,
)


def check_template(template: str, what: str, samples: Mapping[str, Any] | None = None, suffix: str = "") -> str:
    """``template`` if it is a format string safe to fill in, else ``ValueError`` saying why.

    Only plain field names (no ``{0}``, ``{a.b}`` or ``{a[0]}``), no nested ``{}`` inside a
    spec, and each spec one Python understands with a width and a precision of at most
    :data:`MAX_FORMAT_WIDTH`. With ``samples`` (a value of each field's type), only their
    names may be used and the template is filled with them once, so a spec that does not
    suit its field (``{source:d}``) is caught too. ``suffix`` is a spec ending a node adds
    (annotate's ``+-``).
    """
    shown = shorten(repr(template), 80)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"{what} {shown}: {exc} (write literal braces as {{{{ and }}}})") from exc
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if conversion not in (None, "r", "s", "a"):
            raise ValueError(f"{what} {shown}: '!{shorten(conversion, 10)}' is no conversion (only !r, !s, !a)")
        if not name.isidentifier():
            raise ValueError(f"{what} {shown}: '{{{shorten(name, 40)}}}' is not a field name "
                             "(only plain names, no positions, attributes or indexes)")
        if samples is not None and name not in samples:
            known = ", ".join(f"{{{f}}}" for f in samples)
            raise ValueError(f"{what} {shown} uses {{{shorten(name, 40)}}}; only {known} exist")
        spec = spec or ""
        if suffix and spec.endswith(suffix):
            spec = spec[: -len(suffix)]
        if "{" in spec or "}" in spec:
            raise ValueError(f"{what} {shown}: the format of {{{name}}} holds a nested field")
        match = FORMAT_SPEC.fullmatch(spec)
        if match is None:
            raise ValueError(f"{what} {shown}: ':{shorten(spec, 40)}' is not a format Python understands")
        for part in ("width", "precision"):
            if match[part] is not None and int(match[part]) > MAX_FORMAT_WIDTH:
                raise ValueError(f"{what} {shown}: the {part} of {{{name}}} is {shorten(match[part], 20)}; "
                                 f"at most {MAX_FORMAT_WIDTH}")
    if samples is not None:
        try:
            template.format(**samples)
        except ValueError as exc:
            raise ValueError(f"{what} {shown}: {exc}") from exc
    return template
