"""The editor in a real browser: Debian's chromium driven by Playwright (no downloaded browser).

Starts ``segflow editor`` (``python -m segflow.ui.command``) on a free port, opens a
workflow, checks its nodes and edges are drawn, runs it on its sample and finds
the annotated image and the results table.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
import yaml
from browserkit import drawn, editor_server, frame_view, launch_chromium, open_tab, pick_option, settled, step_to
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
STEP = 5  # video frame the test runs the editor on
WORKFLOWS = [name for name in ("coffee_stones.yaml", "coins.yaml") if (ROOT / "workflows" / name).exists()]



def expected_graph(path: Path) -> tuple[set[str], int]:
    """Node ids and edge count read straight from the YAML, not through the editor."""
    nodes = yaml.safe_load(path.read_text())["nodes"]
    edges = 0
    for spec in nodes.values():
        for ref in (spec.get("inputs") or {}).values():
            edges += len(ref) if isinstance(ref, list) else 1
    return set(nodes), edges


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", WORKFLOWS)
def test_editor_in_chromium(name, tmp_path):
    from segflow.engine.api import load
    from segflow.engine.workflow.validate import validate_file

    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it (scripts/system-deps.sh)"
    workflow = ROOT / "workflows" / name
    validation = validate_file(workflow)
    assert validation.ok, [i.format() for i in validation.issues]  # every shipped workflow must run here
    from segflow.engine.execution.session import EditorSession
    from segflow.ui.media import source_frames

    # The reference, straight from the engine: frame STEP of a video (after the same warm-up the
    # editor replays for trackers), or the image itself.
    wf = load(workflow, base_dir=ROOT)
    source = wf.graph.nodes[wf.graph.source_ids[0]]
    is_video = len(source_frames(source, wf.context(), 0, 2)) > 1
    frames = source_frames(source, wf.context(), 0, STEP + 1 if is_video else 1)
    with EditorSession(wf.context(), run_sinks=False) as session:
        reference = session.run_sequence(wf.graph, [(f.pixels, f.index) for f in frames]).outputs
    detection_counts = {len(v) for ports in reference.values() for v in ports.values() if hasattr(v, "xyxy")}

    with editor_server(workflow, ROOT, tmp_path / "editor.log") as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url)
            frame = page.frame_locator('iframe[title*="segflow_canvas"]')
            node_ids, edge_count = expected_graph(workflow)
            expect(frame.locator(".sf-node")).to_have_count(len(node_ids), timeout=60_000)
            for node_id in node_ids:
                expect(frame.locator(f'.sf-node[data-node-id="{node_id}"]')).to_have_count(1)
            expect(frame.locator("path.sf-edge")).to_have_count(edge_count)

            # An edge between different kinds is refused on the canvas, naming both kinds.
            det_out = frame.locator('.sf-handle[data-side="out"][data-kind="detections"]').first
            owner = det_out.get_attribute("data-node")
            img_in = frame.locator(f'.sf-handle[data-side="in"][data-kind="image"]:not([data-node="{owner}"])').first
            det_out.drag_to(img_in)
            message = frame.locator("#msg")
            expect(message).to_contain_text(re.compile(r"cannot connect detections output .* to image input"))
            expect(frame.locator("path.sf-edge")).to_have_count(edge_count)

            view = frame_view(page)
            if is_video:  # step to a frame with stones in view with "Next", as a user would
                step_to(page, STEP)
            else:
                view.locator("#run").click()
            # The count shown is one the engine gives for this frame (the page may still be redrawing).
            counts = "|".join(str(n) for n in sorted(detection_counts) if n > 0)
            assert counts, f"the reference run found nothing on frame {STEP}"
            open_tab(page, "Run")  # the results, beside the canvas
            results = page.get_by_text(re.compile(r"Results — \d+ detections"))
            expect(results).to_have_text(re.compile(rf"Results — ({counts}) detections"), timeout=60_000)
            if is_video:  # the caption names the frame run
                expect(page.get_by_text(f"frame {STEP}").first).to_be_visible(timeout=40_000)
            expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^blob:"))
            page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=20_000)
            # The footer of each node now tells how its run went.
            expect(frame.locator(".sf-foot.ran").first).to_be_visible()
            page.screenshot(path=str(tmp_path / f"editor-{workflow.stem}.png"), full_page=True)
            browser.close()
    assert (tmp_path / f"editor-{workflow.stem}.png").stat().st_size > 10_000


# -- forms, stepping and play on the flagship graph ------------------------------------------------

FLAGSHIP = ROOT / "workflows" / "coffee_stones.yaml"
SHOTS = os.environ.get("SEGFLOW_SCREENSHOTS")  # a folder (docs/img) to keep the screenshots in


@contextlib.contextmanager
def flagship_page(tmp_path: Path):
    """``segflow editor`` on a copy of coffee_stones in a fresh workspace, and a chromium page on it."""
    (tmp_path / "ws" / "workflows").mkdir(parents=True)
    shutil.copy(FLAGSHIP, tmp_path / "ws" / "workflows" / FLAGSHIP.name)
    os.symlink(ROOT / "assets", tmp_path / "ws" / "assets")
    with editor_server(f"workflows/{FLAGSHIP.name}", tmp_path / "ws", tmp_path / "editor.log") as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 2000})
                page.set_default_timeout(60_000)
                page.goto(url)
                page.get_by_role("tab", name="Run").wait_for()
                yield page
            finally:
                browser.close()


def shoot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if SHOTS:
        shutil.copy(path, Path(SHOTS) / name)
    return path


def poll(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def number_field(page, name: str):
    """The <input> of the params form's number field labelled ``name`` (numbers are typed as text)."""
    label = page.locator('[data-testid="stWidgetLabel"] p').filter(has_text=re.compile(rf"^{name}$"))
    return page.locator('[data-testid="stTextInput"]').filter(has=label).locator("input")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_rejected_form_value_shows_pydantics_message_under_the_field(tmp_path):
    saved = FLAGSHIP.read_text()
    with flagship_page(tmp_path) as page:
        settled(page)
        pick_option(page, page.locator('[data-testid="stSelectbox"]').filter(has_text="Node").first, "detect")
        confidence = number_field(page, "confidence")
        expect(confidence).to_have_value("0.35")
        confidence.fill("5")
        confidence.press("Tab")  # leaving the field hands its value to the form
        drawn(page).get_by_role("button", name="Apply").first.click()  # its key carries the revision (browserkit.drawn)
        message = page.get_by_text("detect.confidence: Input should be less than or equal to 1")
        expect(message).to_be_visible()
        # Under the field: below its input, above the next field's (boxes taken together, once settled).
        below = number_field(page, "iou")
        poll(lambda: confidence.bounding_box()["y"] < message.bounding_box()["y"] < below.bounding_box()["y"], 30,
             "the message between the confidence and iou fields")
        expect(confidence).to_have_value("5")  # what the user typed stays to be corrected
        # Letters are refused with a message too, with the other field's error beside it.
        confidence.fill("0.3x")
        confidence.press("Tab")
        below.fill("2")
        below.press("Tab")
        drawn(page).get_by_role("button", name="Apply").first.click()
        expect(page.get_by_text("detect.confidence: '0.3x' is not a number")).to_be_visible()
        expect(page.get_by_text("detect.iou: Input should be less than or equal to 1")).to_be_visible()
        below.fill("0.7")
        below.press("Tab")
        confidence.fill("5")
        confidence.press("Tab")
        shoot(page, tmp_path, "editor-form-error.png")
        open_tab(page, "YAML")
        expect(page.locator("textarea").filter(has_text="coffee-stones").first).to_have_value(saved)
        expect(page.get_by_text("● unsaved")).to_have_count(0)  # the document kept the previous value
        # A valid value is applied, and the message goes.
        open_tab(page, "Node")
        confidence.fill("0.5")
        confidence.press("Tab")
        drawn(page).get_by_role("button", name="Apply").first.click()
        expect(page.get_by_text("● unsaved")).to_be_visible()
        expect(page.get_by_text("detect.confidence: Input should be")).to_have_count(0)
    assert (tmp_path / "ws" / "workflows" / FLAGSHIP.name).read_text() == saved  # nothing saved


