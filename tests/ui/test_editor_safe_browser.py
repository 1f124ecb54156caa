"""In chromium: the token door of an editor, and Label mode's first box on a frame taller than the window.

The editor is started with ``SEGFLOW_TOKEN`` set (on loopback, so the test binds no
network address; the door is the same). Label mode shows a 320x1000 white frame with a
black 60x60 square: taller than the 1440x900 window, as the issue found it. A press on
such a frame used to scroll the page (~52 px) between the press and its coordinates, so
the first box came out that much taller and GrabCut cut the square. A second test loses
the box's event on its way to the page and sees the mask come all the same. Every check
retries (``expect``, ``wait_for_function``); nothing is read once after an action.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import playwright.sync_api as playwright_sync
import pytest
from browserkit import editor_server, launch_chromium, pick_mode
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
TOKEN = "door-token-8f3a"
SQUARE = (130, 60, 190, 120)  # x0, y0, x1, y1 of the black square in the tall frame
WIDTH, HEIGHT = 320, 1000
LOOSE_BOX = (SQUARE[0] - 10, SQUARE[1] - 10, SQUARE[2] + 10, SQUARE[3] + 10)


def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "workflows").mkdir(parents=True)
    picture = np.full((HEIGHT, WIDTH, 3), 235, np.uint8)
    x0, y0, x1, y1 = SQUARE
    picture[y0:y1, x0:x1] = 20
    cv2.imwrite(str(ws / "tall.png"), picture)
    (ws / "workflows" / "tall.yaml").write_text(
        "version: 1\nname: tall\nnodes:\n  photo:\n    type: source.image\n    params: {path: tall.png}\n"
        "  stats:\n    type: debug.stats\n    inputs: {image: photo.image}\n")
    return ws


@contextlib.contextmanager
def tall_frame_editor(tmp_path: Path) -> Iterator[tuple[str, Any, Any]]:
    """An editor on the tall frame's workflow, chromium, and a 1440x900 page: (url, browser, page)."""
    with editor_server("workflows/tall.yaml", workspace(tmp_path), tmp_path / "editor.log") as url, \
            playwright_sync.sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield url, browser, browser.new_page(viewport={"width": 1440, "height": 900})


def test_token_door_then_a_first_box_on_a_tall_frame(tmp_path, monkeypatch):
    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    monkeypatch.setenv("SEGFLOW_TOKEN", TOKEN)
    with tall_frame_editor(tmp_path) as (url, browser, page):
        # -- the door: no token, no editor; the link's token lets in and leaves the address bar
        page.goto(url)
        expect(page.get_by_label("Token")).to_be_visible()
        expect(page.get_by_text("Workspace:")).to_have_count(0)
        page.get_by_label("Token").fill("not-the-token")
        page.get_by_role("button", name="Open the editor").click()
        expect(page.get_by_text("That is not the token")).to_be_visible()
        expect(page.get_by_text("Workspace:")).to_have_count(0)
        page.goto(f"{url}/?token={TOKEN}")
        expect(page.get_by_text("Workspace:")).to_be_visible()
        expect(page).not_to_have_url(re.compile("token="))

        # -- Label mode: a box drawn around the square gives the square's mask
        label, bb, scale = label_mode(page)
        assert bb["height"] > 900, f"the frame fits the window ({bb}); the test needs one that does not"
        x0, y0, x1, y1 = LOOSE_BOX
        # the frame's top in the window, its bottom far below: where a press used to scroll the page
        assert 0 <= bb["y"] and bb["y"] + y1 * scale < 880, bb
        page.mouse.move(bb["x"] + x0 * scale, bb["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(bb["x"] + (x0 + x1) / 2 * scale, bb["y"] + (y0 + y1) / 2 * scale, steps=4)
        page.mouse.move(bb["x"] + x1 * scale, bb["y"] + y1 * scale, steps=4)
        # while dragging: the box drawn is the one the hand made, in image pixels (1 px of rounding)
        label.wait_for_function(
            """([x0, y0, x1, y1]) => { const r = document.querySelector('#prompt rect.pbox'); if (!r) return false;
                 const g = ['x', 'y', 'width', 'height'].map(k => parseFloat(r.getAttribute(k)));
                 return Math.abs(g[0] - x0) < 1.5 && Math.abs(g[1] - y0) < 1.5
                     && Math.abs(g[2] - (x1 - x0)) < 1.5 && Math.abs(g[3] - (y1 - y0)) < 1.5; }""",
            arg=[x0, y0, x1, y1], timeout=30_000)
        page.mouse.up()
        square_mask(label)  # the square (GrabCut from the box), not a sliver of it
        browser.close()


def label_mode(page):
    """Label mode's canvas, once it shows the frame: its frame, the stage's box on the page, and its scale."""
    pick_mode(page, "Label")
    iframe = page.locator('iframe[title*="segflow_label"]')
    iframe.wait_for(timeout=60_000)
    label = iframe.element_handle().content_frame()
    label.wait_for_function("() => document.querySelector('#frame')?.getAttribute('href')?.length > 100",
                            timeout=60_000)
    page.wait_for_function(  # sized to the frame (the component reports its height after drawing)
        "() => document.querySelector('iframe[title*=\"segflow_label\"]').getBoundingClientRect().height > 900",
        timeout=60_000)
    bb = page.frame_locator('iframe[title*="segflow_label"]').locator("#stage").bounding_box()
    return label, bb, bb["width"] / WIDTH


SQUARE_MASK_MS = 90_000  # GrabCut and a rerun on a busy machine; a resent box adds up to 2.5 s


def square_mask(label) -> None:
    """Until the canvas shows a candidate mask on the square (within 4 px at each side)."""
    label.wait_for_function(
        """([sx0, sy0, sx1, sy1]) => { const p = document.querySelector('polygon.candidate'); if (!p) return false;
             const b = p.getBBox();
             return Math.abs(b.x - sx0) < 4 && Math.abs(b.y - sy0) < 4
                 && Math.abs(b.x + b.width - sx1) < 4 && Math.abs(b.y + b.height - sy1) < 4; }""",
        arg=list(SQUARE), timeout=SQUARE_MASK_MS)


# In the label canvas: the first value carrying a box never reaches Streamlit (as when it re-creates the frame).
DROP_THE_BOX_JS = """() => {
  const page = window.parent, post = page.postMessage;
  page.postMessage = function (message, ...rest) {
    if (message && message.type === "streamlit:setComponentValue" && message.value && message.value.box) {
      page.postMessage = post;  // once
      window.sfDropped = message.value.action;
      return;
    }
    return post.call(page, message, ...rest);
  };
}"""


def test_a_box_whose_event_the_page_never_got_is_sent_again(tmp_path):
    with tall_frame_editor(tmp_path) as (url, browser, page):
        page.goto(url)
        label, bb, scale = label_mode(page)
        label.evaluate(f"({DROP_THE_BOX_JS})()")
        x0, y0, x1, y1 = LOOSE_BOX
        page.mouse.move(bb["x"] + x0 * scale, bb["y"] + y0 * scale)
        page.mouse.down()
        page.mouse.move(bb["x"] + x1 * scale, bb["y"] + y1 * scale, steps=6)
        page.mouse.up()
        label.wait_for_function("() => window.sfDropped === 'prompt'", timeout=30_000)  # the box's event was lost
        square_mask(label)  # and Python made its mask all the same: the canvas sent the box again
        expect(page.get_by_role("button", name="Accept mask")).to_be_enabled()
        browser.close()
