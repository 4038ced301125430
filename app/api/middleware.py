"""ASGI middleware of the HTTP edge: request body limit and security headers.

Both are plain ASGI (no ``BaseHTTPMiddleware``), so Server-Sent Events and file responses stream
through untouched.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import API_PREFIX
from app.core.errors import error_body

__all__ = ["BodyLimitMiddleware", "SecurityHeadersMiddleware", "DASHBOARD_CSP", "REPORT_CSP"]

#: the dashboard: its own scripts, styles, media and API only; no inline script, no framing
DASHBOARD_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: "
                 "blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
                 "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: HTML the API returns (formatted reports): their inline style and plots, never a script
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_COMMON = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
           (b"referrer-policy", b"no-referrer"))
#: interactive docs (assets served locally, app/web/docs.py) start with an inline script: no CSP
_DOCS = ("/docs", "/redoc")


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``: FastAPI re-raises HTTP exceptions met while reading a body, so
    the app's handler answers 413 in the usual JSON shape."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"the request body is over MAX_REQUEST_BODY={max_bytes} bytes "
                              "(upload files with POST /api/v1/files/upload)")


class BodyLimitMiddleware:
    """413 ``request_too_large`` for a request body over ``max_bytes`` (Content-Length, or the
    bytes actually received for a chunked body). Paths in ``exempt_paths`` (streamed uploads
    with their own limit) are not checked."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, exempt_paths: tuple[str, ...] = ()
                 ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_paths = exempt_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "") in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(send, int(length))
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if started:  # pragma: no cover - a route answering before reading its body
                raise
            await self._refuse(send, received)

    async def _refuse(self, send: Send, size: int) -> None:
        body = json.dumps(error_body(
            "request_too_large", f"the request body is over MAX_REQUEST_BODY={self.max_bytes} "
            "bytes (upload files with POST /api/v1/files/upload)",
            {"max_bytes": self.max_bytes, "received_bytes": size})).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """``X-Content-Type-Options``, ``X-Frame-Options`` and ``Referrer-Policy`` on every answer;
    a Content-Security-Policy on the dashboard (``/``, ``/static``) and on HTML from the API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _COMMON:
                    headers.setdefault(name.decode(), value.decode())
                if path == "/" or path.startswith("/static/"):
                    headers.setdefault("content-security-policy", DASHBOARD_CSP)
                elif path.startswith(API_PREFIX) and not path.startswith(_DOCS) and \
                        headers.get("content-type", "").startswith("text/html"):
                    headers.setdefault("content-security-policy", REPORT_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)
