"""Safe YAML loading that remembers where every key and value came from.

PyYAML's SafeLoader refuses tags that construct Python objects; on top of it
we report duplicate keys (PyYAML silently keeps the last) and keep a map from
each path in the document to its line and column, so pydantic's errors can
be reported at the line the user wrote.

The loader is bounded (:mod:`segflow.engine.workflow.limits`): nesting depth while
composing and while building, and the number of values after aliases are
expanded, so an alias bomb or a recursive alias is one located error, not a
hang, a ``RecursionError`` or an out-of-memory kill.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import yaml

from segflow.engine.workflow.issues import Issue, Location, shorten
from segflow.engine.workflow.limits import Limits, raise_hint

Path_ = tuple[Any, ...]


@dataclass
class LoadedYaml:
    """The data, and where each key and value of it was written.

    ``keys`` and ``values`` hold PyYAML's marks as the loader made them (0-based); a
    :class:`Location` is only built for the few paths an issue names, not for each of the
    hundred thousand values of a big generated graph.
    """

    data: Any
    file: str
    keys: dict[Path_, Location | yaml.Mark] = field(default_factory=dict)
    values: dict[Path_, Location | yaml.Mark] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def where(self, path: Path_, prefer_key: bool = False) -> Location:
        """The closest known location of ``path``: itself, else its nearest ancestor."""
        path = tuple(path)
        while True:
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            found = first.get(path) or second.get(path)
            if found is not None:
                return found if isinstance(found, Location) else _loc(self.file, found)
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]


def _loc(file: str, mark: yaml.Mark) -> Location:
    return Location(file, mark.line + 1, mark.column + 1)


class LimitExceeded(yaml.MarkedYAMLError):
    """A document that asks more of the loader than :class:`Limits` allows."""

    def __init__(self, code: str, message: str, mark: Any, hint: str = "") -> None:
        super().__init__(problem=message, problem_mark=mark)
        self.code = code
        self.hint = hint


def _fast_compose(text: str, limits: Limits) -> tuple[Any, yaml.Node | None, bool] | None:
    """The libyaml loader and the document's node tree, once the depth is known to be within bounds.

    None without libyaml. It is ten times faster on big generated graphs. It raises on any
    YAML error, for the slower pure-Python loader to word. The flag says the document may
    expand past the value budget or hold merge keys: without an alias it holds exactly as
    many values as it has events.

    A text with no alias, merge key or tag (no ``*``, ``<<`` or ``!`` anywhere) is handed over
    at once: its depth and values are counted while it is built (see :class:`_Builder`), which
    saves a whole parse of the file, as long as libyaml itself bounds the nesting it composes
    (its composer recurses in C, where no ``RecursionError`` would stop a hostile file).
    """
    if not getattr(yaml, "__with_libyaml__", False):
        return None
    if _libyaml_bounds_nesting() and not any(sign in text for sign in ("*", "<<", "!")):
        loader = yaml.CSafeLoader(text)
        return loader, loader.get_single_node(), False
    depth = values = 0
    aliases = False
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        values += 1
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > limits.depth:
                raise _too_deep(limits, event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent) or (isinstance(event, yaml.ScalarEvent) and event.value == "<<"):
            aliases = True
    loader = yaml.CSafeLoader(text)
    return loader, loader.get_single_node(), aliases or values > limits.values


@functools.cache
def _libyaml_bounds_nesting() -> bool:
    """Whether libyaml refuses deep nesting itself (a limit of 1,000 levels since its 0.2.6)."""
    deep = "[" * 2000 + "]" * 2000
    try:
        yaml.CSafeLoader(deep).get_single_node()
    except yaml.YAMLError:
        return True
    return False


def _too_deep(limits: Limits, mark: Any) -> LimitExceeded:
    return LimitExceeded("yaml.depth", f"nested deeper than {limits.depth} levels", mark,
                         raise_hint("depth", limits.depth))


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a nesting bound while composing (its recursion has none)."""

    def __init__(self, text: str, limits: Limits) -> None:
        super().__init__(text)
        self.limits = limits
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > self.limits.depth + 1:
                raise _too_deep(self.limits, self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, file: str = "<string>", limits: Limits | None = None) -> LoadedYaml:
    result = LoadedYaml(None, file)
    limits = limits or Limits.from_env()
    try:
        fast = _fast_compose(text, limits)
    except LimitExceeded as exc:
        result.issues.append(_limit_issue(exc, file))
        return result
    except yaml.MarkedYAMLError as exc:
        if len(text) > REWORD_BYTES:  # re-reading a big file in pure Python would take seconds: say it as is
            result.issues.append(_syntax_issue(exc, file, text))
            return result
        fast = None  # PyYAML's own loader words syntax errors better: let it report this one
    except yaml.YAMLError:
        fast = None
    loader: yaml.SafeLoader | Any
    if fast is not None:
        loader, root, may_expand = fast
    else:
        try:
            loader = _BoundedLoader(text, limits)
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            result.issues.append(Issue("yaml.syntax", f"not a text file: character #x{exc.character:04x} "
                                       f"at offset {exc.position}", Location(file, line, 1)))
            return result
        root, may_expand = None, True
    try:
        if fast is None:
            root = loader.get_single_node()
        if root is not None:
            result.data = _Builder(result, loader, limits).build(root, may_expand)
    except LimitExceeded as exc:  # one located error: what was found before it does not matter any more
        result.issues = [_limit_issue(exc, file)]
        result.data = None
    except yaml.MarkedYAMLError as exc:
        result.issues.append(_syntax_issue(exc, file, text))
        result.data = None
    except yaml.YAMLError as exc:
        result.issues.append(Issue("yaml.syntax", f"invalid YAML: {exc}", Location(file, 1, 1)))
        result.data = None
    except RecursionError:  # a shape the depth bounds above did not foresee: still the user's file
        result.issues.append(Issue("yaml.depth", "nested or chained too deeply to read", Location(file, 1, 1),
                                   hint="flatten the structure or drop chains of aliases"))
        result.data = None
    finally:
        loader.dispose()
    return result


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


