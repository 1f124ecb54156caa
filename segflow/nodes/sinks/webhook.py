"""``sink.webhook``: JSON batches POSTed to a URL, spooled while it is down, replayed in order.

The body is ``{"workflow", "node", "records": [...]}``; each record has a
``record_id`` and the ``Idempotency-Key`` header names the batch, so a
receiver that keeps one copy per id gets every record exactly once even
when a batch is sent twice (after a timeout or a crash). HTTP 2xx is
success; 408, 429, 5xx and network errors are retried with backoff; other
4xx answers are permanent and the batch is set aside (see
:mod:`segflow.nodes.sinks.remote`). Header values may read the environment
(``Authorization: "Bearer ${TOKEN}"``) so secrets stay out of the YAML.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from pydantic import Field, field_validator

from segflow.engine import node_type
from segflow.engine.node import ParamProblem, RunContext
from segflow.nodes.camera_source import mask_credentials
from segflow.nodes.sinks.common import unset_variable
from segflow.nodes.sinks.remote import Rejected, RemoteParams, RemoteSink

RETRY_STATUS = {408, 425, 429}


class WebhookParams(RemoteParams):
    url: str = Field(..., description="Where to POST the batches (http:// or https://).")
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra request headers; `${VAR}` in a value reads environment variable VAR.",
    )
    timeout_s: float = Field(10.0, gt=0, le=600, description="Longest wait for one answer.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlparse(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{url!r} is not an http(s) URL such as https://example.com/hook")
        return url


@node_type("sink.webhook")
class WebhookSink(RemoteSink):
    """POST records as JSON batches from a thread; retried, spooled, replayed in order."""

    Params = WebhookParams
    params: WebhookParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problems = super().check_params(params, context)
        for key, value in params.headers.items():
            unset = unset_variable(value)
            if unset:
                problems.append(
                    ParamProblem(
                        "headers",
                        f"header {key!r} reads {unset}, which is not set",
                        "export it before the run",
                    )
                )
        return problems

    def target(self) -> str:
        return mask_credentials(self.params.url)

    def connect(self) -> None:
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": "segflow",
            **{k: os.path.expandvars(v) for k, v in self.params.headers.items()},
        }

    def deliver(self, records: list[dict[str, Any]]) -> None:
        body = json.dumps(
            {"workflow": self.context.workflow, "node": self.node_id, "records": records},
            separators=(",", ":"),
        ).encode("utf-8")
        key = hashlib.sha256("\n".join(r["record_id"] for r in records).encode()).hexdigest()[:32]
        request = urllib.request.Request(
            self.params.url,
            data=body,
            method="POST",
            headers={**self._headers, "Idempotency-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.params.timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUS or exc.code >= 500:
                raise ConnectionError(f"{self.target()} answered {exc.code} {exc.reason}") from exc
            raise Rejected(f"{self.target()} answered {exc.code} {exc.reason}") from exc
