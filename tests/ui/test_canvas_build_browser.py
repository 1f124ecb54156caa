"""Building a workflow on the canvas as a user does, every action counted (issue 22's measure).

From an empty canvas to ``workflows/concrete_cracks.yaml``'s five processing nodes
(source, threshold, measure, filter, annotate) and their six edges, in chromium at the
1440 x 900 window of the issue: each node after the first is added by dropping a wire
from the port that feeds it on the empty canvas and picking the type from the palette,
which lists only the types that take that kind. Every action lands on a spot already in
view (the test fails if one would need a pan or a scroll), and no node covers another,
so no action goes to moving nodes out of the way. The params the form still has to
set are counted from the node types' defaults and printed beside the canvas's count.

Then, on the built graph: box selection (select two, drag them together, delete them,
Ctrl+Z), the problems panel (a click selects the node), a wire from an input, a type
dragged out of the palette to where it is dropped, and the minimap under the drawing.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
import yaml
from browserkit import editor_server, launch_chromium
from playwright.sync_api import expect

from segflow.engine.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "workflows" / "concrete_cracks.yaml"
FIVE = ["surface", "cracks", "measure", "wide", "label"]  # the nodes that process; the three sinks are left out
WINDOW = {"width": 1440, "height": 900}

# A point of the canvas near ``anchor`` where a new node (about 240 x 150 px) covers no node and
# stays in the drawing; iframe coordinates, nearest first (right and down of the anchor first).
FREE_NEAR_JS = """([ax, ay]) => {
  const w = document.getElementById('wrap').getBoundingClientRect();
  const taken = [...document.querySelectorAll('.sf-node')].map(n => n.getBoundingClientRect());
  const spots = [];
  for (let y = w.top + 20; y < w.bottom - 160; y += 10) for (let x = w.left + 20; x < w.right - 250; x += 10) {
    if (taken.some(b => x < b.right + 12 && x + 250 > b.left && y < b.bottom + 12 && y + 160 > b.top)) continue;
    spots.push([Math.hypot(x - ax, y - ay) + (x < ax ? 400 : 0), x, y]);
  }
  spots.sort((a, b) => a[0] - b[0]);
  return spots.length ? [spots[0][1], spots[0][2]] : null;
}"""


class User:
    """Mouse and keyboard on the page, each call one counted action; fails on a target out of view."""

    def __init__(self, page, frame) -> None:
        self.page, self.frame = page, frame
        self.counts: collections.Counter[str] = collections.Counter()
        self.iframe = page.locator('iframe[title*="segflow_canvas"]')

    def in_view(self, x: float, y: float, what: str) -> None:
        """The point is on the drawing and in the window: reaching it takes no pan and no scroll."""
        wrap = box_of(self.frame.locator("#wrap"))
        assert 0 <= x <= WINDOW["width"] and 0 <= y <= WINDOW["height"], f"{what} is outside the window: a scroll"
        assert wrap["x"] <= x <= wrap["x"] + wrap["width"] and wrap["y"] <= y <= wrap["y"] + wrap["height"], \
            f"{what} is off the drawing: a pan"

    def centre(self, locator, what: str) -> tuple[float, float]:
        box = box_of(locator)
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        self.in_view(x, y, what)
        return x, y

    def free_near(self, x: float, y: float) -> tuple[float, float]:
        origin = box_of(self.iframe)
        spot = self.frame.locator("#wrap").evaluate(f"_ => ({FREE_NEAR_JS})([{x - origin['x']}, {y - origin['y']}])")
        assert spot, "no free spot left on the drawing"
        return spot[0] + origin["x"] + 5, spot[1] + origin["y"] + 5

    def double_click(self, x: float, y: float) -> None:
        self.in_view(x, y, "the double-click")
        self.page.mouse.dblclick(x, y)
        self.counts["click"] += 1

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        self.in_view(*end, "the drop")
        self.page.mouse.move(*start)
        self.page.mouse.down()
        self.page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
        self.page.mouse.move(*end, steps=4)
        self.page.mouse.up()
        self.counts["drag"] += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.counts["type"] += 1

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.counts["key"] += 1


def eventually(check, what: str, timeout: float = 40.0) -> None:
    """Retry ``check`` until it holds (the page may still be redrawing after the last action)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def box_of(locator, timeout: float = 40.0) -> dict:
    """The element's box on the page, once it has one: each render redraws the nodes, and a
    locator resolved just before may point at a node already replaced."""
    deadline = time.monotonic() + timeout
    while (box := locator.bounding_box(timeout=timeout * 1000)) is None:
        assert time.monotonic() < deadline, f"no box for {locator}"
        time.sleep(0.1)
    return box


def node(frame, node_type: str):
    return frame.locator(f'.sf-node[data-type="{node_type}"]')


def title(frame, node_type: str):
    return node(frame, node_type).locator(".sf-title")


def handle(frame, node_type: str, side: str, port: str):
    return node(frame, node_type).locator(f'.sf-handle[data-side="{side}"][data-port="{port}"]')


