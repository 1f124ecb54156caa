"""Node-type registry: finds node types through the ``segflow.nodes`` entry points.

An entry point names a module or package; every class in it (and, for a
package, in its submodules) marked with :func:`segflow.engine.node.node_type` is
registered. Built-ins arrive the same way as third-party plugins, so the
engine never imports ``nodes``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import pkgutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

from segflow.engine.node import Node

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "segflow.nodes"


@dataclass
class PluginFailure:
    """A plugin module that could not be imported: reported, not fatal."""

    origin: str
    error: str


@dataclass
class Registry:
    types: dict[str, type[Node]] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def register(self, cls: type[Node], origin: str = "") -> None:
        name = cls.type_name
        if not name:
            raise ValueError(f"{cls.__name__} has no type name: decorate it with @node_type('family.name')")
        existing = self.types.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"node type {name!r} is defined twice: in {self.origins[name]} and in {origin or cls.__module__}"
            )
        self.types[name] = cls
        self.origins[name] = origin or cls.__module__

    def register_module(self, module: ModuleType) -> int:
        """Register every marked node class defined in ``module`` and its submodules."""
        count = 0
        for mod in _walk(module, self.failures):
            for _, obj in inspect.getmembers(mod, inspect.isclass):
                if obj.__module__ == mod.__name__ and obj.__dict__.get("__segflow_node__"):
                    self.register(obj, mod.__name__)  # type: ignore[arg-type]
                    count += 1
        return count

    def load_entry_points(self) -> Registry:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the engine down
                self.failures.append(PluginFailure(f"{ep.name} = {ep.value}", f"{type(exc).__name__}: {exc}"))
                continue
            if not isinstance(module, ModuleType):
                module = importlib.import_module(ep.value.split(":")[0])
            self.register_module(module)
        for failure in self.failures:
            log.warning("node plugin %s failed to load: %s", failure.origin, failure.error)
        return self

    def get(self, name: str) -> type[Node] | None:
        return self.types.get(name)

    def closest(self, name: str) -> str | None:
        matches = difflib.get_close_matches(name, list(self.types), n=1, cutoff=0.5)
        return matches[0] if matches else None

    def __iter__(self) -> Iterator[tuple[str, type[Node]]]:
        return iter(sorted(self.types.items()))

    def __len__(self) -> int:
        return len(self.types)


def _walk(module: ModuleType, failures: list[PluginFailure]) -> list[ModuleType]:
    found = [module]
    if hasattr(module, "__path__"):
        for info in pkgutil.iter_modules(module.__path__, module.__name__ + "."):
            try:
                sub = importlib.import_module(info.name)
            except Exception as exc:
                failures.append(PluginFailure(info.name, f"{type(exc).__name__}: {exc}"))
                continue
            found.extend(_walk(sub, failures))
    return found


_default: Registry | None = None


def default_registry() -> Registry:
    """The registry of installed node types, loaded once per process."""
    global _default
    if _default is None:
        _default = Registry().load_entry_points()
    return _default
