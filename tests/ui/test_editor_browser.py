"""The editor in a real browser: Debian's chromium driven by Playwright (no downloaded browser).

Starts ``segflow editor`` (``python -m segflow.ui.command``) on a free port, opens a
workflow, checks its nodes and edges are drawn, runs it on its sample and finds
the annotated image and the results table.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import playwright.sync_api as playwright_sync
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STEP = 5  # video frame the test runs the editor on
WORKFLOWS = [name for name in ("coffee_stones.yaml", "coins.yaml") if (ROOT / "workflows" / name).exists()]



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the editor exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the editor did not answer within 40 s")


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
    from segflow.engine.runner import load
    from segflow.engine.validate import validate_file

    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it (scripts/system-deps.sh)"
    workflow = ROOT / "workflows" / name
    validation = validate_file(workflow)
    assert validation.ok, [i.format() for i in validation.issues]  # every shipped workflow must run here
    from segflow.engine.session import EditorSession
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

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "editor.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "segflow.ui.command", str(workflow), "--port", str(port),
                             "--workspace", str(ROOT)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        wait_healthy(url, proc)
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1100})
            page.goto(url)
            frame = page.frame_locator('iframe[title*="segflow_canvas"]')
            node_ids, edge_count = expected_graph(workflow)
            frame.locator(".sf-node").first.wait_for(timeout=30_000)
            drawn = set(frame.locator(".sf-node").evaluate_all("els => els.map(e => e.dataset.nodeId)"))
            assert drawn == node_ids
            page.wait_for_timeout(300)
            assert frame.locator("path.sf-edge").count() == edge_count

            # An edge between different kinds is refused on the canvas, naming both kinds.
            det_out = frame.locator('.sf-handle[data-side="out"][data-kind="detections"]').first
            owner = det_out.get_attribute("data-node")
            img_in = frame.locator(f'.sf-handle[data-side="in"][data-kind="image"]:not([data-node="{owner}"])').first
            det_out.drag_to(img_in)
            message = frame.locator("#msg")
            assert re.search(r"cannot connect detections output .* to image input", message.inner_text())
            assert frame.locator("path.sf-edge").count() == edge_count

            if is_video:  # step to a frame with stones in view with "Next", as a user would
                slider = page.locator('[data-testid="stSlider"]').first
                for expected in range(1, STEP + 1):  # each click moves one frame: wait for it to show
                    page.get_by_role("button", name="Next ▶").click()
                    deadline = time.monotonic() + 20
                    while time.monotonic() < deadline:
                        shown_frame = int(re.search(r"^Frame\s+(\d+)", slider.inner_text()).group(1))
                        if shown_frame >= expected:
                            break
                        page.wait_for_timeout(100)
                    assert shown_frame == expected, slider.inner_text()
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text(re.compile(r"Results — \d+ detections")).wait_for(timeout=40_000)
            results = page.get_by_text(re.compile(r"Results — \d+ detections")).inner_text()
            shown = int(re.search(r"(\d+) detections", results).group(1))
            if is_video:
                assert page.get_by_text(f"frame {STEP}").count() >= 1  # the caption names the frame run
            assert shown in detection_counts and shown > 0
            page.locator('[data-testid="stImage"] img').first.wait_for(timeout=20_000)
            page.locator('[data-testid="stDataFrame"]').nth(1).wait_for(timeout=20_000)  # results, timings
            # The footer of each node now tells how its run went.
            frame.locator(".sf-foot").first.wait_for(timeout=10_000)
            assert frame.locator(".sf-foot.ran").count() >= 1
            page.screenshot(path=str(tmp_path / f"editor-{workflow.stem}.png"), full_page=True)
            browser.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    assert (tmp_path / f"editor-{workflow.stem}.png").stat().st_size > 10_000
