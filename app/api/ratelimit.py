"""Rate limiting with slowapi (ENABLE_RATE_LIMITING, RATE_LIMIT_PER_MINUTE).

One moving one-minute window per client over every API route together: the client is its API key
when it presents a configured one, else its IP address (so random keys buy no extra requests).
Health, the docs, /api/help and the dashboard's files are exempt. Over the limit: 429 with
``Retry-After`` (seconds) and the usual JSON error body.

slowapi's ``Limiter`` keeps the windows and writes the headers; the middleware here decides
which requests count by path. (slowapi's own middleware looks the endpoint up in ``app.routes``,
which FastAPI >= 0.16x no longer flattens: it finds no endpoint and lets everything through.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slowapi import Limiter
from slowapi.errors import RateLimitExceeded
from slowapi.util import get_remote_address
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import presented_key
from app.core.config import API_PREFIX, Settings
from app.core.errors import error_body
from app.core.security import KeyRing

__all__ = ["client_key", "install_rate_limiting", "RateLimitMiddleware"]

_EXEMPT_PREFIXES = (f"{API_PREFIX}/health",)


def client_key(request: Request) -> str:
    """``key:<name>`` for a configured API key, else ``ip:<address>``."""
    ring: KeyRing | None = getattr(request.app.state, "keyring", None)
    if ring is not None and ring.enabled:
        key = ring.lookup(presented_key(request))
        if key is not None:
            return f"key:{key.name}"
    return f"ip:{get_remote_address(request)}"


class RateLimitMiddleware:
    """Counts every request under API_PREFIX (except health) against slowapi's limiter."""

    def __init__(self, app: ASGIApp, *, limiter: Limiter,
                 handler: Callable[[Request, RateLimitExceeded], Awaitable[Response]]) -> None:
        self.app = app
        self.limiter = limiter
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not self.limiter.enabled or \
                not path.startswith(f"{API_PREFIX}/") or path.startswith(_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        try:
            self.limiter._check_request_limit(request, None, True)
        except RateLimitExceeded as exc:
            response = await self.handler(request, exc)
            await response(scope, receive, send)
            return
        current = getattr(request.state, "view_rate_limit", None)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and current is not None:
                self.limiter._inject_asgi_headers(MutableHeaders(scope=message), current)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_rate_limiting(app: FastAPI, settings: Settings) -> Limiter:
    """Attach slowapi's limiter (``app.state.limiter``) and the middleware to ``app``: counts
    in memory for one process, in Redis (CELERY_BROKER_URL) when JOB_BACKEND=celery."""
    per_minute = settings.RATE_LIMIT_PER_MINUTE
    # several API instances (JOB_BACKEND=celery) count together in the broker's Redis; should
    # Redis fail, each instance falls back to counting on its own rather than refusing work
    shared = settings.JOB_BACKEND == "celery"
    limiter = Limiter(key_func=client_key, application_limits=[f"{per_minute}/minute"],
                      headers_enabled=True, strategy="moving-window",
                      storage_uri=settings.CELERY_BROKER_URL if shared else "memory://",
                      in_memory_fallback_enabled=shared, swallow_errors=shared,
                      key_prefix="sync-analyzer-ratelimit", enabled=settings.ENABLE_RATE_LIMITING)
    app.state.limiter = limiter

    async def exceeded(request: Request, exc: RateLimitExceeded) -> Response:
        response = JSONResponse(error_body(
            "rate_limited", f"more than {per_minute} requests per minute from this client",
            {"limit_per_minute": per_minute}), status_code=429)
        # Retry-After and X-RateLimit-* from the window that was exceeded
        return limiter._inject_headers(response, request.state.view_rate_limit)

    app.add_middleware(RateLimitMiddleware, limiter=limiter, handler=exceeded)
    return limiter
