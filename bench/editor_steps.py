"""Frame steps in the editor, as a person sees them: click on Next -> the new annotated frame painted.

    python bench/editor_steps.py [--steps 20] [--busy 2]

Starts ``segflow editor`` on a copy of ``coffee_stones.yaml`` and drives Debian's
chromium (1440x900) with Playwright. The time is taken inside the frame view's
page: from the click event (a capture listener) to the animation frame after the
new picture is decoded and swapped in (``window.sfPaints``); Playwright's own round
trips are not in it. Each step starts on an idle page, as a person's would; the
server's own read-and-run time (the view's caption) is printed beside it, and the
rest is the page's and the wire's share. Then
the click counts: 10 clicks 100 ms apart, and 5 double-clicks, must move 10
frames each. Everything runs twice: quiet, and with ``--busy`` CPU-bound processes
beside it (the issue's "two other CPU-bound processes").
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))

from browserkit import editor_server, frame_view, launch_chromium  # noqa: E402

CLICK_JS = ("() => { window.sfClicks = []; document.addEventListener('click', "
            "() => window.sfClicks.push(performance.now()), true); }")


def spin() -> None:
    while True:
        pass


def frame_index(view) -> int:
    return int(re.search(r"^frame (\d+)", view.locator("#counter").inner_text()).group(1))


def wait_index(view, index: int, timeout_s: float = 300.0) -> None:
    from playwright.sync_api import expect

    expect(view.locator("#counter")).to_have_text(re.compile(rf"^frame {index} / \d+$"), timeout=timeout_s * 1000)


def served(frame, view) -> int:
    """The frame painted once every counted click is served."""
    frame.wait_for_function("() => document.body.dataset.idle === '1'", timeout=300_000)
    return frame_index(view)


def measure(page, steps: int) -> dict:
    view = frame_view(page)
    frame = next(f for f in page.frames if "segflow_viewer" in (f.url or ""))
    frame.evaluate(CLICK_JS)
    view.locator("#next").click()  # the first step loads the models: not counted
    wait_index(view, 1)
    times, server = [], []  # click -> painted; the server's read-and-run of the frame (its caption)
    for k in range(1, steps + 1):
        painted = frame.evaluate("() => window.sfPaints.length")
        view.locator("#next").click()
        wait_index(view, 1 + k)
        frame.wait_for_function(f"() => window.sfPaints.length > {painted}", timeout=60_000)
        click, paint = frame.evaluate("() => [window.sfClicks.at(-1), window.sfPaints.at(-1).t]")
        times.append(paint - click)
        server.append(float(re.search(r"(\d+) ms$", view.locator("#caption").inner_text()).group(1)))
        page.wait_for_timeout(150)  # the rerun that follows settles, as between a person's clicks
    at = served(frame, view)
    for _ in range(10):
        view.locator("#next").click()
        page.wait_for_timeout(100)
    moved_10 = served(frame, view) - at
    at += moved_10
    for _ in range(5):
        view.locator("#next").dblclick()
        page.wait_for_timeout(150)
    moved_dbl = served(frame, view) - at
    overhead = sorted(t - r for t, r in zip(times, server, strict=True))
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[min(len(times) - 1, round(0.95 * len(times)))],
            "max_ms": times[-1], "run_ms": statistics.median(server), "overhead_ms": statistics.median(overhead),
            "clicks_10": moved_10, "double_clicks_5": moved_dbl}


def run(steps: int) -> dict:
    import playwright.sync_api as playwright_sync

    with tempfile.TemporaryDirectory(prefix="segflow-bench-") as tmp:
        ws = Path(tmp) / "ws"
        (ws / "workflows").mkdir(parents=True)
        shutil.copy(ROOT / "workflows" / "coffee_stones.yaml", ws / "workflows" / "coffee_stones.yaml")
        os.symlink(ROOT / "assets", ws / "assets")
        with editor_server("workflows/coffee_stones.yaml", ws, Path(tmp) / "editor.log") as url:
            with playwright_sync.sync_playwright() as pw:
                browser = launch_chromium(pw)
                try:
                    page = browser.new_page(viewport={"width": 1440, "height": 900})
                    page.goto(url)
                    frame_view(page).locator("#next").wait_for(timeout=120_000)
                    return measure(page, steps)
                finally:
                    browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--busy", type=int, default=2, help="CPU-bound processes for the busy round")
    args = parser.parse_args()
    rows = []
    for busy in (0, args.busy):
        spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            time.sleep(2 if busy else 0)
            figures = run(args.steps)
            figures["load"] = os.getloadavg()[0]
        finally:
            for p in spinners:
                p.terminate()
                p.join()
        rows.append((busy, figures))
    print(f"editor steps, coffee_stones, {args.steps} single Next clicks, {os.cpu_count()} CPUs")
    for busy, f in rows:
        print(f"  {busy} busy processes (load {f['load']:.1f}): click -> painted median {f['median_ms']:.0f} ms, "
              f"p95 {f['p95_ms']:.0f} ms, max {f['max_ms']:.0f} ms (read and run on the server: median "
              f"{f['run_ms']:.0f} ms; the rest: {f['overhead_ms']:.0f} ms); "
              f"10 clicks 100 ms apart -> +{f['clicks_10']}, 5 double-clicks -> +{f['double_clicks_5']}")


if __name__ == "__main__":
    main()
