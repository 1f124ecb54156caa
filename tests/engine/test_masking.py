"""Secrets are masked whatever they contain (the end-to-end table is tests/sinks/test_sink_secrets.py)."""

import pytest

from segflow.engine.masking import Secrets, split_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://user:pass@10.0.0.5:554/stream1", "rtsp://user:***@10.0.0.5:554/stream1"),
        ("rtsp://admin:p@ss:w0rd@cam.local/h264", "rtsp://admin:***@cam.local/h264"),
        ("rtsp://admin:pa/ss#1?x@cam.local/h264", "rtsp://admin:***@cam.local/h264"),
        ("http://TOKEN123@cam.local/video.mjpg", "http://***@cam.local/video.mjpg"),
        ("http://cam.local/snap.cgi?user=op&pwd=hunter2&res=hd", "http://cam.local/snap.cgi?user=op&pwd=***&res=hd"),
        ("https://x.io/live?token=abc.def", "https://x.io/live?token=***"),
        ("rtsp://10.0.0.5/stream1", "rtsp://10.0.0.5/stream1"),
        ("http://cam.local/a@b", "http://cam.local/a@b"),  # '@' in the path is no userinfo
        ("0", "0"),
        ("op:pw@cam.local/x", "op:***@cam.local/x"),  # no scheme: still masked
        ("me@example.com wrote", "me@example.com wrote"),  # an e-mail-like name is no secret
        ("cannot open rtsp://u:pw@h/x (attempt 1)", "cannot open rtsp://u:***@h/x (attempt 1)"),
    ],
)  # fmt: skip
def test_urls_in_text_are_masked(url, shown):
    assert Secrets().mask(url) == shown


def test_a_remembered_password_is_masked_even_where_a_space_cut_the_url():
    secrets = Secrets()
    url = "rtsp://admin:my secret pw@cam.local/x"
    secrets.remember_url(url)
    assert "secret" not in secrets.mask(f"cannot open {url}: timeout")
    assert secrets.mask(f"cannot open {url}").startswith("cannot open rtsp://admin:")
    assert secrets.mask("my%20secret%20pw") == "***"  # the percent-encoded form too


def test_split_url_for_basic_auth():
    parts = split_url("http://bob:p@ss/w#rd?@127.0.0.1:8080/hook?x=1")
    assert (parts.user, parts.password, parts.without_userinfo) == ("bob", "p@ss/w#rd?", "http://127.0.0.1:8080/hook?x=1")
    assert split_url("http://127.0.0.1/a@b").user is None


def test_a_lone_user_is_a_token_only_on_web_urls():
    from segflow.engine.masking import SECRETS

    SECRETS.remember_url("postgresql://segflow@127.0.0.1:5432/db")  # a user name, with no password
    SECRETS.remember_url("https://s3cr3t-token@hooks.example/x")  # a token
    assert SECRETS.mask("hint: segflow models fetch sam2.1-tiny") == "hint: segflow models fetch sam2.1-tiny"
    assert "s3cr3t-token" not in SECRETS.mask("sent with s3cr3t-token")


def test_a_password_with_a_raw_at_and_a_space_is_masked_whole():
    """The URL in the text is cut at the space: masking it first hid only 'CamP' and left the rest shown."""
    secrets = Secrets()
    url = "rtsp://admin:CamP@ss/#?: x-SECRET9@cam.local/h264"
    secrets.remember_url(url)
    shown = secrets.mask(f"cannot open {url}: timeout")
    assert "SECRET9" not in shown and "ss/#?" not in shown, shown
    assert shown == "cannot open rtsp://admin:***@cam.local/h264: timeout"
