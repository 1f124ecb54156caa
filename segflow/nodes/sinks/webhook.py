"""``sink.webhook``: JSON batches POSTed to a URL, spooled while it is down, replayed in order.

The body is ``{"workflow", "node", "records": [...]}``; each record has a
``record_id`` and the ``Idempotency-Key`` header names the batch, so a
receiver that keeps one copy per id gets every record exactly once even
when a batch is sent twice (after a timeout or a crash). HTTP 2xx is
success; 408, 429, 5xx and network errors are retried with backoff; other
4xx answers are permanent and the batch is set aside (see
:mod:`segflow.delivery.remote`). Header values may read the environment
(``Authorization: "Bearer ${TOKEN}"``) so secrets stay out of the YAML.
A ``user:password@`` in the URL becomes HTTP basic auth (percent-decoded,
so ``p%40ss`` is ``p@ss``) and is never part of the request line or a log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import unquote, urlparse

from pydantic import Field, field_validator

from segflow.delivery.common import VARIABLE, unset_variable
from segflow.delivery.remote import Rejected, RemoteParams, RemoteSink
from segflow.engine import node_type
from segflow.engine.masking import SECRETS, mask, remember_url, split_url
from segflow.engine.node import ParamProblem, RunContext

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
        remember_url(url)
        bare = split_url(url).without_userinfo
        try:
            parts = urlparse(bare)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:  # a port that is no number
            port_ok = False
        if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError(f"{mask(url)!r} is not an http(s) URL such as https://example.com/hook")
        return url


def basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` header of RFC 7617 from a URL's (percent-encoded) userinfo."""
    pair = f"{unquote(user)}:{unquote(password)}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


@node_type("sink.webhook")
class WebhookSink(RemoteSink):
    """POST records as JSON batches from a thread; retried, spooled, replayed in order."""

    Params = WebhookParams
    params: WebhookParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        remember_url(params.url)
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
        return mask(self.params.url)

    def open(self) -> None:
        parts = split_url(self.params.url)
        remember_url(self.params.url)
        self._url = parts.without_userinfo
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": "segflow",
            **({"Authorization": basic_auth(parts.user, parts.password or "")} if parts.user is not None else {}),
            **{k: os.path.expandvars(v) for k, v in self.params.headers.items()},
        }
        for value in self.params.headers.values():
            if VARIABLE.search(value):  # read from the environment: a secret kept out of the YAML
                for word in os.path.expandvars(value).split()[-1:]:  # 'Bearer <token>': the token
                    SECRETS.remember(word)

    def write(self, records: list[dict[str, Any]]) -> None:
        body = json.dumps(
            {"workflow": self.context.workflow_name, "node": self.node_id, "records": records},
            separators=(",", ":"),
        ).encode("utf-8")
        key = hashlib.sha256("\n".join(r["record_id"] for r in records).encode()).hexdigest()[:32]
        request = urllib.request.Request(
            self._url,
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
