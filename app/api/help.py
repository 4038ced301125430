"""``/api/help``: every endpoint with a one-line description and a curl example.

Built from the app's OpenAPI schema (each operation's ``summary`` and ``x-curl-example``), so it
never drifts from the API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

__all__ = ["router", "HelpRead", "EndpointHelp"]

router = APIRouter(tags=["help"])


class EndpointHelp(BaseModel):
    method: str = Field(examples=["POST"])
    path: str = Field(examples=["/api/v1/analysis/sync"])
    summary: str = Field(examples=["Submit a master/dub pair"])
    curl: str | None = Field(description="A working example ($ID: an analysis id).")


class HelpRead(BaseModel):
    service: str
    docs: dict[str, str] = Field(description="Interactive docs, reference, OpenAPI schema.")
    sign_convention: str
    endpoints: list[EndpointHelp]


@router.get("/api/help", response_model=HelpRead, summary="Endpoints, one line each, with curl",
            openapi_extra={"x-curl-example": "curl -s {base}/api/help"})
def api_help(request: Request) -> HelpRead:
    base = str(request.base_url).rstrip("/")
    endpoints = []
    for path, operations in request.app.openapi().get("paths", {}).items():
        for method, op in operations.items():
            example = op.get("x-curl-example")
            endpoints.append(EndpointHelp(
                method=method.upper(), path=path, summary=op.get("summary", ""),
                curl=example.replace("{base}", base) if example else None))
    return HelpRead(
        service=request.app.title,
        docs={"swagger": f"{base}/docs", "redoc": f"{base}/redoc",
              "openapi": f"{base}/openapi.json"},
        sign_convention="offset_seconds > 0 means the dub is late",
        endpoints=endpoints)
