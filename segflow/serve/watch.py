"""Served workflow files watched for changes: a saved file is reloaded, as ``POST /workflows/{name}/reload`` does.

Polling, not inotify: it works the same on every file system an edge box may
keep its workflows on (a bind mount, NFS, an overlay), and a check every few
seconds costs nothing. A file counts as changed when its modification time or
size does; an editor that writes in two steps may be seen half-written, which
is refused like any invalid version and picked up again at the next change.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable

from segflow.engine.workflow.issues import WorkflowError
from segflow.serve.served import NotReloaded, Served

log = logging.getLogger("segflow")


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_mtime_ns, found.st_size


class Watcher:
    """Checks every ``period_s`` seconds; :meth:`close` ends the thread."""

    def __init__(self, served: Iterable[Served], period_s: float) -> None:
        self.period_s = period_s
        self._stamps = {s.name: (s, _stamp(s.workflow.file)) for s in served if os.path.isfile(s.workflow.file)}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="serve-watch", daemon=True)

    def start(self) -> None:
        if self._stamps:
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            self.check()

    def check(self) -> None:
        """Reload each workflow whose file changed since the last check (errors are logged by the reload)."""
        for name, (served, seen) in list(self._stamps.items()):
            now = _stamp(served.workflow.file)
            if now is None or now == seen:
                continue
            self._stamps[name] = (served, now)
            log.info("%s changed: reloading workflow '%s'", served.workflow.file, name)
            try:
                served.reload_file()
            except (WorkflowError, NotReloaded):
                pass  # logged and kept in served.reload_error; the previous version keeps serving

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