def pick(user: User, node_type: str) -> None:
    """Type the type's name in the open palette, see it listed first, press Enter; wait for the node."""
    expect(user.frame.locator("#palette-q")).to_be_focused()
    user.type(node_type)
    expect(user.frame.locator("#palette-list li").first).to_have_attribute("data-type", node_type)
    user.press("Enter")
    expect(node(user.frame, node_type)).to_have_count(1)


def add_from_wire(user: User, from_type: str, port: str, node_type: str, kind: str) -> None:
    """Drop a wire from ``from_type``'s output on the empty canvas next to it; the palette lists only fitting types."""
    start = user.centre(handle(user.frame, from_type, "out", port), f"{from_type}.{port}")
    user.drag(start, user.free_near(start[0] + 60, start[1]))
    expect(user.frame.locator("#palette-for")).to_contain_text(f"taking {kind} from")
    listed = user.frame.locator("#palette-list li").evaluate_all("els => els.map(e => e.dataset.type)")
    takes = {t: {str(s.kind) for s in cls.inputs.values()} for t, cls in default_registry()}
    assert listed and all(kind in takes[t] for t in listed), f"the palette offered types without a {kind} input"
    pick(user, node_type)


def wire(user: User, src_type: str, src_port: str, dst_type: str, dst_port: str | None) -> None:
    """Drag from an output onto an input, or (``dst_port`` None) onto the node's title: its port of that kind."""
    start = user.centre(handle(user.frame, src_type, "out", src_port), f"{src_type}.{src_port}")
    target = handle(user.frame, dst_type, "in", dst_port) if dst_port else title(user.frame, dst_type)
    user.drag(start, user.centre(target, f"{dst_type}.{dst_port or 'title'}"))


def drawn_edges(frame) -> set[str]:
    return set(frame.locator("path.sf-edge").evaluate_all(
        "els => els.map(e => e.dataset.from + '>' + e.dataset.to)"))


def form_fields_to_set() -> tuple[int, int]:
    """(params of the five nodes that differ from their defaults, nodes with any): the form's share."""
    doc = yaml.safe_load(TARGET.read_text())
    registry = default_registry()
    fields = nodes = 0
    for node_id in FIVE:
        spec = doc["nodes"][node_id]
        model = registry.get(spec["type"]).Params
        changed = [k for k, v in (spec.get("params") or {}).items() if model.model_fields[k].default != v]
        fields += len(changed)
        nodes += bool(changed)
    return fields, nodes


