"""Whether an address is this machine only, and the token that guards one that is not.

Shared by the servers segflow starts (`segflow serve`, the editor): each refuses an
address other machines can reach when no token guards it, reads the token the same
way (``--token-file``, ``--token`` or ``SEGFLOW_TOKEN``) and compares it in constant time.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

TOKEN_ENV = "SEGFLOW_TOKEN"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name or a LAN address is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_token(token: str | None, token_file: str | None) -> str | None:
    """The token from ``token_file`` (stripped), else ``token``, else ``$SEGFLOW_TOKEN``; None when none is set.

    Raises OSError or ValueError (an empty file) for the caller to report.
    """
    if token_file:
        text = Path(token_file).read_text(encoding="utf-8").strip()
        if not text:
            raise ValueError(f"{token_file} is empty")
        return text
    return token or os.environ.get(TOKEN_ENV) or None


def token_matches(given: str | bytes, token: str | bytes) -> bool:
    """Whether ``given`` is ``token``, in time that does not tell how much of it was right."""
    given_bytes = given.encode() if isinstance(given, str) else given
    token_bytes = token.encode() if isinstance(token, str) else token
    return bool(token_bytes) and secrets.compare_digest(given_bytes, token_bytes)
