"""``sink.webhook``: JSON batches sent to a URL, spooled while it is down, replayed in order.

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

``method`` is POST, PUT or PATCH; ``query`` adds URL parameters. Header and
query values may also be templates of the batch's first record (``{source}``,
``{count}``, ``{counts.stone}``), checked before the run like ``fields:``; the
``${VAR}`` parts are read from the environment only, never from a record, so a
record cannot make the sink send a variable it names. A value read from the
environment is remembered as a secret and masked in every log line and error.
``multipart: true`` sends the records as a ``records`` part (the same JSON)
beside one ``image/jpeg`` part per frame (the wired ``image``, annotated if you
like), as Roboflow's webhook sink does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import urllib.error
import urllib.request
import uuid
from typing import Any, Literal
from urllib.parse import unquote, urlencode, urlparse

from pydantic import Field, field_validator

from segflow.delivery.columns import column_problems, fill, placeholders, record_names
from segflow.delivery.common import VARIABLE, unset_variable
from segflow.delivery.remote import Rejected, RemoteParams, RemoteSink
from segflow.engine import Inputs, node_type
from segflow.engine.masking import SECRETS, mask, remember_url, split_url
from segflow.engine.node import ParamProblem, RunContext

RETRY_STATUS = {408, 425, 429}


class WebhookParams(RemoteParams):
    url: str = Field(..., description="Where to send the batches (http:// or https://).")
    method: Literal["POST", "PUT", "PATCH"] = Field("POST", description="The HTTP method of each request.")
    query: dict[str, str] = Field(
        default_factory=dict,
        description="URL query parameters; values as in `headers` (`${VAR}`, `{source}`).",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Extra request headers; `${VAR}` in a value reads environment variable VAR (masked in logs), "
        "`{name}` a field of the batch's first record, e.g. `X-Source: \"{source}\"`.",
    )
    multipart: bool = Field(
        False, description="Send multipart/form-data: the JSON as part `records` and each frame as a JPEG part "
        "`image` (wire the image input). `batch_size` then counts frames.",
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


def templated(text: str, record: dict[str, Any]) -> str:
    """``text`` with ``{name}`` filled from the record and ``${VAR}`` from the environment, each only there."""
    out, at = [], 0
    for ref in VARIABLE.finditer(text):
        out += [fill(text[at:ref.start()], record), os.path.expandvars(ref.group(0))]
        at = ref.end()
    return "".join([*out, fill(text[at:], record)])


def header_value(text: str) -> str:
    """One header line: no line breaks (a record must not add headers), UTF-8 bytes where latin-1 has none.

    http.client sends latin-1 only; a source named 'Förderband 2' or 'ベルト' would otherwise fail
    every retry of its batch and block the queue.
    """
    text = text.replace("\r", " ").replace("\n", " ")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8").decode("latin-1")
    return text


def record_fields(text: str) -> list[str]:
    """The record fields a header or query value names (its ``${VAR}`` parts are not fields)."""
    return placeholders(VARIABLE.sub("", text))


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
        for where in ("headers", "query"):
            for key, value in getattr(params, where).items():
                unset = unset_variable(value)
                if unset:
                    problems.append(ParamProblem(where, f"{key!r} reads {unset}, which is not set",
                                                 "export it before the run"))
        return problems

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        problems = super().check_fields(params, fields, wired)
        known = record_names(params.per, "detections" in wired, fields, "value" in wired, params.mask != "none")
        for where in ("headers", "query"):
            for key, value in getattr(params, where).items():
                problems += [ParamProblem(f"{where}.{key}", p.message.replace("reaches this sink's records",
                                                                             "is in the record"), p.hint)
                             for p in column_problems(record_fields(value), known)]
        if params.multipart and "image" not in wired:
            problems.append(ParamProblem("multipart", "multipart sends the frame as JPEG, and no image input is "
                                         "wired", "wire `image: <node>.image` (annotate.detections' output shows "
                                         "the boxes), or set multipart: false"))
        return problems

    def target(self) -> str:
        return mask(self.params.url)

    def open(self) -> None:
        p = self.params
        parts = split_url(p.url)
        remember_url(p.url)
        self._url = parts.without_userinfo
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": "segflow",
            **({"Authorization": basic_auth(parts.user, parts.password or "")} if parts.user is not None else {}),
        }
        for value in [*p.headers.values(), *p.query.values()]:
            for ref in VARIABLE.findall(value):  # read from the environment: a secret kept out of the YAML
                secret = os.path.expandvars(ref)
                if secret != ref:
                    SECRETS.remember(secret)
                    SECRETS.remember(urlencode({"": secret})[1:])  # as it reads in a query string

    def process(self, inputs: Inputs) -> dict[str, Any]:
        """Like every record sink; with ``multipart`` one item per frame: its rows and its JPEG."""
        if not self.params.multipart:
            return super().process(inputs)
        assert self.outbox is not None, "setup() first"
        findings = self.admitted(inputs)
        if findings is not None:
            item: dict[str, Any] = {"rows": self.items(self.builder.frame(findings)), "jpeg": None}
            if findings.image is not None:
                import cv2

                ok, jpeg = cv2.imencode(".jpg", findings.image.pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
                item["jpeg"] = base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else None
            self.outbox.put([item])
        self.outbox.check()
        return {}

    def write(self, items: list[dict[str, Any]]) -> None:
        p = self.params
        records = [row for item in items for row in item["rows"]] if p.multipart else items
        body = json.dumps(
            {"workflow": self.context.workflow_name, "node": self.node_id, "records": records},
            separators=(",", ":"),
        ).encode("utf-8")
        headers = {**self._headers}
        if p.multipart:
            body, headers["Content-Type"] = multipart(body, items)
        first = records[0] if records else {}
        headers.update({k: header_value(templated(v, first)) for k, v in p.headers.items()})
        # records whose `fields:` leave record_id out still name the batch by their content
        ids = (r.get("record_id") or json.dumps(r, sort_keys=True, default=str) for r in records)
        key = hashlib.sha256("\n".join(ids).encode()).hexdigest()[:32]
        url = self._url
        if p.query:
            query = urlencode({k: templated(v, first) for k, v in p.query.items()})
            url += ("&" if urlparse(url).query else "?") + query
        request = urllib.request.Request(url, data=body, method=p.method, headers={**headers, "Idempotency-Key": key})
        try:
            with urllib.request.urlopen(request, timeout=p.timeout_s) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code in RETRY_STATUS or exc.code >= 500:
                raise ConnectionError(f"{self.target()} answered {exc.code} {exc.reason}") from exc
            raise Rejected(f"{self.target()} answered {exc.code} {exc.reason}") from exc


def multipart(records: bytes, items: list[dict[str, Any]]) -> tuple[bytes, str]:
    """A multipart/form-data body: part ``records`` (the JSON), then an ``image`` part per frame's JPEG."""
    boundary = f"segflow-{uuid.uuid4().hex}"
    parts = [(b'name="records"; filename="records.json"', "application/json", records)]
    for item in items:
        if item.get("jpeg") and item["rows"]:
            row = item["rows"][0]
            name = f"{row.get('source')}-{row.get('frame')}.jpg".replace('"', "_").replace("\r", "_").replace("\n", "_")
            parts.append((f'name="image"; filename="{name}"'.encode(), "image/jpeg",
                          base64.b64decode(item["jpeg"])))
    out = bytearray()
    for disposition, kind, data in parts:
        out += (f"--{boundary}\r\n".encode() + b"Content-Disposition: form-data; " + disposition
                + f"\r\nContent-Type: {kind}\r\n\r\n".encode() + data + b"\r\n")
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"
