"""The checks every request passes before a route runs: bearer token and body size.

Plain ASGI, so it also covers ``/docs``, ``/openapi.json`` and the streams.
Only ``/healthz`` answers without the token (a load balancer's probe has none).
The token is compared in constant time and never echoed; a body larger than
the limit is refused from its ``Content-Length`` or, when it has none, as soon
as the bytes read pass the limit.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException

from segflow.engine.hosts import token_matches

OPEN_PATHS = frozenset({"/healthz"})

Scope = dict[str, Any]


def too_large(limit: int) -> HTTPException:
    """Raised while the body is read: the app's HTTPException handler answers 413."""
    return HTTPException(413, f"the body is over {limit:,} bytes (--max-body-mb)")


class Guard:
    def __init__(self, app: Any, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.token is not None and scope["path"] not in OPEN_PATHS and not self._authorised(scope):
            await _answer(send, 401, "a bearer token is required (Authorization: Bearer <token>)",
                          [(b"www-authenticate", b"Bearer")])
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await _answer(send, 413, f"the body is {int(length):,} bytes; this server takes at most "
                                     f"{self.max_body:,} (--max-body-mb)")
            return
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise too_large(self.max_body)
            return message

        await self.app(scope, counted, send)

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        return scheme.lower() == b"bearer" and token_matches(given.strip(), self.token or b"")


async def _answer(send: Any, status: int, error: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
