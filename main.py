"""Sync Analyzer's HTTP service: ``python main.py`` (uvicorn on HOST:PORT of the settings),
``uvicorn main:app`` or ``make run``.

``create_app()`` builds the FastAPI app; its lifespan opens the database, the event bus and the
job runner (recovering analyses a previous process left unfinished) and closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Security
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.middleware.trustedhost import TrustedHostMiddleware

from app.api import help as help_routes
from app.api.auth import require_api_key
from app.api.errors import install_error_handlers
from app.api.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from app.api.ratelimit import install_rate_limiting
from app.api.v1.router import api_router, public_router
from app.api.v1.schemas.common import AUTH_RESPONSES, ERROR_RESPONSES
from app.core.config import API_PREFIX, Settings, get_settings
from app.core.logging import configure_logging
from app.core.security import KeyRing
from app.core.signing import UrlSigner
from app.engine import ENGINE_VERSION, tune_process
from app.services.container import Services
from app.web.docs import mount_docs
from app.web.router import mount_dashboard

__all__ = ["create_app", "main"]

_logger = logging.getLogger("app.main")

#: uploads streamed to disk under their own limits (MAX_FILE_SIZE, the CSV limit)
_STREAMED_UPLOADS = (f"{API_PREFIX}/files/upload", f"{API_PREFIX}/analysis/batch/upload-csv",
                     f"{API_PREFIX}/analysis/batch/csv/validate")

#: answers the HTTP edge may give on any API route (body limit, rate limit)
_EDGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: ERROR_RESPONSES[413], 429: ERROR_RESPONSES[429]}

_DESCRIPTION = """
Measures whether a dub soundtrack is in sync with its master.

**Sign convention:** `offset_seconds > 0` means the dub is **late**.

Workflow: `POST /api/v1/analysis/sync` → 202 with an `analysis_id` → follow
`GET /api/v1/analysis/{analysis_id}/progress/stream` (Server-Sent Events) or poll
`GET /api/v1/analysis/{analysis_id}` → the result. See `/api/help` for curl examples.
"""


async def _maintenance(services: Services) -> None:
    """Heartbeat, recovery of dead instances' jobs, cancels requested on other instances."""
    period = services.settings.HEARTBEAT_SECONDS
    while True:
        await asyncio.sleep(period)
        try:
            await run_in_threadpool(services.maintenance)
        except Exception:
            _logger.exception("maintenance failed (retrying in %.1f s)", period)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: the environment and ``.env``)."""
    settings = settings or get_settings()
    configure_logging(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Analyses run in threads; a 1 ms GIL switch interval (default 5 ms) lets the event
        # loop and request threads in quickly while workers hold the GIL (bench: p99 of GET
        # /{id} under load 119 → 75 ms on 2 cores).
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, 0.001))
        tune_process()  # BLAS threads and allocator thresholds (app.engine.tuning)
        for note in settings.warnings():
            _logger.warning(note)
        if keyring.enabled:
            _logger.info("%s", keyring.describe())
        else:
            _logger.warning("API keys OFF: every endpoint is open to anyone who can reach this "
                            "port (set API_KEYS to require X-API-Key)")
        loop = asyncio.get_running_loop()
        services = await run_in_threadpool(Services.open, settings, loop)
        app.state.services = services
        task = asyncio.create_task(_maintenance(services), name="maintenance")
        _logger.info("%s ready: database %s, mount %s, uploads %s", settings.PROJECT_NAME,
                     services.db.engine.url.render_as_string(hide_password=True),
                     settings.mount_root, settings.upload_root)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await run_in_threadpool(services.close)
            sys.setswitchinterval(switch_interval)
            _logger.info("%s stopped", settings.PROJECT_NAME)

    app = FastAPI(
        title=settings.PROJECT_NAME,
        version=ENGINE_VERSION,
        description=_DESCRIPTION,
        debug=settings.DEBUG,
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: app.web.docs, offline (no CDN)
        redoc_url=None,
        openapi_tags=[
            {"name": "analysis", "description": "Submit pairs, follow progress, read results, "
                                                "cancel."},
            {"name": "health", "description": "The service and its components."},
            {"name": "help", "description": "Endpoints with curl examples."},
        ],
    )
    app.state.settings = settings
    keyring = KeyRing(settings.API_KEYS)
    app.state.keyring = keyring
    app.state.signer = UrlSigner(settings.signing_secret,
                                 ttl_seconds=settings.SIGNED_URL_TTL_SECONDS)
    install_error_handlers(app)
    app.include_router(public_router, prefix=API_PREFIX)
    app.include_router(api_router, prefix=API_PREFIX,
                       dependencies=[Security(require_api_key)] if keyring.enabled else None,
                       responses={**_EDGE_RESPONSES, **(AUTH_RESPONSES if keyring.enabled else {})})
    app.include_router(help_routes.router)
    mount_dashboard(app)  # the dashboard: / and /static (app/web/static)
    mount_docs(app)  # /docs, /redoc and their assets under /docs-assets
    # middleware, innermost first: rate limit, body limit, CORS, trusted hosts, headers
    install_rate_limiting(app, settings)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY,
                       exempt_paths=_STREAMED_UPLOADS)
    app.add_middleware(CORSMiddleware, allow_origins=settings.ALLOWED_ORIGINS,
                       allow_credentials="*" not in settings.ALLOWED_ORIGINS,
                       allow_methods=["*"], allow_headers=["*"])
    if settings.ALLOWED_HOSTS != ["*"]:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.ALLOWED_HOSTS)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def main() -> None:
    """``python main.py``: uvicorn on the settings' HOST and PORT (``.env`` or the
    environment), with the settings' log level."""
    import uvicorn

    settings = get_settings()
    uvicorn.run(create_app(settings), host=settings.HOST, port=settings.PORT,
                log_level=settings.LOG_LEVEL.lower())


def __getattr__(name: str) -> FastAPI:
    """``main:app`` for uvicorn, built on first access (importing main has no side effects)."""
    if name == "app":
        application = create_app()
        globals()["app"] = application
        return application
    raise AttributeError(name)


if __name__ == "__main__":
    main()
