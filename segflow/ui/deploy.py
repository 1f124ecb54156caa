"""Deploy the editor's workflow to a running ``segflow serve``: start it as a pipeline, or change a running one.

This is Node-RED's Deploy for segflow's edge box: the YAML of the document (its
real text, secrets included, since the box needs them) goes to the server
through :mod:`segflow.client`: ``POST /pipelines`` starts it, ``PUT
/pipelines/{id}`` changes a running pipeline, which the server validates first
and then applies live or by drain-and-resume. What comes back is an
:class:`Outcome` the page shows as it is: the pipeline's id and how the change
went, or the server's refusal with each located problem on its own line
(``<pipeline p1>:6:20: node 'belt': ...``), or why the server could not be reached.

No Streamlit here (``segflow.ui.deploy_panel`` draws it), so tests drive it
against a real server. The token is only ever a header: no message built here
contains it, and every message is passed through :func:`segflow.engine.masking.mask`
(a URL the user typed with ``user:password@`` in it is shown masked).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from segflow.client import Client, ServerError
from segflow.client.models import PipelineInfo
from segflow.engine.masking import SECRETS, mask

NEW = ""  # the target that starts a new pipeline (POST /pipelines) instead of changing one
TIMEOUT = httpx.Timeout(120.0, connect=10.0)  # a change drains the pipeline first: that may take a while


@dataclass
class Outcome:
    """What a deploy (or a look at the server's pipelines) came to, in words for the page."""

    ok: bool
    message: str
    problems: list[str] = field(default_factory=list)  # the server's located issues, one line each
    pipeline_id: str = ""


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a server's address (None when it can): caught before any request."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{mask(url.strip())}' is not a server address: give one like http://edge-box:8765"
    return None


def pipelines(url: str, token: str | None) -> tuple[list[PipelineInfo], Outcome | None]:
    """The server's pipelines, or the reason they could not be listed."""
    refused = check_url(url)
    if refused:
        return [], Outcome(False, refused)
    try:
        with _client(url, token) as client:
            return client.pipelines(), None
    except (ServerError, httpx.HTTPError) as exc:
        return [], _failure(url, exc, "list the pipelines")


def deploy(url: str, token: str | None, text: str, target: str = NEW) -> Outcome:
    """Start ``text`` as a new pipeline (``target`` is :data:`NEW`) or change the pipeline ``target`` to it."""
    refused = check_url(url)
    if refused:
        return Outcome(False, refused)
    try:
        with _client(url, token) as client:
            if target == NEW:
                started = client.start(yaml=text)
                return Outcome(True, f"started pipeline {started.id} (workflow '{started.workflow}', "
                                     f"{started.state}) on {_where(url)}", pipeline_id=started.id)
            changed = client.update(target, text)
            how = ("applied live to " + ", ".join(changed.nodes) if changed.how == "live"
                   else "drained and resumed on the new version")
            return Outcome(True, f"updated pipeline {target} on {_where(url)}: {how} "
                                 f"({changed.pipeline.state}, {changed.pipeline.frames_done} frames so far)",
                           pipeline_id=target)
    except (ServerError, httpx.HTTPError) as exc:
        return _failure(url, exc, "start the pipeline" if target == NEW else f"update pipeline {target}")


def _client(url: str, token: str | None) -> Client:
    if token:
        SECRETS.remember(token)  # masked in every message and log line of this process from here on
    return Client(url.strip(), token or None, timeout=TIMEOUT)


def _where(url: str) -> str:
    return mask(url.strip().rstrip("/"))


def _failure(url: str, exc: ServerError | httpx.HTTPError, what: str) -> Outcome:
    """The server's own message (and located issues), or why it could not be reached, masked."""
    if isinstance(exc, ServerError):
        problems = [mask(str(i.get("text") or i)) for i in exc.issues]
        head = str(exc).split("\n", 1)[0]  # the issues follow on their own lines
        hint = " (check the token)" if exc.status in (401, 403) else ""
        return Outcome(False, mask(f"{_where(url)} refused to {what}: {head}{hint}"), problems)
    reason = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"
    return Outcome(False, mask(f"could not reach {_where(url)} to {what}: {reason}; "
                               "is `segflow serve` running there, and is the address right?"))
