"""A seeded mutation fuzzer over workflow files: what a careless or hostile user could write.

Each mutant is a shipped workflow with one to three mutations: lines deleted,
duplicated, swapped or re-indented; a value replaced by a wrong-typed or
extreme one; aliases (also recursive ones and bombs); deep nesting; long
strings; binary garbage; a big file. And the hostile families of issue 23: a
giant or control-character string in any string field (node ids and types
too), a format spec in any template, ``../`` in any name, an image source
over a folder of images whose headers lie about their size (``BOMBS``), and
a model that is a hostile pickle (``PICKLES``). The same seed gives the same
mutants, so a failure is reproduced by its seed and index alone.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

ODD_VALUES = [
    "-1", "0", "1e308", "-1e308", ".nan", ".inf", "-.inf", "''", "true", "false", "null", "~", "[]", "{}",
    "[1, [2, [3]]]", "{a: {b: {c: 1}}}", "9223372036854775808", "-9223372036854775809", "0x1F", "0o17",
    "'${UNSET_SEGFLOW_VAR}'", "'../../../etc/passwd'", "/dev/zero", "/dev/full", "'ünïcødé ✓'", "'\\t'",
    "!!binary aGVsbG8=", "!!python/object/apply:os.system ['true']", "!!set {a, b}", "2026-01-01",
    "'a.b.c'", "'.'", "'node.'", "'.port'", "*undefined_alias", "&anchor 1", "\"\\x00\"", "'%s%s%n'",
]  # fmt: skip
LINE = re.compile(r"^(?P<indent>\s*)(?P<key>[^:#\s][^:#]*):\s*(?P<value>.*)$")


@dataclass(frozen=True)
class Mutant:
    source: str  # the shipped workflow it came from
    index: int
    operations: tuple[str, ...]
    text: str | bytes


def _lines(text: str) -> list[str]:
    return text.split("\n")


def delete_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def indent_line(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines[i] = rng.choice(["  ", "    ", "\t", " "]) + lines[i] if rng.random() < 0.6 else lines[i].lstrip()
    return "\n".join(lines)


def odd_value(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if LINE.match(line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    match = LINE.match(lines[i])
    assert match is not None
    lines[i] = f"{match['indent']}{match['key']}: {rng.choice(ODD_VALUES)}"
    return "\n".join(lines)


def flow_value(rng: random.Random, text: str) -> str:
    """Replace a value inside a ``{a: 1, b: 2}`` mapping, where most params live."""
    spans = list(re.finditer(r"(?<=: )[^,{}\[\]\n]+(?=[,}])", text))
    if not spans:
        return odd_value(rng, text)
    span = rng.choice(spans)
    return text[: span.start()] + rng.choice(ODD_VALUES) + text[span.end():]


def alias(rng: random.Random, text: str) -> str:
    kind = rng.choice(["share", "recursive", "bomb", "merge", "dangling"])
    extra = {
        "share": "common: &common {a: 1}\nagain: *common\n",
        "recursive": "loop: &loop [*loop]\n",
        "bomb": "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
            f"{c}: &{c} [" + ",".join([f"*{p}"] * 9) + "]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "merge": "base: &base {x: 1}\nmerged: {<<: [*base, *base], y: 2}\nself: &self {<<: *base}\n",
        "dangling": "x: *nowhere\n",
    }[kind]
    return text + "\n" + extra if rng.random() < 0.5 else extra + text


def deep_nesting(rng: random.Random, text: str) -> str:
    depth = rng.choice([70, 500, 5000, 50_000])
    if rng.random() < 0.5:
        value = "[" * depth + "]" * depth
    else:
        value = "{a: " * depth + "1" + "}" * depth
    return odd_value_with(rng, text, value)


def long_string(rng: random.Random, text: str) -> str:
    size = rng.choice([300, 5_000, 2_000_000])
    value = rng.choice(["x" * size, "/".join(["a" * 255] * (size // 256 + 1)), "'" + "é" * size + "'"])
    return odd_value_with(rng, text, value)


def odd_value_with(rng: random.Random, text: str, value: str) -> str:
    lines = _lines(text)
    candidates = [i for i, line in enumerate(lines) if LINE.match(line)]
    if not candidates:
        return text + "\nx: " + value
    i = rng.choice(candidates)
    match = LINE.match(lines[i])
    assert match is not None
    lines[i] = f"{match['indent']}{match['key']}: {value}"
    return "\n".join(lines)


def garbage(rng: random.Random, text: str) -> str | bytes:
    data = text.encode("utf-8")
    at = rng.randrange(len(data) + 1)
    junk = bytes(rng.randrange(256) for _ in range(rng.choice([1, 16, 512])))
    return data[:at] + junk + data[at:]


def big_file(rng: random.Random, text: str) -> str:
    kind = rng.choice(["comment", "nodes", "keys"])
    if kind == "comment":
        return text + "\n#" + "z" * rng.choice([1 << 20, 9 << 20])
    if kind == "nodes":  # many nodes: the count limit or a long but finite validation
        count = rng.choice([500, 25_000])
        more = "".join(f"  gen{i}: {{type: debug.noop, inputs: {{image: gen{i}.image}}}}\n" for i in range(count))
        return text.replace("nodes:\n", "nodes:\n" + more, 1)
    return text + "\n" + "".join(f"k{i}: {i}\n" for i in range(20_000))


# -- the hostile families -----------------------------------------------------------------------
HIDDEN_CHARACTERS = ["\\u202eexe.yaml", "line\\nfake.yaml:1:1: node 'x': ok", "nul\\x00", "\\x1b[31mred",
                     "\\u2066isolate\\u2069", "\\ufeffbom", "cr\\roverwrite", "zero\\u200bwidth"]
STRING_VALUE = re.compile(r"(?<=: )(?![-\d.\[{*&!|>]|true\b|false\b|null\b)[^,{}\[\]\n#]+?(?=\s*(?:[,}]|#|$))", re.M)
NODE_KEY = re.compile(r"^  (?P<id>[A-Za-z_][A-Za-z0-9_-]*):(?=\s*(?:\{|$))", re.M)


def hostile_string(rng: random.Random, text: str) -> str:
    """A giant or a control-character string in a string field, a node id or a type."""
    if rng.random() < 0.4:
        value = rng.choice(["g", "é", "\u202e"]) * rng.choice([100_000, 1_000_000])
        shown = f"'{value}'"
    else:
        shown = '"' + rng.choice(HIDDEN_CHARACTERS) + '"'
    target = rng.choice(["value", "value", "id", "type"])
    if target == "id":
        keys = list(NODE_KEY.finditer(text))
        if keys:
            key = rng.choice(keys)
            return text[: key.start("id")] + shown + text[key.end("id"):]
    if target == "type":
        types = list(re.finditer(r"(?<=type: )[a-z0-9_.]+", text))
        if types:
            span = rng.choice(types)
            return text[: span.start()] + shown + text[span.end():]
    spans = list(STRING_VALUE.finditer(text))
    if not spans:
        return odd_value_with(rng, text, shown)
    span = rng.choice(spans)
    return text[: span.start()] + shown + text[span.end():]


HOSTILE_SPECS = [":-999999999", ":0999999999d", ":>99999999", ":.999999999f", ":{width}", "!r:^99999999",
                 ".__class__", "[0]", ":,.2%", ":x<1000000", ":\\n>9", ":%", "!z"]
TEMPLATE_FIELD = re.compile(r"\{(?P<name>[A-Za-z_]\w*)(?P<spec>[^{}\n\"']*)\}")
TEMPLATE_PARAMS = ['label: "{class_name}"', 'name: "{source}/{frame}"', 'path: "out/{source}.mp4"',
                   'topic: "segflow/{workflow}"', 'folder: "datasets/{workflow}"']


def template_fields(text: str) -> list[re.Match[str]]:
    """The ``{field}`` of every quoted string (a YAML ``{a: 1}`` mapping is no template)."""
    return [f for q in re.finditer(r'"[^"\n]*"', text) for f in TEMPLATE_FIELD.finditer(text, q.start(), q.end())]


def format_spec(rng: random.Random, text: str) -> str:
    """A hostile format spec in a template a param holds (a label, a file name, a path, a topic)."""
    fields = template_fields(text)
    if not fields or rng.random() < 0.3:  # or a template param where this workflow has none
        params = list(re.finditer(r"params: \{", text))
        if not params:
            return odd_value_with(rng, text, rng.choice(TEMPLATE_PARAMS).split(": ", 1)[1])
        at = rng.choice(params).end()
        text = text[:at] + rng.choice(TEMPLATE_PARAMS) + ", " + text[at:]
        fields = template_fields(text)
    field = rng.choice(fields)
    return text[: field.start()] + "{" + field["name"] + rng.choice(HOSTILE_SPECS) + "}" + text[field.end():]


ESCAPING_NAMES = ["'../../../ESCAPED'", "'..'", "'.'", "'a/../../ESCAPED'", "'/tmp/ESCAPED'", "'../'",
                  "'..\\\\ESCAPED'", "'~/ESCAPED'"]


def dotdot_name(rng: random.Random, text: str) -> str:
    """``../`` in a name that may become a path: the workflow's, a class's, a node id, a spool folder's."""
    name = rng.choice(ESCAPING_NAMES)
    where = rng.choice(["workflow", "workflow", "class", "id"])
    if where == "workflow":
        return re.sub(r"^name: .*$", f"name: {name}", text, count=1, flags=re.M)
    if where == "class" and re.search(r"class_name: [^,}\n]+", text):
        spans = list(re.finditer(r"(?<=class_name: )[^,}\n]+", text))
        span = rng.choice(spans)
        return text[: span.start()] + name + text[span.end():]
    keys = list(NODE_KEY.finditer(text))
    if not keys:
        return text
    key = rng.choice(keys)
    return text[: key.start("id")] + name + text[key.end("id"):]


