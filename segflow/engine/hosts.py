"""Whether an address is this machine only: what decides if a server may listen without a token.

Shared by the servers segflow starts (`segflow serve`, the editor): each refuses, or warns
about, an address other machines can reach when no token guards it.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); a name or a LAN address is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
