"""The editor in a real browser: Debian's chromium driven by Playwright (no downloaded browser).

Starts ``segflow editor`` (``python -m ui.command``) on a free port, opens a
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

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WORKFLOWS = [name for name in ("coffee_stones.yaml", "coins.yaml") if (ROOT / "workflows" / name).exists()]

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None,
                                reason="Debian's chromium is not installed (scripts/system-deps.sh)")


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
    from engine.runner import load
    from engine.validate import validate_file

    workflow = ROOT / "workflows" / name
    validation = validate_file(workflow)
    detection_counts: set[int] = set()
    if validation.ok:
        from ui.media import source_frame

        wf = load(workflow, base_dir=ROOT)
        source = wf.graph.nodes[wf.graph.source_ids[0]]
        reference = wf.run_image(source_frame(source, wf.context()).pixels)
        detection_counts = {len(v) for ports in reference.values() for v in ports.values() if hasattr(v, "xyxy")}

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "editor.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "ui.command", str(workflow), "--port", str(port),
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

            if not validation.ok:  # e.g. its model is not trained here: the canvas flags the node
                flagged = {i.node for i in validation.issues if i.is_error and i.node}
                bad = set(frame.locator(".sf-node.has-issues").evaluate_all("els => els.map(e => e.dataset.nodeId)"))
                assert bad == flagged
                page.screenshot(path=str(tmp_path / f"editor-{workflow.stem}.png"), full_page=True)
                browser.close()
                pytest.skip(f"{name} does not validate here, so it is not run: {validation.issues[0].format()}")
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text(re.compile(r"Results — \d+ detections")).wait_for(timeout=40_000)
            results = page.get_by_text(re.compile(r"Results — \d+ detections")).inner_text()
            shown = int(re.search(r"(\d+) detections", results).group(1))
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