BOMBS = "bombs"  # a folder the fuzz test fills with images whose headers lie, beside two honest ones
SOURCE_NODE = re.compile(r"type: source\.(?:video|test_pattern|image|camera)(?P<sep>\n\s+|, )params: \{[^}\n]*\}")


def lying_images(rng: random.Random, text: str) -> str:
    """The first source reads a folder of images whose headers claim sizes they do not hold."""
    recursive = rng.choice(["", ", recursive: true", ", loop: true", ", max_megapixels: 1000"])
    return SOURCE_NODE.sub(lambda m: f"type: source.image{m['sep']}params: {{path: {BOMBS}{recursive}}}", text,
                           count=1)


PICKLES = ["pickles/random.pt", "pickles/empty.pt", "pickles/code.pt", "pickles/truncated.pt", "pickles/folder",
           "pickles/model_openvino", "pickles/missing.pt", "/dev/zero"]
"""What a model param may name: code.pt runs code when loaded (a warning, unless a pin refuses it)."""


def hostile_pickle(rng: random.Random, text: str) -> str:
    """A model or checkpoint param naming a hostile file: random bytes, empty, a code pickle, a folder."""
    spans = list(re.finditer(r"(?:^\s+|[{,]\s*)(?:model|checkpoint): (?P<value>[^,}\n#]*[^,}\n#\s])", text, re.M))
    if not spans:
        return text
    span = rng.choice(spans)
    return text[: span.start("value")] + rng.choice(PICKLES) + text[span.end("value"):]