@contextlib.contextmanager
def empty_canvas(tmp_path: Path) -> Iterator[tuple]:
    workspace = tmp_path / "ws"
    (workspace / "workflows").mkdir(parents=True)
    os.symlink(ROOT / "assets", workspace / "assets")
    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    with editor_server("workflows/cracks.yaml", workspace, tmp_path / "editor.log") as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport=WINDOW)
                page.goto(url)
                frame = page.frame_locator('iframe[title*="segflow_canvas"]')
                frame.locator("#wrap").wait_for(timeout=60_000)
                expect(frame.locator("#problems .sf-problem")).to_contain_text("the workflow has no nodes")
                yield page, frame
            finally:
                browser.close()


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_building_concrete_cracks_from_an_empty_canvas_counts_its_actions(tmp_path):
    with empty_canvas(tmp_path) as (page, frame):
        user = User(page, frame)
        wrap = box_of(frame.locator("#wrap"))
        user.double_click(wrap["x"] + 60, wrap["y"] + 60)
        pick(user, "source.image")
        add_from_wire(user, "source.image", "image", "detect.threshold", "image")
        add_from_wire(user, "detect.threshold", "detections", "measure.masks", "detections")
        wire(user, "source.image", "image", "measure.masks", None)  # on the body: its image input
        add_from_wire(user, "measure.masks", "detections", "filter.detections", "detections")
        add_from_wire(user, "measure.masks", "detections", "annotate.detections", "detections")
        wire(user, "source.image", "image", "annotate.detections", "image")

        # The graph is concrete_cracks' five nodes and six edges (ids are the types' own: image, threshold...).
        doc = yaml.safe_load(TARGET.read_text())["nodes"]
        ids = dict(zip(frame.locator(".sf-node").evaluate_all("els => els.map(e => e.dataset.type)"),
                       frame.locator(".sf-node").evaluate_all("els => els.map(e => e.dataset.nodeId)"), strict=True))
        assert sorted(ids) == sorted(doc[n]["type"] for n in FIVE)
        as_built = {n: ids[doc[n]["type"]] for n in FIVE}
        wanted = {f"{as_built[ref.split('.')[0]]}.{ref.split('.')[1]}>{as_built[n]}.{port}"
                  for n in FIVE for port, ref in (doc[n].get("inputs") or {}).items()}
        assert len(wanted) == 6
        expect(frame.locator("path.sf-edge")).to_have_count(6)
        eventually(lambda: drawn_edges(frame) == wanted, f"the edges {sorted(wanted)}")
        boxes = [box_of(n) for n in frame.locator(".sf-node").all()]
        assert not any(a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"] and
                       a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
                       for i, a in enumerate(boxes) for b in boxes[i + 1:]), "two nodes overlap: a move needed"
        shot = os.environ.get("SEGFLOW_BUILD_SCREENSHOT")  # docs/img/editor-build.png is made this way
        user.iframe.screenshot(path=shot or str(tmp_path / "built.png"))
        for i, b in enumerate(boxes):
            user.in_view(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, f"node {i}")
        canvas_actions = sum(user.counts.values())
        fields, applies = form_fields_to_set()
        print(f"\nconcrete_cracks' five nodes and six edges from an empty canvas: {canvas_actions} actions on the "
              f"canvas {dict(user.counts)}, none to move a node, pan or scroll; the form then sets {fields} params "
              f"(one action each) and presses Apply {applies} times: {canvas_actions + fields + applies} in all")

        # The problems panel lists the empty params (the source's path, the filter's where) with their
        # node; a click on one selects that node. The drawing did not move as they came and went.
        problem = frame.locator(f'.sf-problem[data-node="{as_built["surface"]}"]')
        expect(problem.first).to_contain_text("path")
        problem.first.click()
        expect(node(frame, "source.image")).to_have_class(re.compile(r"\bselected\b"))
        expect(node(frame, "source.image")).to_have_class(re.compile(r"\bhas-issues\b"))
        assert box_of(frame.locator("#wrap")) == wrap, "the drawing moved or changed size"

        # Box selection: a box over the filter and the annotator selects both; they move together,
        # are deleted together, and Ctrl+Z brings both back.
        pair = [node(frame, "filter.detections"), node(frame, "annotate.detections")]
        a, b = (box_of(p) for p in pair)
        corner = (min(a["x"], b["x"]) - 8, min(a["y"], b["y"]) - 8)
        far = (max(a["x"] + a["width"], b["x"] + b["width"]) + 8, max(a["y"] + a["height"], b["y"] + b["height"]) + 8)
        assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y)", list(corner))
        user.drag(corner, far)
        selected = frame.locator(".sf-node.selected")
        expect(selected).to_have_count(2)
        assert sorted(selected.evaluate_all("els => els.map(e => e.dataset.type)")) == [
            "annotate.detections", "filter.detections"]
        start = user.centre(title(frame, "filter.detections"), "the filter's title")
        user.drag(start, (start[0] + 30, start[1] + 20))
        eventually(lambda: all(abs((m := box_of(p))["x"] - o["x"] - 30) < 3 and abs(m["y"] - o["y"] - 20) < 3
                               for p, o in zip(pair, (a, b), strict=True)), "the pair to move together")
        page.keyboard.press("Delete")
        expect(frame.locator(".sf-node")).to_have_count(3)
        expect(frame.locator("path.sf-edge")).to_have_count(3)
        page.keyboard.press("Control+z")
        expect(frame.locator(".sf-node")).to_have_count(5)
        expect(frame.locator("path.sf-edge")).to_have_count(6)

        # A wire from an input dropped on the empty canvas offers the types that give that kind.
        start = user.centre(handle(frame, "detect.threshold", "in", "image"), "threshold.image")
        user.drag(start, user.free_near(start[0] - 300, start[1]))
        expect(frame.locator("#palette-for")).to_contain_text("giving image to")
        listed = frame.locator("#palette-list li").evaluate_all("els => els.map(e => e.dataset.type)")
        gives = {t: {str(s.kind) for s in cls.outputs.values()} for t, cls in default_registry()}
        assert "source.image" in listed and all("image" in gives[t] for t in listed)
        page.keyboard.press("Escape")
        expect(frame.locator("#palette")).to_be_hidden()

        # A type dragged out of the palette lands where it is dropped.
        frame.locator("#add").click()
        frame.locator("#palette-q").fill("noop")
        start = user.centre(frame.locator('#palette-list li[data-type="debug.noop"]'), "the palette's noop")
        end = user.free_near(wrap["x"] + 40, wrap["y"] + 300)
        user.drag(start, end)
        noop = node(frame, "debug.noop")
        expect(noop).to_have_count(1)
        origin = box_of(user.iframe)
        wanted = frame.locator("#layer").evaluate(
            """(e, [x, y]) => { const m = new DOMMatrix(getComputedStyle(e).transform);
                 const w = document.getElementById('wrap').getBoundingClientRect();
                 return [(x - w.left - m.e) / m.a, (y - w.top - m.f) / m.a]; }""",
            [end[0] - origin["x"], end[1] - origin["y"]])
        eventually(lambda: all(abs(a - b) < 2 for a, b in zip(
            noop.evaluate("e => [parseFloat(e.style.left), parseFloat(e.style.top)]"), wanted, strict=True)),
            f"the dragged type placed at {wanted}")

        # The minimap is in the strip under the drawing, never over a node.
        minimap = frame.locator("#minimap").bounding_box()
        if minimap:
            assert minimap["y"] >= wrap["y"] + wrap["height"], "the minimap is over the drawing"
