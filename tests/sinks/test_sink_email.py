"""sink.email against a real SMTP server on loopback (aiosmtpd): STARTTLS, login, templates, attachments, spool."""

from __future__ import annotations

import datetime
import email
import logging
import ssl
import time
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
from sinkkit import feed, free_port, make_node, rendered_detections

from segflow.engine.api import load
from segflow.engine.workflow.validate import validate_text
from segflow.nodes.sinks.email import EmailSink, fill

aiosmtpd = pytest.importorskip("aiosmtpd")
from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import AuthResult, LoginPassword  # noqa: E402

PASSWORD = "s3cret-Pa55"
ROOT = Path(__file__).resolve().parents[2]


def self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.refuse: int = 0  # answer DATA with this code when set

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        if self.refuse:
            return f"{self.refuse} not now"
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"qa" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


@pytest.fixture
def smtp(tmp_path):
    cert, key = self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="localhost", port=free_port(), tls_context=tls, require_starttls=True,
                            authenticator=authenticate, auth_required=True)
    controller.start()
    try:
        yield inbox, controller.port, cert
    finally:
        controller.stop()


def wait_for_a_failure(node, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while node.outbox.sender.last_error is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert node.outbox.sender.last_error is not None


def sink(tmp_path, port, cert, **params):
    base = {"host": "localhost", "port": port, "username": "qa", "password": "${SMTP_PASSWORD}",
            "ca_file": str(cert), "sender": "line@example.com", "to": ["qa@example.com"], "min_interval_s": 0,
            "backoff_initial_s": 0.05, "backoff_max_s": 0.2, "flush_interval_s": 0.05}
    return make_node(EmailSink, tmp_path, **{**base, **params})


def test_starttls_login_template_and_image(tmp_path, smtp, monkeypatch):
    inbox, port, cert = smtp
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    node = sink(tmp_path, port, cert, attach="image", subject="{counts.stone} stones on {source}",
                body="frame {frame}: {count} objects ({frames} frame)", batch_size=1)
    feed(node, 7, rendered_detections(), image=np.full((60, 80, 3), 128, np.uint8))
    node.close()
    assert node.undelivered() is None
    [message] = inbox.messages
    assert message["Subject"] == "2 stones on cam" and message["To"] == "qa@example.com"
    parts = list(message.walk())
    text = next(p for p in parts if p.get_content_type() == "text/plain").get_payload(decode=True).decode()
    assert text.strip() == "frame 7: 3 objects (1 frame)"
    [jpeg] = [p for p in parts if p.get_content_type() == "image/jpeg"]
    assert jpeg.get_payload(decode=True)[:2] == b"\xff\xd8"


def test_a_digest_with_a_csv_after_an_outage_nothing_lost(tmp_path, smtp, monkeypatch, caplog):
    inbox, port, cert = smtp
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    inbox.refuse = 451  # the server defers: mail waits in the spool
    node = sink(tmp_path, port, cert, attach="csv", fields=["frame", "class", {"length": "length_mm"}],
                batch_size=10, subject="{frames} frames")
    with caplog.at_level(logging.DEBUG):
        for i in range(3):
            feed(node, i, rendered_detections())
        wait_for_a_failure(node)
        inbox.refuse = 0
        node.close()
    assert node.undelivered() is None
    frames = sum(int(m["Subject"].split()[0]) for m in inbox.messages)
    assert frames == 3
    csvs = [p.get_payload(decode=True).decode() for m in inbox.messages for p in m.walk()
            if p.get_filename() == "detections.csv"]
    lines = [line for text in csvs for line in text.splitlines()[1:]]
    assert csvs[0].splitlines()[0] == "frame,class,length" and len(lines) == 9
    assert PASSWORD not in caplog.text


def test_a_wrong_password_keeps_the_mail_spooled_and_never_shows(tmp_path, smtp, monkeypatch, caplog):
    inbox, port, cert = smtp
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-" + PASSWORD)
    node = sink(tmp_path, port, cert, drain_timeout_s=1)
    with caplog.at_level(logging.DEBUG):
        feed(node, 0, rendered_detections())
        wait_for_a_failure(node)
        node.close()
    undelivered = node.undelivered()
    assert inbox.messages == [] and undelivered is not None and undelivered.records == 1
    assert "refused the login" in undelivered.reason and "wrong-" not in undelivered.reason
    assert "wrong-" + PASSWORD not in caplog.text


def test_the_example_workflow_mails_long_objects(tmp_path, smtp, monkeypatch):
    inbox, port, cert = smtp
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    (tmp_path / "assets").symlink_to(ROOT / "assets", target_is_directory=True)
    workflow = load(ROOT / "workflows/email_alert.yaml", base_dir=tmp_path,
                    overrides=["mail.host=localhost", f"mail.port={port}", "mail.username=qa", f"mail.ca_file={cert}",
                               "mail.min_interval_s=0", "mail.batch_size=1"])
    report = workflow.run(max_frames=12)
    assert report.failures == 0 and not report.undelivered
    assert inbox.messages, "no frame of the first 12 had an object over 9 mm"
    for message in inbox.messages:
        assert message["Subject"].startswith("Line 1: ") and "on belt, frame" in message["Subject"]
        assert any(p.get_content_type() == "image/jpeg" for p in message.walk())


def test_fill() -> None:
    record = {"count": 3, "counts": {"stone": 2}, "value": None}
    assert fill("{count} / {counts.stone} / {counts.bean} / {{x}} / {frames}", record, 4) == "3 / 2 /  / {x} / 4"


WORKFLOW = """version: 1
name: t
nodes:
  cam: {type: source.test_pattern, params: {frames: 1}}
  find: {type: detect.threshold, inputs: {image: cam.image}}
  mail: {type: sink.email, params: {host: localhost, to: [q@b.c], %s}, inputs: {detections: find.detections}}
"""


@pytest.mark.parametrize(
    ("params", "field", "text"),
    [
        ('sender: a@b.c, subject: "{cuont} objects"', "subject", "did you mean 'count'"),
        ("sender: a@b.c, attach: image", "attach", "needs the image input"),
        ('sender: a@b.c, password: "${SEGFLOW_UNSET_FOR_TEST}"', "password", "is not set"),
        ("sender: a@b.c, security: none, password: x", "security", "readable"),
        ("sender: nobody", "sender", "not a mail address"),
        ("sender: a@b.c, attach: csv, fields: [frame, class, clas]", "fields", "did you mean 'class'"),
    ],
)
def test_mistakes_are_located(params, field, text) -> None:
    found = [i for i in validate_text(WORKFLOW % params, "wf.yaml").issues if i.is_error]
    assert len(found) == 1 and found[0].node == "mail", [i.format() for i in found]
    assert found[0].location.line == 6 and text in found[0].format()
