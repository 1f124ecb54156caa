"""In chromium: "Deploy to…" sends the editor's workflow to a real ``segflow serve`` and shows what it said.

A server is started on loopback with a token (as the serve tests start one), and an
editor on a light workflow (a paced synthetic camera into an image sink, no model).
Through the page: a wrong token is refused with the server's 401; the right one
starts a pipeline; an edit deployed again changes that pipeline (PUT); a version that
names a video the editor's workspace has but the server's folder does not is refused
with the server's located problem, and the pipeline keeps running. The token never
shows on the page (no text, no field value) nor in the editor's log. Every check on
the page retries (``expect``, ``wait_for_function``).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
from browserkit import drawn, editor_server, launch_chromium, open_tab, settled
from playwright.sync_api import expect

from segflow.client import Client
from tests.serve.conftest import VIDEO, start_server, stop_server
from tests.serve.servekit import wait_for
from tests.ui.test_deploy import belt_yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TOKEN = "deploy-browser-t0ken-77c2"
DEPLOY_WAIT_MS = 120_000  # a change drains the pipeline before the server answers; the machine is busy


def one_field(field) -> None:
    """Until the dialog shows the field once: while a rerun is still drawing it, the field the run before
    drew stays on the page beside the new one (Streamlit removes it when the run ends), which took over
    30 s on a very busy machine (two suites and four CPU burners on 2 cores)."""
    expect(field).to_have_count(1, timeout=DEPLOY_WAIT_MS)


def label(scope, text: str):
    """The widget labelled ``text`` as the running script drew it (``browserkit.drawn``): the dialog's fields
    and the YAML field are drawn afresh under a new key whenever the app sets them."""
    return drawn(scope).get_by_label(text, exact=True).first


def button(scope, name: str):
    return drawn(scope).get_by_role("button", name=name, exact=True).first


def deploy_click(page, dialog) -> None:
    settled(page)
    button(dialog, "Deploy").click()


def no_token_on_page(page, token: str) -> None:
    page.wait_for_function(
        """t => !document.body.innerText.includes(t)
               && ![...document.querySelectorAll('input, textarea')].some(e => (e.value || '').includes(t))""",
        arg=token, timeout=30_000)


def test_deploy_starts_then_changes_a_pipeline_and_shows_the_servers_refusal(tmp_path: Path) -> None:
    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    ws = tmp_path / "ws"
    (ws / "workflows").mkdir(parents=True)
    (ws / "clips").mkdir()
    shutil.copy(VIDEO, ws / "clips" / "belt.mp4")  # the editor has it; the server (started in the repo) does not
    shots = ws / "out" / "shots"
    (ws / "workflows" / "belt.yaml").write_text(belt_yaml(shots))
    server = start_server(tmp_path, "--token", TOKEN)
    log = tmp_path / "editor.log"
    try:
        with editor_server("workflows/belt.yaml", ws, log) as url, playwright_sync.sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)

            # -- a wrong token: the server's 401, the typed token gone from the field
            page.get_by_role("button", name="Deploy to…").click()
            dialog = page.get_by_role("dialog")
            label(dialog, "Server URL").fill(server.url)
            label(dialog, "Token").fill("wrong-t0ken-3a9d")
            deploy_click(page, dialog)
            refused = re.compile(r"refused to start the pipeline: 401.*check the token")
            expect(dialog.get_by_text(refused)).to_be_visible(timeout=DEPLOY_WAIT_MS)
            expect(dialog.get_by_text("Token: kept for this browser session")).to_be_visible()
            no_token_on_page(page, "wrong-t0ken-3a9d")

            # -- the right token: a new pipeline, its id on the page and running on the server
            settled(page)
            button(dialog, "Forget token").click()
            label(dialog, "Token").fill(TOKEN)
            deploy_click(page, dialog)
            expect(dialog.get_by_text(re.compile(r"started pipeline p\d+ \(workflow 'belt-shots'"))).to_be_visible(
                timeout=DEPLOY_WAIT_MS)
            no_token_on_page(page, TOKEN)
            with Client(server.url, TOKEN) as client:
                [pipeline] = client.pipelines()
                wait_for(lambda: client.get(pipeline.id).frames_done >= 3, what="three frames through")

                # -- an edit, deployed again: the same pipeline changed (the dialog picked it after the start)
                page.keyboard.press("Escape")
                expect(page.get_by_role("dialog")).to_have_count(0)
                open_tab(page, "YAML")
                area = label(page, "Workflow YAML (edits update the canvas)")
                area.fill(belt_yaml(shots, quality=60))
                area.press("Control+Enter")
                expect(area).to_have_value(re.compile(r"jpeg_quality: 60"))
                page.get_by_role("button", name="Deploy to…").click()
                one_field(dialog.get_by_label("Server URL", exact=True))
                url_field = label(dialog, "Server URL")
                expect(url_field).to_have_value(server.url)  # remembered
                expect(dialog.get_by_text("Token: kept for this browser session")).to_be_visible()
                target = drawn(dialog).get_by_role("combobox", name="Deploy as").first
                expect(target).to_have_value(re.compile(rf"^pipeline {pipeline.id}: belt-shots \("))  # picked at start
                settled(page)
                button(dialog, "List pipelines").click()  # listed afresh: running, frames so far
                expect(target).to_have_value(re.compile(rf"^pipeline {pipeline.id}: belt-shots \(running, [1-9]\d* "))
                deploy_click(page, dialog)
                expect(dialog.get_by_text(re.compile(rf"updated pipeline {pipeline.id} on .*drained and resumed")))\
                    .to_be_visible(timeout=DEPLOY_WAIT_MS)
                assert len(client.get(pipeline.id).swaps) == 1

                # -- a video only the editor's workspace has: the server's located refusal, the pipeline goes on
                page.keyboard.press("Escape")
                expect(page.get_by_role("dialog")).to_have_count(0)
                area.fill(belt_yaml(shots, quality=60, video="clips/belt.mp4"))
                area.press("Control+Enter")
                expect(area).to_have_value(re.compile(r"clips/belt.mp4"))
                page.get_by_role("button", name="Deploy to…").click()
                # what a user reads before pressing Deploy: a press while the dialog is still being drawn
                # submits the form's fields as they were a moment before (an empty URL), on a busy machine
                one_field(dialog.get_by_label("Server URL", exact=True))
                expect(url_field).to_have_value(server.url)
                expect(target).to_have_value(re.compile(rf"^pipeline {pipeline.id}: belt-shots \("))
                deploy_click(page, dialog)
                expect(dialog.get_by_text(re.compile(rf"refused to update pipeline {pipeline.id}: 422"))).to_be_visible(
                    timeout=DEPLOY_WAIT_MS)
                expect(dialog.get_by_text(re.compile(
                    rf"<pipeline {pipeline.id}>:\d+:\d+: node 'belt': param 'path': video file .*clips/belt.mp4 "
                    r"does not exist"))).to_be_visible()
                info = client.get(pipeline.id)
                assert info.state == "running" and len(info.swaps) == 1, info
                no_token_on_page(page, TOKEN)
            browser.close()
        assert TOKEN not in log.read_text() and "wrong-t0ken-3a9d" not in log.read_text()
    finally:
        with Client(server.url, TOKEN) as client:
            for running in client.pipelines():
                if running.state in ("starting", "running"):
                    client.stop(running.id)
        stop_server(server.process)
