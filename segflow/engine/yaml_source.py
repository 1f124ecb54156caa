"""Safe YAML loading that remembers where every key and value came from.

PyYAML's SafeLoader refuses tags that construct Python objects; on top of it
we report duplicate keys (PyYAML silently keeps the last) and keep a map from
each path in the document to its line and column, so pydantic's errors can
be reported at the line the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from segflow.engine.issues import Issue, Location

Path_ = tuple[Any, ...]


@dataclass
class LoadedYaml:
    data: Any
    file: str
    keys: dict[Path_, Location] = field(default_factory=dict)
    values: dict[Path_, Location] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def where(self, path: Path_, prefer_key: bool = False) -> Location:
        """The closest known location of ``path``: itself, else its nearest ancestor."""
        path = tuple(path)
        while True:
            first, second = (self.keys, self.values) if prefer_key else (self.values, self.keys)
            if path in first:
                return first[path]
            if path in second:
                return second[path]
            if not path:
                return Location(self.file, 1, 1)
            path = path[:-1]


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def load_yaml(text: str, file: str = "<string>") -> LoadedYaml:
    result = LoadedYaml(None, file)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        result.issues.append(Issue("yaml.syntax", f"not a text file: character #x{exc.character:04x} "
                                   f"at offset {exc.position}", Location(file, line, 1)))
        return result
    try:
        root = loader.get_single_node()
        if root is not None:
            result.data = _build(root, (), result, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        message = str(exc.problem or exc.context or "invalid YAML").strip()
        hint = ""
        if "could not determine a constructor" in message:
            message = f"YAML tag not allowed: {message.split('tag', 1)[-1].strip()}"
            hint = "workflow files are plain data; remove the '!!' tag"
        elif "found character '\\t'" in message:
            hint = "indent with spaces, not tabs"
        result.issues.append(Issue("yaml.syntax", f"invalid YAML: {message}", loc, hint=hint))
        result.data = None
    except yaml.YAMLError as exc:
        result.issues.append(Issue("yaml.syntax", f"invalid YAML: {exc}", Location(file, 1, 1)))
        result.data = None
    finally:
        loader.dispose()
    return result


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:omap"}


def _build(node: yaml.Node, path: Path_, out: LoadedYaml, loader: yaml.SafeLoader) -> Any:
    out.values[path] = _loc(out.file, node)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                out.issues.append(Issue("yaml.key", "a mapping key must be a plain value", _loc(out.file, key_node)))
                continue
            if key in mapping:
                first = out.keys.get(path + (key,))
                in_node = path[1] if len(path) >= 2 and path[0] == "nodes" else None
                out.issues.append(
                    Issue(
                        "yaml.duplicate_key",
                        f"duplicate key '{key}'" + (f" (first defined at line {first.line})" if first else ""),
                        _loc(out.file, key_node),
                        node=in_node if in_node is not None else (key if path == ("nodes",) else None),
                        hint="each key may appear once; rename or merge the two entries",
                    )
                )
                continue
            out.keys[path + (key,)] = _loc(out.file, key_node)
            mapping[key] = _build(value_node, path + (key,), out, loader)
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), out, loader) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)
