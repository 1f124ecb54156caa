"""The canvas in a real browser: readable text, palette search, undo of a delete, a lost event, the minimap.

Debian's chromium driven by Playwright against a real ``segflow editor`` on a copy of the
workflows (the server-start and chromium helpers follow ``test_editor_browser.py``). Every
check on the page retries: Playwright's ``expect``, or ``wait_until`` on a condition with a
generous deadline (never one read right after an action); speed figures are printed, never asserted.
"""

from __future__ import annotations

import contextlib
import json
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

ROOT = Path(__file__).resolve().parents[2]
MIN_TEXT_PX = 12
CONSOLE_NOISE = ("Unrecognized feature", "An iframe which has both allow-scripts")  # chromium on every page
TEXT_SIZES_JS = """() => {
  // the smallest node text on screen: computed font size times the layer's scale (its CSS transform)
  const layer = document.getElementById('layer');
  const m = getComputedStyle(layer).transform.match(/matrix\\(([^,]+),/);
  const zoom = m ? parseFloat(m[1]) : 1;
  let smallest = Infinity, count = 0;
  for (const e of document.querySelectorAll('.sf-node, .sf-node *')) {
    const own = [...e.childNodes].some(c => c.nodeType === 3 && c.textContent.trim());
    if (!own) continue;
    count += 1;
    smallest = Math.min(smallest, parseFloat(getComputedStyle(e).fontSize) * zoom);
  }
  return {zoom, smallest, count};
}"""


def workspace_with(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "ws" / "workflows").mkdir(parents=True)
    for name in names:
        shutil.copy(ROOT / "workflows" / name, tmp_path / "ws" / "workflows" / name)
    os.symlink(ROOT / "assets", tmp_path / "ws" / "assets")
    return tmp_path / "ws"


@contextlib.contextmanager
def editor_page(workspace: Path, workflow: str, log_path: Path) -> Iterator[tuple]:
    """A running editor on ``workflow`` and a chromium page showing it; both ended afterwards."""
    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    with editor_server(workflow, workspace, log_path) as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                console: list[str] = []  # Streamlit warns there of a component value it drops
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}")
                        if m.type != "log" and not m.text.startswith(CONSOLE_NOISE) else None)
                page.goto(url)
                frame = page.frame_locator('iframe[title*="segflow_canvas"]')
                frame.locator(".sf-node").first.wait_for(timeout=60_000)
                try:
                    yield page, frame
                except BaseException:
                    print("browser console (warnings and errors):", *console[-40:], sep="\n  ")
                    raise
            finally:
                browser.close()


