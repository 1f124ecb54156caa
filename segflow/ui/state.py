"""The editor's model of a workflow: the YAML document itself, edited in place.

The state *is* the round-trip document (comments and key order included), so
the YAML -> editor -> YAML round trip is exact, and every edit (add, wire,
move, set a param) touches only the keys it means to. Node positions live
either under the top-level ``ui:`` key that the engine ignores
(``layout_in_yaml``) or beside the document (``side_positions``, which the
editor keeps in a ``<name>.layout.json`` file), so moving a node need not touch
the workflow's text. Positions are computed once for nodes that lack one and
then kept: adding or deleting a node never moves the others. Nothing here
imports Streamlit: the app is a thin view over these methods.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from ruamel.yaml.comments import CommentedMap

from segflow.engine.node import Node
from segflow.engine.registry import Registry
from segflow.engine.workflow.graph import layers
from segflow.engine.workflow.spec import NODE_ID_RULE, is_node_id, parse_ref
from segflow.ui.placement import free_offset, free_spot, overlaps
from segflow.ui.yaml_roundtrip import Style, dumps, loads, merge_text, to_node, to_plain

GRID_X, GRID_Y = 250, 160  # the automatic layout's column and row spacing, in canvas pixels
WRAP = 4  # columns per band: a long pipeline continues in a band below, like lines of text,
BAND_GAP = 50  # so a 9-node graph stays readable in a browser-wide canvas at zoom 1
PASTE_OFFSET = (40.0, 40.0)
SCHEMA_LINE = "# yaml-language-server: $schema=../segflow.schema.json\n"


class EditError(ValueError):
    """An edit the editor refuses (an incompatible edge, a cycle, an unknown node)."""


@dataclass(frozen=True)
class Edge:
    src: str
    src_port: str
    dst: str
    dst_port: str

    @property
    def ref(self) -> str:
        return f"{self.src}.{self.src_port}"


@dataclass
class NodeView:
    id: str
    type: str
    params: dict[str, Any]
    inputs: dict[str, list[str]]
    position: tuple[float, float] | None = None
    label: str | None = None


@dataclass
class EditorState:
    doc: Any
    style: Style = field(default_factory=Style)
    source_text: str = ""  # the text loaded, and ruamel's dump of it right after loading:
    base_dump: str = ""  # to_yaml() applies only the changes since then to the user's text
    layout_in_yaml: bool = True  # False: positions live in side_positions, the YAML is not touched
    side_positions: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str) -> EditorState:
        doc, style = loads(text)
        if not isinstance(doc, dict):
            doc = CommentedMap()
        return cls(doc, style, text, dumps(doc, style))

    def has_yaml_positions(self) -> bool:
        ui = self.doc.get("ui")
        return isinstance(ui, dict) and isinstance(ui.get("positions"), dict)

    def use_side_layout(self, positions: dict[str, tuple[float, float]]) -> None:
        """Keep positions outside the YAML from now on, starting from ``positions`` (a side file's)."""
        self.layout_in_yaml = False
        self.side_positions = {k: (float(x), float(y)) for k, (x, y) in positions.items() if k in self._nodes}
        self.freeze_layout()

    def set_layout_in_yaml(self, in_yaml: bool) -> None:
        """Move the positions into the YAML's ``ui: positions:`` or out of it, keeping where nodes are."""
        if in_yaml == self.layout_in_yaml:
            return
        current = self.layout()
        if in_yaml:
            self.layout_in_yaml, self.side_positions = True, {}
            self._store_positions(current)
            return
        ui = self.doc.get("ui")
        if isinstance(ui, dict):
            ui.pop("positions", None)
            if not ui:
                del self.doc["ui"]
        self.layout_in_yaml, self.side_positions = False, {}
        self._store_positions(current)

    def freeze_layout(self) -> None:
        """Give every node without a position its computed one, so later edits never move it.

        Only for side positions: the YAML gets positions when the user moves something.
        """
        if not self.layout_in_yaml:
            self._store_positions(self.layout())

    @classmethod
    def new(cls, name: str = "untitled") -> EditorState:
        text = SCHEMA_LINE + f"version: 1\nname: {name}\ndescription: ''\nnodes: {{}}\n"
        return cls.from_yaml(text)

    def to_yaml(self) -> str:
        return merge_text(self.source_text, self.base_dump, dumps(self.doc, self.style))

    # -- reading -------------------------------------------------------------------------------

    @property
    def _nodes(self) -> dict[str, Any]:
        nodes = self.doc.get("nodes")
        if not isinstance(nodes, dict):
            nodes = self.doc["nodes"] = CommentedMap()
        return nodes

    def node_ids(self) -> list[str]:
        return [str(k) for k in self._nodes]

    def node(self, node_id: str) -> NodeView:
        raw = self._nodes.get(node_id)
        if not isinstance(raw, dict):
            raise EditError(f"no node '{node_id}'")
        inputs = raw.get("inputs") or {}
        return NodeView(
            node_id, str(raw.get("type", "")),
            to_plain(raw.get("params") or {}) if isinstance(raw.get("params"), dict) else {},
            {str(p): [str(r) for r in (v if isinstance(v, list) else [v])] for p, v in inputs.items()}
            if isinstance(inputs, dict) else {},
            self.positions().get(node_id), raw.get("label"),
        )

    def nodes(self) -> Iterator[NodeView]:
        for node_id in self.node_ids():
            if isinstance(self._nodes.get(node_id), dict):
                yield self.node(node_id)

    def edges(self) -> list[Edge]:
        edges = []
        for view in self.nodes():
            for port, refs in view.inputs.items():
                for ref in refs:
                    parsed = parse_ref(ref)
                    if parsed is not None:
                        edges.append(Edge(parsed[0], parsed[1], view.id, port))
        return edges

    def positions(self) -> dict[str, tuple[float, float]]:
        if not self.layout_in_yaml:
            return {k: v for k, v in self.side_positions.items() if k in self._nodes}
        ui = self.doc.get("ui")
        raw = ui.get("positions") if isinstance(ui, dict) else None
        out: dict[str, tuple[float, float]] = {}
        for node_id, xy in (raw or {}).items() if isinstance(raw, dict) else []:
            if isinstance(xy, (list, tuple)) and len(xy) == 2 and all(isinstance(v, (int, float)) for v in xy):
                out[str(node_id)] = (float(xy[0]), float(xy[1]))
        return out

    def layout(self) -> dict[str, tuple[float, float]]:
        """Stored positions, and for nodes without one a layered left-to-right layout."""
        stored = self.positions()
        ids = self.node_ids()
        depth = layers(ids, ((e.src, e.dst) for e in self.edges()))  # a cycle still draws every node
        per_column: dict[int, int] = {}
        for d in depth.values():
            per_column[d] = per_column.get(d, 0) + 1
        band_top: dict[int, float] = {0: 40.0}  # band -> its top y: below the tallest column above
        for band in range(1, max(per_column, default=0) // WRAP + 1):
            tallest = max(per_column.get(c, 0) for c in range((band - 1) * WRAP, band * WRAP))
            band_top[band] = band_top[band - 1] + max(1, tallest) * GRID_Y + BAND_GAP
        rows: dict[int, int] = {}
        out = {k: v for k, v in stored.items() if k in depth}
        for node_id in ids:
            if node_id in out:
                continue
            col = depth.get(node_id, 0)
            while True:  # the next free row of its column: never on top of a placed node
                row = rows[col] = rows.get(col, -1) + 1
                xy = (40.0 + (col % WRAP) * GRID_X, band_top.get(col // WRAP, 40.0) + row * GRID_Y)
                if not overlaps(xy, out.values()):
                    break
            out[node_id] = xy
        return out

    def free_spot(self, near: tuple[float, float]) -> tuple[float, float]:
        """``near`` itself, or the closest spot below it where a new node covers no other."""
        return free_spot(near, self.layout().values(), GRID_X)

    # -- editing -------------------------------------------------------------------------------

    def add_node(self, type_name: str, registry: Registry, position: tuple[float, float] | None = None,
                 node_id: str | None = None) -> str:
        cls = registry.get(type_name)
        if cls is None:
            raise EditError(f"unknown node type '{type_name}'")
        node_id = node_id or self.free_id(type_name.split(".")[-1])
        if node_id in self._nodes:
            raise EditError(f"a node '{node_id}' already exists")
        layout = self.layout()  # fixed before the new node can change anyone's computed place
        if position is None:
            xs = [xy[0] for xy in layout.values()]
            position = self.free_spot((max(xs) + GRID_X, 40.0) if xs else (40.0, 40.0))
        # Only the type: validation then names each required param still to fill in.
        self._nodes[node_id] = CommentedMap(type=type_name)
        self._store_positions({**layout, node_id: (float(position[0]), float(position[1]))})
        return node_id

    def free_id(self, base: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_-]", "_", base) or "node"
        if not is_node_id(base):  # only allowed characters now, so it starts with a digit or '-'
            base = "n_" + base
        candidate, n = base, 1
        while candidate in self._nodes:
            n += 1
            candidate = f"{base}{n}"
        return candidate

    def remove_node(self, node_id: str) -> None:
        if node_id not in self._nodes:
            raise EditError(f"no node '{node_id}'")
        layout = self.layout()  # the others stay where they are drawn now
        del self._nodes[node_id]
        for edge in [e for e in self.edges() if e.src == node_id]:
            self.disconnect(edge)
        layout.pop(node_id, None)
        self.side_positions.pop(node_id, None)
        ui = self.doc.get("ui")
        if isinstance(ui, dict) and isinstance(ui.get("positions"), dict):
            ui["positions"].pop(node_id, None)
            self._store_positions(layout)
        elif not self.layout_in_yaml:
            self._store_positions(layout)

    def remove_nodes(self, node_ids: list[str]) -> None:
        for node_id in node_ids:
            self.remove_node(node_id)

    # -- copy and paste ------------------------------------------------------------------------

    def copy_nodes(self, node_ids: list[str]) -> dict[str, Any]:
        """The nodes as plain data (type, label, params, inputs) with their positions: a clipboard."""
        layout = self.layout()
        nodes = {}
        for node_id in node_ids:
            raw = self._nodes.get(node_id)
            if not isinstance(raw, dict):
                raise EditError(f"no node '{node_id}'")
            nodes[node_id] = to_plain(raw)
        return {"nodes": nodes, "positions": {k: layout.get(k, (40.0, 40.0)) for k in nodes}}

    def paste(self, clip: dict[str, Any], at: tuple[float, float] | None = None) -> list[str]:
        """Insert copies of the clipboard's nodes; returns their new ids.

        Each copy gets a new unique id (``detect`` -> ``detect2``). An input that
        read from another copied node now reads from that node's copy; an input
        from a node outside the copy keeps reading from it (a duplicated branch
        stays fed) unless no node of that id exists here, then it is dropped.
        The copies keep their layout relative to each other, offset from the
        originals by PASTE_OFFSET, or with their top-left corner at ``at`` — or
        further down (then right) from there, as far as needed to cover no node.
        """
        nodes: dict[str, Any] = clip.get("nodes") or {}
        positions: dict[str, Any] = clip.get("positions") or {}
        if not nodes:
            return []
        layout = self.layout()
        new_ids: dict[str, str] = {}
        for old in nodes:
            new_ids[old] = self.free_id(re.sub(r"\d+$", "", old) or old)
            self._nodes[new_ids[old]] = CommentedMap()  # reserve the id for the next free_id
        group = [(float(positions.get(k, (40.0, 40.0))[0]), float(positions.get(k, (40.0, 40.0))[1])) for k in nodes]
        start = (at[0] - min(x for x, _ in group), at[1] - min(y for _, y in group)) if at else PASTE_OFFSET
        dx, dy = free_offset(group, layout.values(), start, GRID_X)
        for old, spec in nodes.items():
            entry = CommentedMap()
            for key, value in spec.items():
                if key == "inputs" and isinstance(value, dict):
                    value = {port: refs for port, refs in
                             ((p, self._remap(v, new_ids)) for p, v in value.items()) if refs}
                    if not value:
                        continue
                entry[key] = to_node(value)
            self._nodes[new_ids[old]] = entry
            x, y = positions.get(old, (40.0, 40.0))
            layout[new_ids[old]] = (float(x) + dx, float(y) + dy)
        self._store_positions(layout)
        return list(new_ids.values())

    def _remap(self, refs: Any, new_ids: dict[str, str]) -> Any:
        out = []
        for ref in refs if isinstance(refs, list) else [refs]:
            node, port = parse_ref(str(ref)) or (str(ref), "")
            if node in new_ids:
                out.append(f"{new_ids[node]}.{port}")
            elif isinstance(self._nodes.get(node), dict) and self._nodes.get(node):
                out.append(str(ref))
        if isinstance(refs, list):
            return out
        return out[0] if out else None

    def rename_node(self, old: str, new: str) -> None:
        if not is_node_id(new):
            raise EditError(f"node id '{new}' {NODE_ID_RULE}")
        if new in self._nodes:
            raise EditError(f"a node '{new}' already exists")
        keys = list(self._nodes)
        index = keys.index(old)
        entry = self._nodes.pop(old)
        self._nodes.insert(index, new, entry)
        for view in self.nodes():
            raw_inputs = self._nodes[view.id].get("inputs")
            for port, value in list(raw_inputs.items()) if isinstance(raw_inputs, dict) else []:
                if isinstance(value, list):
                    for i, ref in enumerate(value):
                        value[i] = _renamed(ref, old, new)
                else:
                    raw_inputs[port] = _renamed(value, old, new)
        ui = self.doc.get("ui")
        if isinstance(ui, dict) and isinstance(ui.get("positions"), dict) and old in ui["positions"]:
            positions = ui["positions"]
            index = list(positions).index(old)
            positions.insert(index, new, positions.pop(old))
        if old in self.side_positions:
            self.side_positions = {(new if k == old else k): v for k, v in self.side_positions.items()}

    def connect(self, edge: Edge, registry: Registry) -> None:
        """Wire ``edge``; refuse unknown ports, kinds that differ (naming both) and cycles."""
        src_cls, dst_cls = self._cls(edge.src, registry), self._cls(edge.dst, registry)
        out_port = src_cls.outputs.get(edge.src_port)
        in_port = dst_cls.inputs.get(edge.dst_port)
        if out_port is None:
            raise EditError(f"'{edge.src}' ({src_cls.type_name}) has no output '{edge.src_port}'")
        if in_port is None:
            raise EditError(f"'{edge.dst}' ({dst_cls.type_name}) has no input '{edge.dst_port}'")
        if out_port.kind != in_port.kind:
            raise EditError(f"cannot connect {out_port.kind} output '{edge.ref}' to {in_port.kind} input "
                            f"'{edge.dst}.{edge.dst_port}': {out_port.kind} is not {in_port.kind}")
        graph = nx.DiGraph((e.src, e.dst) for e in self.edges() if e.dst_port != edge.dst_port or e.dst != edge.dst)
        graph.add_edge(edge.src, edge.dst)
        if edge.src == edge.dst or not nx.is_directed_acyclic_graph(graph):
            raise EditError(f"connecting '{edge.ref}' to '{edge.dst}.{edge.dst_port}' would make a cycle")
        raw = self._nodes[edge.dst]
        inputs = raw.get("inputs")
        if not isinstance(inputs, dict):
            inputs = CommentedMap()
            inputs.fa.set_flow_style()
            _insert_after(raw, "inputs", inputs, after=("params", "type"))
        current = inputs.get(edge.dst_port)
        if isinstance(current, list):
            if edge.ref not in current:
                current.append(edge.ref)
        elif current != edge.ref:
            inputs[edge.dst_port] = edge.ref

    def disconnect(self, edge: Edge) -> None:
        raw = self._nodes.get(edge.dst)
        inputs = raw.get("inputs") if isinstance(raw, dict) else None
        if not isinstance(inputs, dict) or edge.dst_port not in inputs:
            return
        current = inputs[edge.dst_port]
        if isinstance(current, list):
            if edge.ref in current:
                current.remove(edge.ref)
            if current:
                return
        elif current != edge.ref:
            return
        del inputs[edge.dst_port]
        if not inputs:
            del raw["inputs"]

    def set_params(self, node_id: str, changes: dict[str, Any]) -> None:
        """Write only the changed params, in place: untouched keys keep their comments and style."""
        raw = self._nodes.get(node_id)
        if not isinstance(raw, dict):
            raise EditError(f"no node '{node_id}'")
        params = raw.get("params")
        if not isinstance(params, dict):
            params = CommentedMap()
            params.fa.set_flow_style()
            _insert_after(raw, "params", params, after=("type",))
        for name, value in changes.items():
            if name in params and to_plain(params[name]) == value and type(to_plain(params[name])) is type(value):
                continue
            params[name] = to_node(value)

    def move(self, node_id: str, x: float, y: float) -> None:
        if node_id not in self._nodes:
            raise EditError(f"no node '{node_id}'")
        self._store_positions({**self.layout(), node_id: (x, y)})

    def _store_positions(self, layout: dict[str, tuple[float, float]]) -> None:
        if not self.layout_in_yaml:
            self.side_positions = {k: (float(round(x)), float(round(y)))
                                   for k, (x, y) in ((k, layout.get(k, (40.0, 40.0))) for k in self.node_ids())}
            return
        ui = self.doc.get("ui")
        if not isinstance(ui, dict):
            ui = self.doc["ui"] = CommentedMap()
        positions = ui.get("positions")
        if not isinstance(positions, dict):
            positions = ui["positions"] = CommentedMap()
        for node_id in self.node_ids():
            x, y = layout.get(node_id, (40.0, 40.0))
            positions[node_id] = to_node([round(x), round(y)])

    def _cls(self, node_id: str, registry: Registry) -> type[Node]:
        raw = self._nodes.get(node_id)
        if not isinstance(raw, dict):
            raise EditError(f"no node '{node_id}'")
        cls = registry.get(str(raw.get("type")))
        if cls is None:
            raise EditError(f"node '{node_id}' has an unknown type '{raw.get('type')}'")
        return cls


def _insert_after(mapping: CommentedMap, key: str, value: Any, after: tuple[str, ...]) -> None:
    keys = list(mapping)
    for anchor in after:
        if anchor in keys:
            mapping.insert(keys.index(anchor) + 1, key, value)
            return
    mapping[key] = value



def _renamed(ref: Any, old: str, new: str) -> Any:
    """``ref`` with node ``old`` called ``new``; anything else (another node, not a ref) as it was."""
    parsed = parse_ref(str(ref))
    return f"{new}.{parsed[1]}" if parsed is not None and parsed[0] == old else ref