def counter_at(view) -> int:
    return int(re.search(r"^frame (\d+)", view.locator("#counter").inner_text()).group(1))


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_every_quick_click_on_next_moves_one_frame(tmp_path):
    """10 clicks 100 ms apart move 10 frames, and 5 double-clicks move 10, however busy the machine.

    The page counts the clicks and the frame server is asked for each of them (summed while a frame
    runs), so no click is merged by a Streamlit rerun. The counter shows the painted frame's index.
    """
    with flagship_page(tmp_path) as page:
        view = frame_view(page)
        counter = view.locator("#counter")
        step_to(page, 1)  # the first run loads the models
        first_picture = view.locator("#picture").get_attribute("src")
        for _ in range(10):
            view.locator("#next").click()
            page.wait_for_timeout(100)
        expect(counter).to_have_text(re.compile(r"^frame 11 / \d+$"), timeout=180_000)
        expect(view.locator("#picture")).not_to_have_attribute("src", first_picture)
        for _ in range(5):
            view.locator("#next").dblclick()
            page.wait_for_timeout(150)
        expect(counter).to_have_text(re.compile(r"^frame 21 / \d+$"), timeout=180_000)
        for _ in range(4):
            view.locator("#prev").click()
        expect(counter).to_have_text(re.compile(r"^frame 17 / \d+$"), timeout=180_000)
        # Streamlit hears of the runs once the clicks are served: the results name the frame shown.
        open_tab(page, "Run")
        expect(page.get_by_text(re.compile(r"^Input: belt frame 17 — "))).to_be_visible(timeout=120_000)
        shoot(page, tmp_path, "editor-run.png")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_play_mode_streams_advancing_frames(tmp_path):
    with flagship_page(tmp_path) as page:
        view = frame_view(page)
        view.locator("#play").click()
        expect(view.locator("#play")).to_have_text("■ Stop")
        expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^http://127\.0\.0\.1:\d+/stream\.mjpg\?t=[\w-]+$"))
        stream = view.locator("#picture").get_attribute("src")
        caption = view.locator("#caption")
        expect(caption).to_have_text(re.compile(r"^Play: playing, [\d.]+ frames/s, ([4-9]|\d\d+) played"),
                                     timeout=180_000)
        # The browser shows the stream (the <img> has decoded MJPEG parts), and the counter follows play.
        expect(view.locator("#counter")).not_to_have_text(re.compile(r"^frame (–|0 /)"))
        poll(lambda: view.locator("#picture").evaluate("i => i.naturalWidth > 0"), 60, "the stream decoded")
        shoot(page, tmp_path, "editor-play.png")
        view.locator("#play").click()
        expect(view.locator("#play")).to_have_text("▶ Play")

        def server_gone() -> bool:
            try:
                urllib.request.urlopen(stream.replace("stream.mjpg", "status.json"), timeout=10)
            except OSError:
                return True
            return False

        poll(server_gone, 30, "the stream server closed after Stop")
        # Stop leaves the view on the frame play reached, run and painted.
        expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^blob:"), timeout=120_000)
        expect(view.locator("#counter")).to_have_text(re.compile(r"^frame ([4-9]|\d\d+) / \d+$"))
        played = counter_at(view)  # settled: the stop's frame is painted and counted
        open_tab(page, "Run")
        expect(page.get_by_text(re.compile(rf"^Input: belt frame {played} — "))).to_be_visible(timeout=120_000)
