"""Secrets kept out of every message: URL passwords and tokens masked, whatever characters they hold.

A camera, webhook or database URL often carries a password, and real
passwords contain ``/ # ? @ : %``, spaces and non-ASCII letters, which a
pattern over free text cannot delimit. So masking works twice: a URL found
in a message is split at the *last* ``@`` of its userinfo and the password
replaced; and every URL a node is given is remembered (:func:`remember_url`),
so its password, raw or percent-encoded, is replaced wherever it shows up,
even where the URL was cut at a space (remembered secrets are replaced
first, before a URL cut short could be masked at the wrong ``@``). Log lines (:class:`MaskingFilter`),
validation issues, run reports and set-aside records all pass through
:func:`mask`.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from segflow.engine.text import message as shortened

SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")
URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S*")
BARE_USERINFO = re.compile(r"^[^/?#\s@:]+:\S*@\S")  # 'op:pw@host/x' given without a scheme
SECRET_QUERY = re.compile(
    r"(?P<key>[?&;](?:password|passwd|pass|pwd|token|access_token|auth|key|api_key|apikey|secret"
    r"|signature|sig)=)(?P<value>[^&#\s]*)",
    re.IGNORECASE,
)
MIN_REMEMBERED = 3  # shorter remembered secrets would mask ordinary words; URLs still mask them in place
HIDDEN = "***"


@dataclass(frozen=True)
class UrlParts:
    """A URL split for masking and for HTTP basic auth: ``scheme`` + ``user:password@`` + ``rest``."""

    scheme: str
    user: str | None  # None: no userinfo
    password: str | None  # None: no ':' in the userinfo
    rest: str  # host, port, path, query, fragment

    @property
    def without_userinfo(self) -> str:
        return self.scheme + self.rest

    def masked(self) -> str:
        if self.user is None:
            return self.scheme + self.rest
        shown = f"{self.user}:{HIDDEN}" if self.password is not None else HIDDEN
        return f"{self.scheme}{shown}@{self.rest}"


def split_url(url: str) -> UrlParts:
    """Split off the userinfo, which runs to the last ``@``, so a password may hold ``@ / # ?`` unencoded.

    A part before the ``@`` that has no ``:`` but a ``/``, ``?`` or ``#`` is a path, not userinfo
    (``http://cam.local/a@b``); without a scheme, only ``user:password@`` counts (``name@host`` is
    an e-mail-like name, no secret).
    """
    match = SCHEME.match(url)
    scheme, rest = (match.group(0), url[match.end():]) if match else ("", url)
    at = rest.rfind("@")
    if at < 0:
        return UrlParts(scheme, None, None, rest)
    userinfo = rest[:at]
    if ":" not in userinfo and (not scheme or any(c in userinfo for c in "/?#")):
        return UrlParts(scheme, None, None, rest)
    user, sep, password = userinfo.partition(":")
    return UrlParts(scheme, user, password if sep else None, rest[at + 1:])


class Secrets:
    """The secrets of this process's URLs, replaced wherever they appear in text."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def remember_url(self, url: str) -> None:
        parts = split_url(url)
        if parts.password is not None:
            self.remember(parts.password)
        elif parts.user is not None and parts.scheme.lower() in ("http://", "https://"):
            self.remember(parts.user)  # a lone userinfo on a web URL is a token; elsewhere it is a user name
        for match in SECRET_QUERY.finditer(url):
            self.remember(match["value"])

    def remember(self, secret: str) -> None:
        forms = {secret, unquote(secret), quote(secret, safe=""), quote(unquote(secret), safe="")}
        with self._lock:
            self._known.update(f for f in forms if len(f) >= MIN_REMEMBERED)

    def mask(self, text: str) -> str:
        # Remembered secrets first: a URL cut at a space inside its password is masked up to its
        # last '@' there, which would leave the remembered password no longer whole in the text.
        with self._lock:
            known = sorted(self._known, key=len, reverse=True)
        for secret in known:
            if secret in text:
                text = text.replace(secret, HIDDEN)
        text = URL_IN_TEXT.sub(lambda m: _mask_url(m.group(0)), text)
        if BARE_USERINFO.match(text):
            head, _, tail = text.partition(" ")
            text = _mask_url(head) + (" " + tail if tail else "")
        return text


def _mask_url(url: str) -> str:
    return SECRET_QUERY.sub(lambda m: f"{m['key']}{HIDDEN}", split_url(url).masked())


SECRETS = Secrets()
"""The process's secrets: URLs are remembered as nodes are validated and set up."""


def remember_url(url: str) -> None:
    """Note the password or token of ``url``, so no message shows it afterwards."""
    SECRETS.remember_url(url)


def mask(text: str) -> str:
    """``text`` with every URL password, token and remembered secret replaced by ``***``."""
    return SECRETS.mask(text)


def mask_all(value: Any) -> Any:
    """Every string inside a JSON-like value masked (run reports, metrics files)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_all(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_all(v) for v in value]
    return value


class MaskingFilter(logging.Filter):
    """A handler filter that masks each log line once it is formatted with its arguments, then shortens it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = shortened(mask(message))  # masked whole first: a cut must not leave half a secret
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True
