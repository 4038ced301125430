"""The interactive API docs, offline: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc).

FastAPI's own pages load their scripts, styles and icon from a CDN, so they are blank in a
facility without internet. These pages load them from ``/docs-assets/`` instead, files the app
serves from the ``fastapi-offline`` package (installed from PyPI with the service: Swagger UI's
``swagger-ui-bundle.js`` and ``swagger-ui.css``, ReDoc's ``redoc.standalone.js``), never
fetched at run time. Every URL the pages load is on this server: ReDoc's bundle is served
with the one image it would fetch from Redocly's CDN (its logo in the menu) replaced by an
inline one.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

__all__ = ["ASSETS_DIR", "ASSETS_URL", "ASSET_FILES", "mount_docs", "redoc_bundle"]

#: where the pages' scripts and styles are served
ASSETS_URL = "/docs-assets"
#: the files fastapi-offline ships (from the Swagger UI and ReDoc releases)
ASSETS_DIR = Path(str(files("fastapi_offline") / "static"))
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
#: what ReDoc's bundle would load from the internet → its stand-in (an empty inline image)
_REDOC_REMOTE = {"https://cdn.redoc.ly/redoc/logo-mini.svg":
                 "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E"}


@lru_cache(maxsize=1)
def redoc_bundle() -> bytes:
    """``redoc.standalone.js`` with the URLs of :data:`_REDOC_REMOTE` replaced."""
    text = (ASSETS_DIR / "redoc.standalone.js").read_text(encoding="utf-8")
    for remote, local in _REDOC_REMOTE.items():
        text = text.replace(remote, local)
    return text.encode("utf-8")


def mount_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """Add the offline ``docs_url`` and ``redoc_url`` pages and their assets to ``app`` (built
    with ``docs_url=None, redoc_url=None``, so FastAPI's CDN pages are not there)."""
    missing = [name for name in ASSET_FILES if not (ASSETS_DIR / name).is_file()]
    if missing:  # pragma: no cover - a broken install
        raise RuntimeError(f"the API docs' assets {missing} are missing from {ASSETS_DIR} "
                           "(pip install -r requirements.txt)")

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    def redoc_js() -> Response:  # before the mount, which would serve the file as it is
        return Response(redoc_bundle(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
    oauth2_url = app.swagger_ui_oauth2_redirect_url

    def root(request: Request) -> str:
        return str(request.scope.get("root_path") or "")

    @app.get(docs_url, include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        base = root(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{base}{oauth2_url}" if oauth2_url else None,
            swagger_js_url=f"{base}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{base}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters)

    if oauth2_url:
        @app.get(oauth2_url, include_in_schema=False)
        def swagger_ui_redirect() -> HTMLResponse:
            return get_swagger_ui_oauth2_redirect_html()

    @app.get(redoc_url, include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        base = root(request)
        return get_redoc_html(
            openapi_url=f"{base}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{base}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{base}{ASSETS_URL}/favicon.png", with_google_fonts=False)
