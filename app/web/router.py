"""Serves the dashboard: ``/`` (index.html) and ``/static/...`` (CSS, JS modules, icons).

Everything is a plain file under ``app/web/static``: no build step, no CDN. The page talks to
the API under ``API_PREFIX`` only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "mount_dashboard", "router"]

STATIC_DIR = Path(__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard() -> FileResponse:
    """The single page; its scripts are ES modules under /static/js."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


def mount_dashboard(app: FastAPI) -> None:
    """Add ``/`` and ``/static`` to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
