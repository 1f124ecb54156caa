"""Drawing a compiled graph: Graphviz DOT, Mermaid, SVG and PNG without extra tools.

The layout is layered: a node's column is its longest distance from a
source. SVG is written as text; PNG is rendered with OpenCV (a core
dependency), so drawing needs neither Graphviz nor matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from segflow.engine.workflow.graph import CompiledGraph, layers

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 190, 54, 70, 26, 20
FILL = {"source": "#d8ecff", "io": "#e2f5dc", "model": "#ffe7c7", "cpu": "#f2f2f2"}  # by Node.role()


@dataclass
class Box:
    node_id: str
    label: str
    role: str
    x: int
    y: int


def layout(graph: CompiledGraph) -> tuple[list[Box], int, int]:
    column = layers(graph.order, graph.graph.edges)
    rows: dict[int, int] = {}
    boxes = []
    for node_id in graph.order:
        col = column[node_id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        boxes.append(Box(node_id, graph.nodes[node_id].cls.type_name, graph.nodes[node_id].cls.role(),
                         MARGIN + col * (BOX_W + GAP_X), MARGIN + row * (BOX_H + GAP_Y)))
    width = MARGIN * 2 + (max(column.values(), default=0) + 1) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + max(rows.values(), default=1) * (BOX_H + GAP_Y) - GAP_Y
    return boxes, width, height


def _edges(graph: CompiledGraph) -> list[tuple[str, str, str]]:
    """(from node, to node, 'port -> port') for every wire."""
    out = []
    for node_id, node in graph.nodes.items():
        for port, refs in node.inputs.items():
            for src, src_port in refs:
                out.append((src, node_id, f"{src_port} → {port}" if src_port != port else port))
        for param, (src, src_port) in node.param_refs.items():  # a param given per packet: a wire too
            out.append((src, node_id, f"{src_port} → params.{param}"))
    return out


def to_dot(graph: CompiledGraph) -> str:
    lines = [f'digraph "{graph.name}" {{', "  rankdir=LR;", '  node [shape=box, style="rounded,filled"];']
    for node_id in graph.order:
        fill = FILL[graph.nodes[node_id].cls.role()]
        lines.append(f'  "{node_id}" [label="{node_id}\\n{graph.nodes[node_id].cls.type_name}", fillcolor="{fill}"];')
    for src, dst, label in _edges(graph):
        lines.append(f'  "{src}" -> "{dst}" [label="{label}"];')
    return "\n".join(lines + ["}"]) + "\n"


def to_mermaid(graph: CompiledGraph) -> str:
    lines = ["flowchart LR"]
    for node_id in graph.order:
        lines.append(f'  {node_id}["{node_id}<br/>{graph.nodes[node_id].cls.type_name}"]')
    for src, dst, label in _edges(graph):
        lines.append(f"  {src} -->|{label}| {dst}")
    return "\n".join(lines) + "\n"


def to_svg(graph: CompiledGraph) -> str:
    boxes, width, height = layout(graph)
    at = {b.node_id: b for b in boxes}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" markerWidth="10" markerHeight="7" refX="10" refY="3.5" orient="auto">'
             '<polygon points="0 0, 10 3.5, 0 7" fill="#555"/></marker></defs>']
    for src, dst, label in _edges(graph):
        a, b = at[src], at[dst]
        x1, y1, x2, y2 = a.x + BOX_W, a.y + BOX_H // 2, b.x, b.y + BOX_H // 2
        parts.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#555" marker-end="url(#arrow)"/>')
        parts.append(f'<text x="{(x1 + x2) // 2}" y="{(y1 + y2) // 2 - 4}" text-anchor="middle" fill="#555" '
                     f'font-size="10">{escape(label)}</text>')
    for box in boxes:
        parts.append(f'<rect x="{box.x}" y="{box.y}" width="{BOX_W}" height="{BOX_H}" rx="8" '
                     f'fill="{FILL[box.role]}" stroke="#333"/>')
        parts.append(f'<text x="{box.x + BOX_W // 2}" y="{box.y + 22}" text-anchor="middle" font-weight="bold">'
                     f"{escape(box.node_id)}</text>")
        parts.append(f'<text x="{box.x + BOX_W // 2}" y="{box.y + 40}" text-anchor="middle">{escape(box.label)}</text>')
    return "\n".join(parts + ["</svg>"]) + "\n"


def _hex_to_bgr(colour: str) -> tuple[int, int, int]:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return b, g, r


def to_png(graph: CompiledGraph, path: Path) -> None:
    import cv2
    import numpy as np

    boxes, width, height = layout(graph)
    at = {b.node_id: b for b in boxes}
    image = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for src, dst, _ in _edges(graph):
        a, b = at[src], at[dst]
        cv2.arrowedLine(image, (a.x + BOX_W, a.y + BOX_H // 2), (b.x, b.y + BOX_H // 2), (85, 85, 85), 1,
                        cv2.LINE_AA, tipLength=12 / max(1, abs(b.x - a.x - BOX_W)))
    for box in boxes:
        cv2.rectangle(image, (box.x, box.y), (box.x + BOX_W, box.y + BOX_H), _hex_to_bgr(FILL[box.role]), -1)
        cv2.rectangle(image, (box.x, box.y), (box.x + BOX_W, box.y + BOX_H), (51, 51, 51), 1, cv2.LINE_AA)
        cv2.putText(image, box.node_id, (box.x + 8, box.y + 22), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, box.label, (box.x + 8, box.y + 42), font, 0.42, (60, 60, 60), 1, cv2.LINE_AA)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def write(graph: CompiledGraph, path: Path) -> None:
    suffix = path.suffix.lower()
    writers = {".dot": to_dot, ".gv": to_dot, ".mmd": to_mermaid, ".svg": to_svg}
    if suffix == ".png":
        to_png(graph, path)
    elif suffix in writers:
        path.write_text(writers[suffix](graph), encoding="utf-8")
    else:
        raise ValueError(f"cannot draw to '{path.name}': use .png, .svg, .dot or .mmd")
