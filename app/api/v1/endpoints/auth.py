"""``/api/v1/auth/signed-url``: short-lived signed URLs for what browsers fetch by themselves
(progress streams, audio players, downloads), so API keys stay out of query strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from app.api.auth import SIGN_ROUTE
from app.api.v1.schemas.common import error_responses as _errors
from app.core.config import API_PREFIX
from app.core.errors import UnprocessableError
from app.core.signing import UrlSigner

__all__ = ["router", "SignedUrlRead", "SignedUrlList"]

router = APIRouter(prefix="/auth", tags=["auth"])

#: most URLs signed by one request
MAX_URLS = 50


class SignedUrlRead(BaseModel):
    url: str = Field(description="The URL to load as is (path and query, signed).",
                     examples=["/api/v1/analysis/analysis_20250101_120000_1a2b3c4d/progress/"
                               "stream?expires=1735732800&signature=Qx3..."])
    expires: int = Field(description="Unix time (seconds) after which it is refused.")
    expires_at: datetime = Field(description="The same as a timestamp (UTC).")


class SignedUrlList(BaseModel):
    items: list[SignedUrlRead] = Field(description="One per `url`, in order.")
    ttl_seconds: int = Field(description="SIGNED_URL_TTL_SECONDS.")


@router.get(
    "/signed-url", response_model=SignedUrlList, summary="Sign URLs for browsers",
    description="For each `url` (an API path with its query, e.g. "
                "`/api/v1/analysis/{id}/progress/stream` or `/api/v1/files/proxy-audio?path=…`): "
                "the same URL with `expires` and `signature` (HMAC-SHA256 with SECRET_KEY over "
                "the path, the query and the expiry). It opens that one resource — another "
                "path or another query value is refused — for GET only, without an API key, "
                "until it expires (SIGNED_URL_TTL_SECONDS); a stream opened in time runs to its "
                "end. Needs an API key itself (header) while API_KEYS is set.",
    responses=_errors(422),
    openapi_extra={"x-curl-example":
                   "curl -s '{base}/api/v1/auth/signed-url?url=/api/v1/analysis/$ID/progress/"
                   "stream'"},
)
def signed_url(
    request: Request,
    url: Annotated[list[str], Query(min_length=1, max_length=MAX_URLS, description=(
        "API URL (path and query) to sign; repeat for several."))],
) -> SignedUrlList:
    signer: UrlSigner = request.app.state.signer
    items = []
    for i, raw in enumerate(url):
        if len(raw) > 8192 or not raw.startswith(f"{API_PREFIX}/") or \
                raw.split("?", 1)[0].startswith(SIGN_ROUTE):
            raise UnprocessableError(
                f"url #{i + 1}: give an API path under {API_PREFIX}/ (path and query, at most "
                "8192 characters, not the signing route itself)", code="invalid_parameter",
                details={"field": "url", "index": i})
        try:
            signed = signer.sign(raw)
        except ValueError as exc:
            raise UnprocessableError(f"url #{i + 1}: {exc}", code="invalid_parameter",
                                     details={"field": "url", "index": i}) from None
        items.append(SignedUrlRead(url=signed.url, expires=signed.expires,
                                   expires_at=datetime.fromtimestamp(signed.expires, UTC)))
    return SignedUrlList(items=items, ttl_seconds=signer.ttl_seconds)