REWORD_BYTES = 256 << 10  # up to this size a syntax error is read again by the pure-Python loader, for its wording


def _syntax_issue(exc: yaml.MarkedYAMLError, file: str, text: str) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    message = str(exc.problem or exc.context or "invalid YAML").strip()
    hint = ""
    at = getattr(mark, "index", None)
    if "could not determine a constructor" in message:
        message = f"YAML tag not allowed: {message.split('tag', 1)[-1].strip()}"
        hint = "workflow files are plain data; remove the '!!' tag"
    elif "found character '\\t'" in message or (isinstance(at, int) and text[at:at + 1] == "\t"):
        hint = "indent with spaces, not tabs"
    return Issue("yaml.syntax", f"invalid YAML: {message}", loc, hint=hint)


def _limit_issue(exc: LimitExceeded, file: str) -> Issue:
    mark = exc.problem_mark
    loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
    return Issue(exc.code, str(exc.problem), loc, hint=exc.hint)


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}
_STR = "tag:yaml.org,2002:str"


class _Builder:
    """Plain data plus locations from a composed node tree, within the value and depth budgets."""

    def __init__(self, out: LoadedYaml, loader: _BoundedLoader, limits: Limits) -> None:
        self.out = out
        self.loader = loader
        self.limits = limits
        self.sizes: dict[int, int] = {}  # values in each collection once aliases are expanded
        self.open: set[int] = set()  # the collections being built: one met again is a recursive alias
        self.flat: set[int] = set()  # mappings whose merge keys (``<<: *base``) are resolved
        self.plain = False  # no alias and no merge key: nothing to expand or resolve
        self.root: yaml.Node | None = None
        self.built = 1  # keys and values of a plain document met so far (the root, then each item)

    def build(self, root: yaml.Node, may_expand: bool) -> Any:
        """The document's data; ``may_expand``: measure it against the value budget first.

        A plain document (no alias, no merge key) is measured as it is built instead: its
        collections against the depth bound, its keys and values against the budget.
        """
        self.plain = not may_expand
        self.root = root
        if may_expand:
            self._within_budget(root)
        return self._build(root, ())

    def _within_budget(self, root: yaml.Node) -> None:
        """Measure the expansion before building it, so an alias bomb costs one walk of its few nodes."""
        if self._size(root, 0, set()) <= self.limits.values:
            return
        node = root  # name the innermost value that is over the budget on its own: the bomb's own line
        while True:
            children = _children(node)
            big = max(children, key=lambda c: self.sizes.get(id(c), 1), default=None)
            if big is None or self.sizes.get(id(big), 1) <= self.limits.values:
                break
            node = big
        raise LimitExceeded("yaml.size", f"more than {self.limits.values:,} values once aliases are expanded "
                            "(an alias bomb?)", node.start_mark, raise_hint("values", self.limits.values))

    def _size(self, node: yaml.Node, depth: int, sizing: set[int]) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1
        known = self.sizes.get(id(node))
        if known is not None:
            return known
        children = _children(node)
        if not children:
            return 1
        if id(node) in sizing:
            raise LimitExceeded("yaml.recursive", "an alias refers to the value that contains it", node.start_mark,
                                "a workflow is a tree: copy the value instead of referring to itself")
        if depth >= self.limits.depth:
            raise LimitExceeded("yaml.depth", f"nested deeper than {self.limits.depth} levels (aliases expanded)",
                                node.start_mark, raise_hint("depth", self.limits.depth))
        sizing.add(id(node))
        total = 1
        for child in children:
            total += self._size(child, depth + 1, sizing)
            if total > self.limits.values:
                break  # enough to know: do not walk the rest of a bomb
        sizing.discard(id(node))
        self.sizes[id(node)] = total
        return total

    def _build(self, node: yaml.Node, path: Path_) -> Any:
        out, loader = self.out, self.loader
        if len(path) > self.limits.depth:
            raise LimitExceeded("yaml.depth", f"nested deeper than {self.limits.depth} levels (aliases expanded)",
                                node.start_mark, raise_hint("depth", self.limits.depth))
        out.values[path] = node.start_mark
        if node.tag == _STR and isinstance(node, yaml.ScalarNode):
            return node.value  # what the constructor would return, at a fraction of the calls
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            raise yaml.constructor.ConstructorError(
                None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
            )
        if not isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
            return loader.construct_object(node, deep=True)
        if self.plain:
            self._measure(node, path)
        if id(node) in self.open:
            raise LimitExceeded("yaml.recursive", "an alias refers to the value that contains it", node.start_mark,
                                "a workflow is a tree: copy the value instead of referring to itself")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._build(item, path + (i,)) for i, item in enumerate(node.value)]
            return self._mapping(node, path)
        finally:
            self.open.discard(id(node))

    def _measure(self, node: yaml.CollectionNode, path: Path_) -> None:
        """Refuse a collection of a plain document that is too deep or brings the values over the budget.

        Called before its items are built, so a huge document stops where it crosses the budget.
        """
        if len(path) >= self.limits.depth:
            raise _too_deep(self.limits, node.start_mark)  # where the events pass would have stopped
        self.built += len(node.value) * (2 if isinstance(node, yaml.MappingNode) else 1)
        if self.built > self.limits.values and self.root is not None:
            self._within_budget(self.root)  # names the innermost value over the budget

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[Any, Any]:
        out, loader = self.out, self.loader
        if not self.plain:
            self._flatten(node, set())
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                out.issues.append(Issue("yaml.key", "a mapping key must be a plain value",
                                    _loc(out.file, key_node.start_mark)))
                continue
            key = key_node.value if key_node.tag == _STR else loader.construct_object(key_node, deep=True)
            if key in mapping:
                first = out.where(path + (key,), prefer_key=True) if path + (key,) in out.keys else None
                in_node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
                out.issues.append(
                    Issue(
                        "yaml.duplicate_key",
                        f"duplicate key '{shorten(str(key), 80)}'"
                        + (f" (first defined at line {first.line})" if first else ""),
                        _loc(out.file, key_node.start_mark),
                        node=in_node if in_node is not None else (key if path == ("nodes",) else None),
                        hint="each key may appear once; rename or merge the two entries",
                    )
                )
                continue
            out.keys[path + (key,)] = key_node.start_mark
            if not path and key == "nodes" and isinstance(value_node, yaml.MappingNode):
                self._count_nodes(key_node, value_node)
            mapping[key] = self._build(value_node, path + (key,))
        return mapping


    def _count_nodes(self, key_node: yaml.Node, nodes: yaml.MappingNode) -> None:
        """Refuse a graph over the node limit before building it: 60,000 nodes would take a minute."""
        if len(nodes.value) > self.limits.nodes:
            raise LimitExceeded("file.nodes", f"{len(nodes.value):,} nodes; the limit is {self.limits.nodes:,}",
                                key_node.start_mark, raise_hint("nodes", self.limits.nodes))

    def _flatten(self, node: yaml.MappingNode, merging: set[int]) -> None:
        """Resolve merge keys innermost first, so each merge is measured before the next one doubles it."""
        if id(node) in self.flat:
            return
        if id(node) in merging:
            raise LimitExceeded("yaml.recursive", "a merge key (<<) merges the mapping that contains it",
                                node.start_mark, "a workflow is a tree: merge another mapping")
        merging.add(id(node))
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                continue
            subs = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for sub in subs:
                if isinstance(sub, yaml.MappingNode):
                    self._flatten(sub, merging)
        self.loader.flatten_mapping(node)
        self.flat.add(id(node))
