"""What every editor browser test needs: a running ``segflow editor`` and Debian's chromium.

The editor is started as a user would (``python -m segflow.ui.command``) in its own
process group on a free port, and is always stopped afterwards (SIGTERM, then
SIGKILL), so a failing test leaves no server behind. Chromium is the system's
(``make test`` installs it), never a downloaded browser.

Assertions on the page use Playwright's retrying ``expect`` (or an explicit wait on a
condition): a Streamlit page reruns after every action, so a value read once right
after a click may still be the old page's. ``launch_chromium`` gives ``expect`` a
deadline fit for a busy machine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECT_TIMEOUT_MS = 30_000  # Playwright's default 5 s is shorter than one rerun on a loaded 2-core box
# An element container the script run has drawn, not a dimmed copy left from the run before (see ``drawn``).
DRAWN = '[data-testid="stElementContainer"]:not([data-stale="true"])'
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    """Until Streamlit's health endpoint answers; a generous deadline, since a busy machine is slow to start it."""
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
    raise AssertionError(f"the editor did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def editor_server(workflow: str | Path, workspace: Path, log_path: Path, timeout: float = 90.0,
                  host: str = "127.0.0.1", token: str | None = None) -> Iterator[str]:
    """``segflow editor`` on ``workflow`` in ``workspace`` (also its working folder); yields its URL.

    ``host`` is the address it listens on and the one the URL names (a network address needs ``token``).
    """
    port = free_port()
    url = f"http://{host}:{port}"
    login = ["--host", host] + (["--token", token] if token else [])
    with log_path.open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "segflow.ui.command", str(workflow), "--port", str(port),
                                 "--workspace", str(workspace), *login], cwd=workspace, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            wait_healthy(url, proc, timeout)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


@contextlib.contextmanager
def editor_page(tmp_path: Path, workflow_yaml: str, name: str = "belt") -> Iterator:
    """A page of ``segflow editor`` on ``workflow_yaml``, in chromium at 1440x900; the editor stopped after.

    The workspace is ``tmp_path/ws``: the workflow as ``workflows/<name>.yaml`` and a link to the
    project's ``assets`` (the samples and the shipped models).
    """
    import playwright.sync_api as playwright_sync

    assert shutil.which("chromium"), "Debian's chromium is missing: `make test` installs it"
    ws = tmp_path / "ws"
    (ws / "workflows").mkdir(parents=True)
    (ws / "workflows" / f"{name}.yaml").write_text(workflow_yaml)
    os.symlink(ROOT / "assets", ws / "assets")
    with editor_server(f"workflows/{name}.yaml", ws, tmp_path / "editor.log") as url, \
            playwright_sync.sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            yield page
        finally:
            browser.close()


def launch_chromium(pw):
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is missing: `make test` installs it (scripts/system-deps.sh)"
    return pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)


def drawn(scope):
    """The elements of ``scope`` the running script has drawn: where to find a widget the app redraws under a new key.

    The editor draws some widgets afresh under a new key when it sets their value (``segflow.ui.fields``,
    a revision in a form's keys). While a rerun does so, Streamlit keeps the copy the run before drew just
    after the new one, dimmed (``data-stale``), until the run ends. A locator that matches both fails at
    once, since Playwright does not retry a strict-mode violation; one that looks among the drawn elements
    waits for the new copy instead. Take ``.first`` of what it finds: a run cut short by the next one leaves
    both undimmed for a moment, the new one first.
    """
    return scope.locator(DRAWN)


def frame_view(page):
    """The frame view component (toolbar and picture) of an editor page."""
    return page.frame_locator('iframe[title*="segflow_viewer"]')


def pick_option(page, selectbox, name: str, timeout: float = 60.0) -> None:
    """Open ``selectbox`` and choose ``name``; a click that came before the page was ready is repeated.

    A rerun that draws the select box afresh shuts its list, so one click may open nothing.
    """
    import re

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    option = page.locator('[role="option"]').filter(has_text=re.compile(rf"^{re.escape(name)}$"))
    deadline = time.monotonic() + timeout
    while True:
        selectbox.click()
        try:
            option.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise
            page.keyboard.press("Escape")
    option.click()


def settled(page) -> None:
    """Until Streamlit runs no script (its status widget is gone): a click sent mid-run can be dropped."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=60_000, polling=20)


def click_until(target, attribute: str, value: str, timeout_s: float = 120.0) -> None:
    """Click ``target`` until its ``attribute`` reads ``value``, as a user would click again.

    A click on a tab has been lost while the page reran: once, on a busy machine, the labelling test's
    Run tab stayed closed for 120 s over the results it had drawn. Streamlit's page code disables a tab
    whose content the running script has not redrawn yet, which is one way for a click to do nothing
    (not reproduced at will: a click during a slow rerun of a small page opened its tab every time).
    The state is read before each click, so a toggle that did change is not clicked back.
    """
    from playwright.sync_api import expect

    deadline = time.monotonic() + timeout_s
    while target.get_attribute(attribute) != value:
        target.click()
        try:
            expect(target).to_have_attribute(attribute, value, timeout=5_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def open_tab(page, name: str) -> None:
    """Make the tab ``name`` the open one (see ``click_until``)."""
    click_until(page.get_by_role("tab", name=name, exact=True), "aria-selected", "true")


def pick_mode(page, name: str) -> None:
    """Switch the editor to mode ``name`` (Build, Label, Train; see ``click_until``)."""
    click_until(page.get_by_role("radio", name=name, exact=True), "aria-checked", "true")


def step_to(page, index: int, counter_timeout_ms: int = 120_000) -> None:
    """Click Next up to frame ``index``, one frame at a time, as a user would (the first run loads models)."""
    import re

    from playwright.sync_api import expect

    view = frame_view(page)
    for expected in range(1, index + 1):
        view.locator("#next").click()
        expect(view.locator("#counter")).to_have_text(re.compile(rf"^frame {expected} / \d+$"),
                                                      timeout=counter_timeout_ms)
