"""In chromium, an editor opened from another machine's point of view: frames and Play come from its address.

``segflow editor --host <this machine's network address> --token T``, and the page
opened at that address (not 127.0.0.1), as a browser on another machine would. The
frame view's requests and Play's stream must go to that address, with the tab's key;
the same requests without the key are refused (403); the editor's token appears in no
request of the frame view, in no page and not in the editor's log. Skipped when the
machine has no network address (``test_ui_listen`` then still checks the binding and
the refusal). Every check on the page retries (``expect``).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
from browserkit import editor_server, frame_view, launch_chromium
from playwright.sync_api import expect
from test_ui_listen import own_address

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "remote-door-5c1e"
BELT = """\
version: 1
name: belt
nodes:
  belt: {type: source.video, params: {path: assets/samples/conveyor.mp4}}
  pace: {type: debug.simulated_model, params: {call_ms: 80}, inputs: {image: belt.image}}
  dim: {type: debug.invert, inputs: {image: pace.image}}
"""
# `pace` makes play last 12 s or more: bare, the 150 frames played in under the page's first status
# poll (500 ms) on a fast CI machine, and the page never said "playing" before "finished".


def test_a_remote_browser_gets_frames_and_play_from_the_editors_address(tmp_path):
    address = own_address()
    if address is None:
        pytest.skip("this machine has no network address: test_ui_listen checks the binding and the refusal")
    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    ws = tmp_path / "ws"
    (ws / "workflows").mkdir(parents=True)
    (ws / "workflows" / "belt.yaml").write_text(BELT)
    os.symlink(ROOT / "assets", ws / "assets")
    log = tmp_path / "editor.log"
    asked: list[str] = []  # every URL the frame view asked
    with editor_server("workflows/belt.yaml", ws, log, host=address, token=TOKEN) as url, \
            playwright_sync.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.on("request", lambda r: asked.append(r.url) if "/_stcore/" not in r.url
                    and not r.url.startswith(url) and r.url.startswith("http") else None)
            page.goto(f"{url}/?token={TOKEN}")
            expect(page.get_by_text("Workspace:")).to_be_visible()
            view = frame_view(page)
            view.locator("#run").click()
            expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^blob:"), timeout=120_000)
            expect(view.locator("#counter")).to_have_text(re.compile(r"^frame 0 / \d+$"))
            expect(view.locator("#error")).to_have_text("")

            view.locator("#play").click()
            stream = re.compile(rf"^http://{re.escape(address)}:\d+/stream\.mjpg\?t=[\w-]+$")
            expect(view.locator("#picture")).to_have_attribute("src", stream)
            playing = re.compile(r"^Play: playing, [\d.]+ frames/s, ([2-9]|\d\d+) played")
            expect(view.locator("#caption")).to_have_text(playing, timeout=120_000)
            expect(view.locator("#picture")).to_have_js_property("naturalWidth", 640, timeout=60_000)
            view.locator("#play").click()
            expect(view.locator("#play")).to_have_text("▶ Play")
            expect(view.locator("#picture")).to_have_attribute("src", re.compile(r"^blob:"), timeout=120_000)
            pages = page.content() + "".join(f.content() for f in page.frames)
        finally:
            browser.close()

        # Every request of the frame view went to the editor's address, none to loopback, each with the key.
        hosts = {urllib.parse.urlsplit(u).hostname for u in asked}
        assert hosts == {address}, asked
        keys = {urllib.parse.parse_qs(urllib.parse.urlsplit(u).query).get("t", [""])[0] for u in asked}
        assert len(keys) == 1 and len(next(iter(keys))) >= 20, keys
        viewer = next(u for u in asked if "/run?" in u).split("/run?")[0]
        for query in ("", "?t=", f"?t={TOKEN}"):  # no key, or the editor's token: refused alike
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(f"{viewer}/run{query}", method="POST"), timeout=30)
            assert refused.value.code == 403
    assert TOKEN not in "".join(asked) and TOKEN not in pages
    assert TOKEN not in log.read_text()
