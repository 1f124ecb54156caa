"""``sink.email``: mail about the frames that pass the gate, over SMTP, spooled while the server is away.

Each frame that passes the gate (``only_when``, ``cooldown_s``...) becomes one
spooled item: its per-frame record and, with ``attach: image``, the frame as
JPEG. The sender thread of :mod:`segflow.delivery.remote` takes up to
``batch_size`` of them and mails them as one message, so a backlog after an
outage arrives as a digest, not a flood; ``min_interval_s`` spaces messages
out (frames that pass in between wait for the next message, never dropped).
Subject and body are templates filled from the first frame's record
(``{count}``, ``{source}``, ``{file_name}``, ``{counts.stone}``, ``{value.mean}``;
``{frames}`` is how many frames the message holds); their names are checked
before the run. A server that refuses a recipient or the message for good
(5xx) sets the batch aside; anything else is retried with backoff, so mail is
spooled, never lost. The password is read from the environment
(``password: "${SMTP_PASSWORD}"``) and never appears in a log or an error.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import re
import smtplib
import ssl
import threading
import time
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import Field, field_validator

from segflow.delivery.columns import column_problems, columns, placeholders, record_names, select
from segflow.delivery.columns import fill as fill_record
from segflow.delivery.common import unset_variable
from segflow.delivery.remote import Rejected, RemoteParams, RemoteSink
from segflow.engine import Inputs, node_type
from segflow.engine.masking import SECRETS
from segflow.engine.node import ParamProblem, RunContext
from segflow.nodes.sinks.files import flatten

ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


class EmailParams(RemoteParams):
    host: str = Field(..., min_length=1, description="The SMTP server, e.g. smtp.example.com.")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for TLS, 25 for plain.")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade the connection (port 587); tls: TLS from the start (465); "
        "none: plain text (a relay on the local network only).")
    username: str = Field("", description="Login name; empty: no login.")
    password: str = Field("", description='The password, best read from the environment: "${SMTP_PASSWORD}".')
    ca_file: str = Field("", description="A CA certificate file to trust the server's certificate by "
                         "(a company's own CA); empty: the system's.")
    sender: str = Field(..., description="The From address.")
    to: list[str] = Field(..., min_length=1, description="Recipients.")
    subject: str = Field("segflow: {count} objects on {source}", max_length=500,
                         description="Template: {field} from the first frame's record, {frames} the frames in it.")
    body: str = Field("{frames} frame(s) from workflow {workflow}; the first: {source} frame {frame} at {time}, "
                      "{count} objects.", max_length=20_000, description="Template, like the subject.")
    attach: Literal["none", "image", "csv"] = Field(
        "none", description="image: each frame as JPEG (wire the image input, annotated if you like); csv: the "
        "frames' detections as one CSV file.")
    min_interval_s: float = Field(60.0, ge=0, le=86_400,
                                  description="The least time between two messages; frames in between go "
                                  "into the next one.")
    timeout_s: float = Field(30.0, gt=0, le=600, description="Longest wait for the server.")
    per: Literal["frame"] = Field("frame", description="Always `frame`: a message is about frames.")
    batch_size: int = Field(50, ge=1, le=10_000, description="Most frames in one message.")

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        for address in [value] if isinstance(value, str) else value:
            if not ADDRESS.match(address):
                raise ValueError(f"{address!r} is not a mail address such as qa@example.com")
        return value


def fill(template: str, record: dict[str, Any], frames: int) -> str:
    """The template filled from the record; ``{frames}`` is how many frames the message holds."""
    return fill_record(template, record, {"frames": frames})


@node_type("sink.email")
class EmailSink(RemoteSink):
    """Mail the frames that pass the gate (SMTP, STARTTLS, login), templated, with the image or a CSV."""

    Params = EmailParams
    params: EmailParams

    @classmethod
    def check_params(cls, params: Any, context: RunContext) -> list[ParamProblem]:
        problems = super().check_params(params, context)
        for name in ("password", "username"):
            unset = unset_variable(getattr(params, name))
            if unset:
                problems.append(ParamProblem(name, f"{name} reads {unset}, which is not set",
                                             "export it before the run"))
        if params.ca_file and not context.resolve(params.ca_file).is_file():
            problems.append(ParamProblem("ca_file", f"{context.resolve(params.ca_file)} is not a file",
                                         "give the CA certificate (PEM) the server's certificate is signed by"))
        if params.password and params.security == "none":
            problems.append(ParamProblem("security", "a password over a plain connection would travel readable",
                                         "use security: starttls or tls"))
        return problems

    @classmethod
    def check_fields(cls, params: Any, fields: frozenset[str] | None, wired: frozenset[str]) -> list[ParamProblem]:
        known = record_names("frame", "detections" in wired, fields, "value" in wired, False)
        problems = []
        for name in ("subject", "body"):
            used = [n for n in placeholders(getattr(params, name)) if n != "frames"]
            problems += [ParamProblem(name, p.message.replace("reaches this sink's records", "is in the record"),
                                      p.hint) for p in column_problems(used, known)]
        if params.attach == "image" and "image" not in wired:
            problems.append(ParamProblem("attach", "attach: image needs the image input, and none is wired",
                                         "wire `image: <node>.image` (annotate.detections' output shows the boxes)"))
        rows = record_names("detection", "detections" in wired, fields, "value" in wired, False)  # the CSV's
        return problems + column_problems(params.fields, rows)

    def target(self) -> str:
        return f"smtp://{self.params.host}:{self.params.port}"

    def open(self) -> None:
        p = self.params
        self._password = os.path.expandvars(p.password)
        if self._password:
            SECRETS.remember(self._password)  # masked in every log line and error from here on
        self._last_sent = 0.0
        self._closing = threading.Event()

    def process(self, inputs: Inputs) -> dict[str, Any]:
        """Like every record sink, plus the frame's JPEG in the spooled item when it is attached."""
        assert self.outbox is not None, "setup() first"
        findings = self.admitted(inputs)
        if findings is not None:
            row = self.builder.frame(findings).rows("frame")[0]
            item: dict[str, Any] = {"record": row}
            if self.params.attach == "image" and findings.image is not None:
                import cv2

                ok, jpeg = cv2.imencode(".jpg", findings.image.pixels, [cv2.IMWRITE_JPEG_QUALITY, 85])
                item["jpeg"] = base64.b64encode(jpeg.tobytes()).decode("ascii") if ok else None
            self.outbox.put([item])
        self.outbox.check()
        return {}

    def message(self, items: list[dict[str, Any]]) -> EmailMessage:
        p, first = self.params, items[0]["record"]
        message = EmailMessage()
        message["From"], message["To"] = p.sender, ", ".join(p.to)
        message["Subject"] = fill(p.subject, first, len(items)).replace("\n", " ")
        message.set_content(fill(p.body, first, len(items)))
        chosen = columns(p.fields)
        if p.attach == "image":
            for i, item in enumerate(items):
                if item.get("jpeg"):
                    record = item["record"]
                    name = f"{record['source']}-{record['frame']}.jpg" if len(items) > 1 or i else "frame.jpg"
                    message.add_attachment(base64.b64decode(item["jpeg"]), maintype="image", subtype="jpeg",
                                           filename=name)
        elif p.attach == "csv":
            rows = [{**{k: v for k, v in item["record"].items() if k not in ("detections", "counts")}, **det}
                    for item in items for det in item["record"].get("detections") or [{}]]
            rows = [flatten(select(r, chosen) if chosen else r) for r in rows]
            out = io.StringIO()
            header = list(dict.fromkeys(k for r in rows for k in r))
            writer = csv.DictWriter(out, header, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            message.add_attachment(out.getvalue(), subtype="csv", filename="detections.csv")
        return message

    def write(self, items: list[Any]) -> None:
        p = self.params
        wait = self._last_sent + p.min_interval_s - time.monotonic()
        if wait > 0:
            self._closing.wait(wait)  # at stop the last frames go out at once, not a minute later
        message = self.message(items)
        try:
            with self._connect() as smtp:
                smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
            code = getattr(exc, "smtp_code", 0) or min((c for c, _ in getattr(exc, "recipients", {}).values()),
                                                       default=0)
            if 500 <= code < 600:
                raise Rejected(f"{self.target()} refused the message: {code}") from exc
            raise ConnectionError(f"{self.target()} deferred the message: {code}") from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectionError(f"{self.target()} refused the login of {p.username!r} ({exc.smtp_code}); "
                                  "check username and password") from None  # the server's text may echo it
        self._last_sent = time.monotonic()

    def _connect(self) -> smtplib.SMTP:
        p = self.params
        context = ssl.create_default_context(cafile=str(self.context.resolve(p.ca_file)) if p.ca_file else None)
        if p.security == "tls":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(p.host, p.port, timeout=p.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(p.host, p.port, timeout=p.timeout_s)
        try:
            if p.security == "starttls":
                smtp.starttls(context=context)
            if p.username:
                smtp.login(os.path.expandvars(p.username), self._password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        closing = getattr(self, "_closing", None)
        if closing is not None:
            closing.set()
        super().close()
