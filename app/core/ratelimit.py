"""Per-client rate limiting (ENABLE_RATE_LIMITING, RATE_LIMIT_PER_MINUTE), as ASGI middleware.

A sliding one-minute window per client IP over the API routes; health, docs and the help page are
exempt. Over the limit: 429 with ``Retry-After`` and the usual JSON error body.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from app.core.errors import error_body

__all__ = ["RateLimitMiddleware"]

_EXEMPT = ("/api/v1/health", "/docs", "/redoc", "/openapi.json", "/api/help")


class RateLimitMiddleware:
    """At most ``per_minute`` requests per client in any 60-second window."""

    def __init__(self, app: ASGIApp, *, per_minute: int, window_seconds: float = 60.0) -> None:
        self.app = app
        self.per_minute = per_minute
        self.window = window_seconds
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api") or path.startswith(_EXEMPT):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        retry_after = self._hit(key)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(error_body(
            "rate_limited", f"more than {self.per_minute} requests per minute; retry in "
            f"{retry_after} s", {"limit_per_minute": self.per_minute})).encode()
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"retry-after", str(retry_after).encode()),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _hit(self, key: str) -> int | None:
        """Record a request; None when allowed, else seconds until the next one is."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[0] + self.window - now))
            hits.append(now)
            if len(self._hits) > 10_000:  # forget idle clients
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return None
