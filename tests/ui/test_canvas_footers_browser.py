"""In chromium: the canvas footers name the frame they ran on and follow steps, Play, and Stop.

Steps update them with the rerun the frame view asks for once the clicks are served;
Play reruns nothing, so the frame view relays each status's footers to the canvas.
Retrying assertions only (``expect``): each waits for the page under load.
"""

from __future__ import annotations

import re

import pytest
from browserkit import editor_page, frame_view, step_to
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]
BELT = """\
version: 1
name: belt
nodes:
  belt:
    type: source.video
    params: {path: assets/samples/conveyor.mp4}
  model:
    type: debug.simulated_model
    params: {call_ms: 200}  # 150 frames: play lasts 30 s or more, Stop comes first
    inputs: {image: belt.image}
  stats:
    type: debug.stats
    inputs: {image: model.image}
  spare:
    type: debug.noop
    inputs: {image: belt.image}
"""
NODES = 4


def test_footers_follow_steps_play_and_stop(tmp_path):
    with editor_page(tmp_path, BELT) as page:
        canvas = page.frame_locator('iframe[title*="segflow_canvas"]')
        frames = canvas.locator(".sf-foot .sf-frame")
        model = canvas.locator('.sf-node[data-node-id="model"] .sf-foot')
        view = frame_view(page)

        # -- steps: the footers name the frame shown once the clicks are served
        step_to(page, 2)
        expect(frames).to_have_text(["frame 2"] * NODES, timeout=120_000)
        expect(model).to_contain_text(re.compile(r"ran in [\d.]+ ms"))
        view.locator("#prev").click()
        expect(view.locator("#counter")).to_have_text(re.compile(r"^frame 1 / \d+$"), timeout=120_000)
        expect(frames).to_have_text(["frame 1"] * NODES, timeout=120_000)

        # -- Play: no rerun, yet the footers move on with the frames played, marked live
        view.locator("#play").click()
        expect(view.locator("#play")).to_have_text("■ Stop")
        # (only a live footer matches: at the video's end, Stop's rerun would show a later frame too)
        live = canvas.locator('.sf-node[data-node-id="model"] .sf-foot.live .sf-frame')
        expect(live).to_have_text(re.compile(r"^frame ([2-9]|\d\d+)$"), timeout=180_000)
        expect(canvas.locator(".sf-foot.live")).to_have_count(NODES)

        # -- Stop: the frame view paints the frame play reached, and the footers are that frame's run
        view.locator("#play").click()
        expect(view.locator("#play")).to_have_text("▶ Play")
        expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^blob:"), timeout=120_000)
        counter = view.locator("#counter")
        expect(counter).to_have_text(re.compile(r"^frame ([2-9]|\d\d+) / \d+$"))
        shown = int(re.search(r"^frame (\d+)", counter.inner_text()).group(1))  # settled: the stop's frame
        expect(frames).to_have_text([f"frame {shown}"] * NODES, timeout=120_000)
        expect(canvas.locator(".sf-foot.live")).to_have_count(0)
