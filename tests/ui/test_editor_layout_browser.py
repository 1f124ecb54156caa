"""The editor's first screen at 1440x900, in Debian's chromium: everything needed to edit and run is in view.

The workflow's name and description, Save, the frame view's toolbar (Run, steps, Play, the slider),
the canvas and the selected node's form are all on screen without scrolling; the mouse wheel over
the canvas scrolls the page (only Ctrl+wheel zooms), and the header stays in view when it does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
import yaml
from browserkit import drawn, editor_server, frame_view, launch_chromium, open_tab
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
FLAGSHIP = ROOT / "workflows" / "coffee_stones.yaml"
SCROLLED = ("() => Math.max(window.scrollY, ...[...document.querySelectorAll("
            "'[data-testid=\"stMain\"], [data-testid=\"stAppViewContainer\"]')].map(e => e.scrollTop))")


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_first_screen_has_toolbar_canvas_and_form_and_the_wheel_scrolls_the_page(tmp_path):
    (tmp_path / "ws" / "workflows").mkdir(parents=True)
    shutil.copy(FLAGSHIP, tmp_path / "ws" / "workflows" / FLAGSHIP.name)
    os.symlink(ROOT / "assets", tmp_path / "ws" / "assets")
    description = yaml.safe_load(FLAGSHIP.read_text())["description"]
    with editor_server(f"workflows/{FLAGSHIP.name}", tmp_path / "ws", tmp_path / "editor.log") as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url)
                header = page.locator(".st-key-sf-top")
                title = header.locator("h3")
                expect(title).to_contain_text("coffee-stones", timeout=90_000)
                expect(title).to_be_in_viewport()
                expect(header.get_by_text(description[:40])).to_be_in_viewport()
                save = header.get_by_role("button", name="Save")
                expect(save).to_be_in_viewport()
                view = frame_view(page)
                for control in ("#run", "#prev", "#next", "#play", "#slider", "#counter"):
                    expect(view.locator(control)).to_be_visible()
                expect(page.locator('iframe[title*="segflow_viewer"]')).to_be_in_viewport(ratio=1)
                canvas = page.locator('iframe[title*="segflow_canvas"]')
                expect(canvas).to_be_in_viewport(ratio=0.85)
                # The selected node's form, beside the canvas: its node picker and first field.
                expect(page.locator('[data-testid="stSelectbox"]').filter(has_text="Node").first).to_be_in_viewport()
                expect(page.locator('[data-testid="stTextInput"]').filter(has_text="path").first).to_be_in_viewport()
                page.screenshot(path=str(tmp_path / "editor-first-screen.png"))
                if os.environ.get("SEGFLOW_SCREENSHOTS"):  # docs/img: the picture in docs/editor.md
                    shutil.copy(tmp_path / "editor-first-screen.png", os.environ["SEGFLOW_SCREENSHOTS"])

                zoom = page.frame_locator('iframe[title*="segflow_canvas"]').locator("#zoom-label")
                zoom_before = zoom.inner_text()
                box = canvas.bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                page.mouse.wheel(0, 500)
                page.wait_for_function(f"() => ({SCROLLED})() > 100", timeout=30_000)  # the page scrolled
                expect(zoom).to_have_text(zoom_before)  # and the canvas did not zoom
                expect(save).to_be_in_viewport()  # the header stays at the top
            finally:
                browser.close()


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_yaml_tab_numbers_its_lines_and_goes_to_the_problem(tmp_path):
    (tmp_path / "ws" / "workflows").mkdir(parents=True)
    shutil.copy(FLAGSHIP, tmp_path / "ws" / "workflows" / FLAGSHIP.name)
    os.symlink(ROOT / "assets", tmp_path / "ws" / "assets")
    text = FLAGSHIP.read_text()
    lines = text.splitlines(keepends=True)
    bad_line = 5
    broken = "".join(lines[:bad_line - 1]) + "oops: a: b\n" + "".join(lines[bad_line - 1:])  # not YAML at line 5
    caret_line = "ta => ta.value.slice(0, ta.selectionStart).split('\\n').length"
    with editor_server(f"workflows/{FLAGSHIP.name}", tmp_path / "ws", tmp_path / "editor.log") as url:
        with playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(url)
                open_tab(page, "YAML")
                gutter = page.locator("pre.sf-yaml-gutter")
                expect(gutter.locator("span[data-line]")).to_have_count(len(text.split("\n")), timeout=90_000)
                area = drawn(page).get_by_label("Workflow YAML (edits update the canvas)").first  # a fresh key per edit
                area.fill(broken)
                area.press("Control+Enter")
                expect(page.get_by_text(f"YAML not applied: line {bad_line}, column")).to_be_visible()
                expect(gutter.locator(".sf-problem")).to_have_text(str(bad_line))  # marked beside the text
                page.wait_for_function(f"() => ({caret_line})(document.querySelector("
                                       f"'textarea[aria-label^=\"Workflow YAML\"]')) === {bad_line}",
                                       timeout=30_000)  # and the cursor moved there
                # A validation error (valid YAML, unknown type) has a button that moves the cursor to its line.
                typo = text.replace("type: detect.yolo", "type: detect.yollo")
                typo_line = typo.splitlines().index(next(t for t in typo.splitlines() if "detect.yollo" in t)) + 1
                area.fill(typo)
                area.press("Control+Enter")
                page.get_by_role("button", name=f"line {typo_line}").click()
                page.wait_for_function(f"() => ({caret_line})(document.querySelector("
                                       f"'textarea[aria-label^=\"Workflow YAML\"]')) === {typo_line}",
                                       timeout=30_000)
                expect(gutter.locator(".sf-problem")).to_have_text(str(typo_line))
                page.screenshot(path=str(tmp_path / "yaml-tab.png"))
            finally:
                browser.close()