# What the canvas has sent and Python has not confirmed (canvas.js's outbox), and the last seq confirmed.
OUTBOX_JS = "_ => ({outbox: outbox.map(e => e.action + '@' + e.seq), confirmed: graph.seq || 0, renders})"


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def wait_until(check, what: str, timeout: float = 40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def text_sizes(frame) -> dict:
    return frame.locator("#layer").evaluate(f"_ => ({TEXT_SIZES_JS})()")


def node_ids(frame) -> list[str]:
    return frame.locator(".sf-node").evaluate_all("els => els.map(e => e.dataset.nodeId)")


def rect(locator) -> dict:
    return locator.evaluate("e => { const r = e.getBoundingClientRect(); "
                            "return {x: r.left, y: r.top, right: r.right, bottom: r.bottom}; }")


def inside(inner: dict, outer: dict) -> bool:
    return (inner["x"] >= outer["x"] - 1 and inner["y"] >= outer["y"] - 1
            and inner["right"] <= outer["right"] + 1 and inner["bottom"] <= outer["bottom"] + 1)


def overlapping(boxes: list[dict]) -> bool:
    return any(a["x"] < b["right"] and b["x"] < a["right"] and a["y"] < b["bottom"] and b["y"] < a["bottom"]
               for i, a in enumerate(boxes) for b in boxes[i + 1:])


def select(node) -> None:
    node.locator(".sf-type").click()
    wait_until(lambda: "selected" in (node.get_attribute("class") or ""), f"{node} to be selected")


def empty_point(frame) -> tuple[float, float]:
    """A point of the canvas where a new node (about 230 x 140 px) covers no node (frame coordinates)."""
    return frame.locator("#wrap").evaluate("""w => {
      const r = w.getBoundingClientRect();
      const taken = [...document.querySelectorAll('.sf-node, #minimap')].map(n => n.getBoundingClientRect())
        .filter(b => b.width > 0);
      for (let y = r.top + 40; y < r.bottom - 180; y += 20) for (let x = r.left + 40; x < r.right - 270; x += 20) {
        const hit = document.elementFromPoint(x, y);
        if (!hit || !(hit.id === 'wrap' || hit.id === 'layer')) continue;
        if (!taken.some(b => x < b.right + 10 && x + 240 > b.left && y < b.bottom + 10 && y + 150 > b.top))
          return [x, y];
      }
      return null; }""")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_coffee_graph_text_is_readable_at_the_default_zoom(tmp_path):
    workspace = workspace_with(tmp_path, "coffee_stones.yaml")
    expected = set(yaml.safe_load((workspace / "workflows" / "coffee_stones.yaml").read_text())["nodes"])
    with editor_page(workspace, "workflows/coffee_stones.yaml", tmp_path / "editor.log") as (page, frame):
        wait_until(lambda: set(node_ids(frame)) == expected, "every node of coffee_stones drawn")
        sizes = wait_until(lambda: (s := text_sizes(frame))["count"] > 30 and s["smallest"] >= MIN_TEXT_PX and s,
                           f"30+ node texts, none under {MIN_TEXT_PX} px")
        print(f"coffee_stones at the default zoom: zoom {sizes['zoom']:.2f}, smallest node text "
              f"{sizes['smallest']:.1f} px on screen over {sizes['count']} text elements")
        # The view starts at the graph's start: the source is on screen.
        wrap = rect(frame.locator("#wrap"))
        wait_until(lambda: inside(rect(frame.locator('.sf-node[data-node-id="belt"]')), wrap), "the source in view")
        # If any node is out of view, the minimap is there to find it.
        hidden = [n for n in expected if not inside(rect(frame.locator(f'.sf-node[data-node-id="{n}"]')), wrap)]
        if hidden:
            expect(frame.locator("#minimap")).to_be_visible()
        else:
            expect(frame.locator("#minimap")).to_be_hidden()
        # "Fit" keeps the text readable too; zooming out by hand may go smaller.
        frame.locator("#zoom-out").click()
        frame.locator("#zoom-out").click()
        wait_until(lambda: text_sizes(frame)["smallest"] < MIN_TEXT_PX, "zooming out to shrink the text")
        frame.locator("#fit").click()
        wait_until(lambda: text_sizes(frame)["smallest"] >= MIN_TEXT_PX, "Fit to keep the text readable")

        # After a run each node shows its last output: pictures for images, counts for detections.
        started = time.monotonic()
        page.frame_locator('iframe[title*="segflow_viewer"]').locator("#run").click()
        thumbs = frame.locator("img.sf-thumb")
        wait_until(lambda: thumbs.count() >= 2, "image thumbnails on the canvas", timeout=120)
        print(f"Run -> thumbnails drawn: {time.monotonic() - started:.2f} s (model load included)")
        def decoded_thumbnails() -> list | None:
            sizes = thumbs.evaluate_all("els => els.map(e => [e.naturalWidth, e.src.length])")
            return sizes if all(0 < w <= 120 for w, _ in sizes) else None

        sizes = wait_until(decoded_thumbnails, "decoded thumbnails at most 120 px wide")
        print(f"thumbnail data URLs: {[n for _, n in sizes]} characters")
        expect(frame.locator('.sf-node[data-node-id="detect"] .sf-thumb-text')).to_have_text(
            re.compile(r"^\d+ detections?$"))
        frame.locator("#fit").click()
        shot = os.environ.get("SEGFLOW_CANVAS_SCREENSHOT")  # docs/img/editor-canvas.png is made this way
        page.locator('iframe[title*="segflow_canvas"]').screenshot(path=shot or str(tmp_path / "canvas.png"))


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_palette_search_adds_a_node_where_the_user_looks(tmp_path):
    workspace = workspace_with(tmp_path, "coins.yaml")
    with editor_page(workspace, "workflows/coins.yaml", tmp_path / "editor.log") as (page, frame):
        before = len(node_ids(frame))
        frame.locator("#add").click()
        frame.locator("#palette-q").fill("invert pixels")  # name and description words
        items = frame.locator("#palette-list li")
        wait_until(lambda: items.count() >= 1 and items.first.get_attribute("data-type") == "debug.invert",
                   "the palette to list debug.invert first")
        wait_until(lambda: all(shown := items.evaluate_all("els => els.map(e => e.dataset.type)")) and len(shown) < 5,
                   "the search to filter the list to a few types")
        started = time.monotonic()
        frame.locator("#palette-q").press("Enter")
        added = frame.locator('.sf-node[data-type="debug.invert"]')
        added.wait_for(timeout=40_000)
        print(f"palette Enter -> node drawn: {time.monotonic() - started:.2f} s")
        expect(frame.locator(".sf-node")).to_have_count(before + 1)
        wait_until(lambda: inside(rect(added), rect(frame.locator("#wrap"))), "the new node in view, not off screen")

        # Double-click on empty canvas: the palette opens there and the node lands at that point.
        point = empty_point(frame)
        for _ in range(3):  # a canvas beside the form is narrower: zoom out (by hand) until there is room
            if point:
                break
            frame.locator("#zoom-out").click()  # applied in the click's own handler, no rerun
            point = empty_point(frame)
        assert point, "no empty spot on the canvas"
        wrap_box = rect(frame.locator("#wrap"))
        tx, ty, zoom = frame.locator("#layer").evaluate(
            "e => { const m = new DOMMatrix(getComputedStyle(e).transform); return [m.e, m.f, m.a]; }")
        wanted = ((point[0] - wrap_box["x"] - tx) / zoom, (point[1] - wrap_box["y"] - ty) / zoom)  # canvas coords
        frame.locator("#wrap").dblclick(position={"x": point[0] - wrap_box["x"], "y": point[1] - wrap_box["y"]})
        frame.locator("#palette-q").wait_for(timeout=10_000)
        frame.locator("#palette-q").fill("stats")
        frame.locator('#palette-list li[data-type="debug.stats"]').click()
        stats = frame.locator('.sf-node[data-type="debug.stats"]')
        stats.wait_for(timeout=40_000)
        wait_until(lambda: abs((p := stats.evaluate("e => [parseFloat(e.style.left), parseFloat(e.style.top)]"))[0]
                               - wanted[0]) < 2 and abs(p[1] - wanted[1]) < 2, f"the node placed at {wanted}")
        wait_until(lambda: inside(rect(stats), rect(frame.locator("#wrap"))), "the placed node in view")

        # Three adds in a row without waiting (each while the last one's rerun runs): none is lost.
        # Each noop brings a validation problem (its input is not wired); listed above the canvas,
        # they pushed it down mid-click and the next click landed on the page instead of "+ Add node".
        # Now they go to the canvas's own problems panel, of fixed height.
        ids_before = node_ids(frame)
        count = len(ids_before)
        canvas_top = page.locator('iframe[title*="segflow_canvas"]').bounding_box()["y"]
        wrap_box = rect(frame.locator("#wrap"))
        problems = frame.locator("#problems .sf-problem")
        problems_before = problems.count()
        frame.locator("#layer").evaluate("_ => { window.sfSameFrame = true; }")  # gone if the frame is re-created
        sent = []
        for query in ("noop", "noop", "noop"):
            frame.locator("#add").click()
            frame.locator("#palette-q").fill(query)
            frame.locator("#palette-q").press("Enter")
            sent.append(frame.locator("#layer").evaluate(OUTBOX_JS))
        try:
            expect(frame.locator(".sf-node")).to_have_count(count + 3)  # all three quick adds drawn
        except AssertionError as exc:  # which node is missing or doubled: node ids and the canvas's outbox say
            raise AssertionError(
                f"{exc}\nnodes before the adds: {ids_before}; now: {node_ids(frame)}\n"
                f"the canvas's outbox after each add: {sent}; now: {frame.locator('#layer').evaluate(OUTBOX_JS)}\n"
                f"same frame as before the adds: {frame.locator('#layer').evaluate('_ => !!window.sfSameFrame')}\n"
                f"editor log (tail):\n{tail(tmp_path / 'editor.log')}") from None
        noops = frame.locator('.sf-node[data-type="debug.noop"]')
        expect(noops).to_have_count(3)
        wait_until(lambda: problems.count() > problems_before, "the new nodes' problems listed")
        top_now = page.locator('iframe[title*="segflow_canvas"]').bounding_box()["y"]
        assert top_now == canvas_top, f"the canvas moved from y={canvas_top} to {top_now} while nodes were added"
        assert rect(frame.locator("#wrap")) == wrap_box, "the drawing moved or changed size as problems came"
        expect(page.locator('[data-testid="stAlert"]', has_text="never runs")).to_have_count(0)  # not as a banner
        # and none covers another: each lands beside the selected node or the one added just before
        wait_until(lambda: not overlapping([rect(noops.nth(i)) for i in range(3)] + [rect(stats)]),
                   "the added nodes side by side, none on top of another")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ctrl_z_undoes_a_delete_with_its_edges(tmp_path):
    workspace = workspace_with(tmp_path, "coins.yaml")
    with editor_page(workspace, "workflows/coins.yaml", tmp_path / "editor.log") as (page, frame):
        edges = frame.locator("path.sf-edge")
        wait_until(lambda: edges.count() == 8, "the 8 edges of coins.yaml")
        measure = frame.locator('.sf-node[data-node-id="measure"]')
        place = "e => [parseFloat(e.style.left), parseFloat(e.style.top)]"  # in the graph: the view may pan
        where = measure.evaluate(place)
        select(measure)
        page.keyboard.press("Delete")
        wait_until(lambda: measure.count() == 0 and edges.count() == 6, "measure and its 2 edges to go")
        wait_until(lambda: not frame.locator("#undo").is_disabled(), "Undo to be enabled")
        started = time.monotonic()
        page.keyboard.press("Control+z")
        measure.wait_for(timeout=40_000)
        wait_until(lambda: edges.count() == 8, "the edges to come back")
        print(f"Ctrl+Z -> node and edges back: {time.monotonic() - started:.2f} s")
        wait_until(lambda: abs((back := measure.evaluate(place))[0] - where[0]) < 2 and abs(back[1] - where[1]) < 2,
                   "measure back where it was")
        wanted_ends = {"coins.detections>measure.detections", "measure.detections>colour.detections"}
        wait_until(lambda: wanted_ends <= set(edges.evaluate_all("els => els.map(e => e.dataset.from + '>' + "
                                                                 "e.dataset.to)")), "measure's two edges back")
        wait_until(lambda: not frame.locator("#redo").is_disabled(), "Redo to be enabled")
        page.keyboard.press("Control+Shift+z")
        wait_until(lambda: measure.count() == 0, "redo to delete it again")
        frame.locator("#undo").click()  # the toolbar button does the same
        measure.wait_for(timeout=40_000)
        # Ctrl+Z works outside the canvas too: with the focus on the page's heading, not the canvas
        select(measure)
        page.keyboard.press("Delete")
        wait_until(lambda: measure.count() == 0, "measure to go again")
        page.locator(".st-key-sf-top h3").click()  # the page outside the canvas: its header
        page.keyboard.press("Control+z")
        expect(measure).to_have_count(1, timeout=40_000)  # back, though the canvas never had the focus


# The page loses the canvas's next value that carries a delete, as Streamlit drops one posted while
# it re-creates the canvas's frame or before it has seen the frame ready.
DROP_THE_DELETE_JS = """() => {
  const page = window.parent, post = page.postMessage;
  page.postMessage = function (message, ...rest) {
    const events = message && message.type === "streamlit:setComponentValue" && message.value.events;
    if (events && events.some(e => e.action === "delete")) {
      page.postMessage = post;  // once
      window.sfDropped = events.map(e => e.action);
      return;
    }
    return post.call(page, message, ...rest);
  };
}"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_an_event_the_page_never_got_is_sent_again(tmp_path):
    workspace = workspace_with(tmp_path, "coins.yaml")
    with editor_page(workspace, "workflows/coins.yaml", tmp_path / "editor.log") as (page, frame):
        undo = frame.locator("#undo")
        expect(undo).to_be_disabled()  # nothing done yet
        measure = frame.locator('.sf-node[data-node-id="measure"]')
        select(measure)
        frame.locator("#wrap").evaluate(f"_ => ({DROP_THE_DELETE_JS})()")
        page.keyboard.press("Delete")
        dropped = wait_until(lambda: frame.locator("#wrap").evaluate("_ => window.sfDropped"), "the delete to be lost")
        assert "delete" in dropped
        # Python gets it all the same: its undo step exists, and its render keeps measure away
        expect(undo).to_be_enabled(timeout=40_000)
        expect(measure).to_have_count(0, timeout=40_000)
        undo.click()
        expect(measure).to_have_count(1, timeout=40_000)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_minimap_shows_a_big_graph_and_pans_the_view(tmp_path):
    workspace = workspace_with(tmp_path)
    nodes = {"photo": {"type": "source.image", "params": {"path": "assets/samples/coins.png"}}}
    positions = {"photo": [40, 40]}
    previous = "photo"
    for i in range(1, 36):  # a 36-node chain on a 9 x 4 grid: far bigger than the view at a readable zoom
        nodes[f"inv{i}"] = {"type": "debug.invert", "inputs": {"image": f"{previous}.image"}}
        positions[f"inv{i}"] = [40 + (i % 9) * 320, 40 + (i // 9) * 200]
        previous = f"inv{i}"
    positions["inv35"] = [40 + 9 * 320, 340]  # the end of the chain: far right, half way down
    (workspace / "workflows" / "big.yaml").write_text(yaml.safe_dump({"version": 1, "name": "big", "nodes": nodes},
                                                                     sort_keys=False))
    (workspace / "workflows" / "big.layout.json").write_text(json.dumps({"version": 1, "positions": positions}))
    with editor_page(workspace, "workflows/big.yaml", tmp_path / "editor.log") as (page, frame):
        wait_until(lambda: len(node_ids(frame)) == 36, "36 nodes")
        minimap = frame.locator("#minimap")
        expect(minimap).to_be_visible(timeout=20_000)
        wait_until(lambda: text_sizes(frame)["smallest"] >= MIN_TEXT_PX, "readable text on the big graph")
        last = frame.locator('.sf-node[data-node-id="inv35"]')
        wrap = rect(frame.locator("#wrap"))
        wait_until(lambda: not inside(rect(last), wrap), "the end of the chain out of view at first")
        box = minimap.bounding_box()
        transform = frame.locator("#layer").evaluate("e => e.style.transform")
        minimap.click(position={"x": box["width"] - 12, "y": box["height"] / 2})  # the graph's far end
        wait_until(lambda: frame.locator("#layer").evaluate("e => e.style.transform") != transform,
                   "a click on the minimap to move the view")
        wait_until(lambda: inside(rect(last), wrap), "the last node of the chain in view")
        zoom = float(transform.split("scale(")[1].rstrip(")"))
        wait_until(lambda: text_sizes(frame)["zoom"] == pytest.approx(zoom), "the view panned, not zoomed")
        # The minimap sits under the drawing, not over it: it covers no node.
        assert rect(minimap)["y"] >= wrap["bottom"], "the minimap is over the drawing"
        # A middle-button drag on the canvas pans (a left drag draws a selection box).
        before = frame.locator("#layer").evaluate("e => e.style.transform")
        chosen = frame.locator(".sf-node.selected").count()
        box = page.locator('iframe[title*="segflow_canvas"]').bounding_box()
        start = empty_point(frame)
        assert start, "no empty spot on the canvas"
        page.mouse.move(box["x"] + start[0], box["y"] + start[1])
        page.mouse.down(button="middle")
        page.mouse.move(box["x"] + start[0] + 120, box["y"] + start[1] + 40, steps=5)
        page.mouse.up(button="middle")
        wait_until(lambda: frame.locator("#layer").evaluate("e => e.style.transform") != before,
                   "a middle-button drag to pan the view")
        expect(frame.locator(".sf-node.selected")).to_have_count(chosen)  # no selection box drawn