MUTATIONS: dict[str, Callable[[random.Random, str], str | bytes]] = {
    "delete_line": delete_line,
    "duplicate_line": duplicate_line,
    "swap_lines": swap_lines,
    "indent_line": indent_line,
    "odd_value": odd_value,
    "flow_value": flow_value,
    "alias": alias,
    "deep_nesting": deep_nesting,
    "long_string": long_string,
    "garbage": garbage,
    "big_file": big_file,
    "hostile_string": hostile_string,
    "format_spec": format_spec,
    "dotdot_name": dotdot_name,
    "lying_images": lying_images,
    "hostile_pickle": hostile_pickle,
}
RARE = {"big_file", "long_string", "deep_nesting", "garbage", "alias"}  # costly or blunt: one in four mutants


def mutants(sources: dict[str, str], count: int, seed: int) -> Iterator[Mutant]:
    """``count`` mutants of the given workflow texts, the same ones for the same seed."""
    rng = random.Random(seed)
    names = sorted(sources)
    cheap = [m for m in MUTATIONS if m not in RARE]
    for index in range(count):
        name = names[index % len(names)]
        text: str | bytes = sources[name]
        operations = []
        for _ in range(rng.choice([1, 1, 2, 3])):
            op = rng.choice(sorted(RARE)) if rng.random() < 0.25 else rng.choice(cheap)
            if isinstance(text, bytes):
                break  # garbage is the last mutation: the rest work on text
            text = MUTATIONS[op](rng, text)
            operations.append(op)
        yield Mutant(name, index, tuple(operations), text)
