"""The API-key dependency of every protected route: the key a request carries (header, or a
signed URL for GET/HEAD), checked against the key ring (``app.core.security``) and its scope."""

from __future__ import annotations

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from app.core.config import API_PREFIX
from app.core.security import (
    API_KEY_HEADER,
    API_KEY_QUERY,
    ApiKey,
    ForbiddenError,
    KeyRing,
    KeyScope,
    UnauthorizedError,
)
from app.core.signing import SIGNATURE_PARAM, SignatureError, UrlSigner

__all__ = ["require_api_key", "presented_key", "SIGN_ROUTE"]


_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                       description="API key (see API_KEYS)")
_query = APIKeyQuery(name=SIGNATURE_PARAM, auto_error=False,
                     description="Signature of a signed URL (with `expires`), for GET requests "
                                 "that cannot set headers (SSE, audio players, links): "
                                 "GET /api/v1/auth/signed-url")


#: the route that hands out signed URLs (app/api/v1/endpoints/auth.py)
SIGN_ROUTE = f"{API_PREFIX}/auth/signed-url"


def _query_keys_allowed(request: Request) -> bool:
    settings = getattr(request.app.state, "settings", None)
    return bool(getattr(settings, "API_KEY_IN_QUERY", False))


def presented_key(request: Request) -> str | None:
    """The key a request carries: the header, else (GET/HEAD only, when API_KEY_IN_QUERY is
    set) the ``api_key`` query parameter."""
    key = request.headers.get(API_KEY_HEADER)
    if not key and request.method in ("GET", "HEAD") and _query_keys_allowed(request):
        key = request.query_params.get(API_KEY_QUERY)
    return key or None


def _check_signed(request: Request, headers: dict[str, str]) -> None:
    """Admit a GET/HEAD request carrying a valid signed URL; 401 with the reason otherwise."""
    signer: UrlSigner = request.app.state.signer
    if request.scope["path"].startswith(SIGN_ROUTE):
        raise UnauthorizedError("signed URLs cannot sign other URLs: send an API key",
                                code="signature_invalid", headers=headers)
    try:
        signer.verify(request.scope["path"], request.query_params.multi_items())
    except SignatureError as exc:
        raise UnauthorizedError(str(exc), code=exc.code, headers=headers) from None


def require_api_key(request: Request, _h: str | None = Security(_header),
                    _q: str | None = Security(_query)) -> ApiKey | None:
    """Dependency of every protected route: 401 without a valid key or signed URL, 403 when
    the key's scope does not allow the method. None when authentication is off or the request
    is a signed URL's (read-only: GET/HEAD)."""
    ring: KeyRing = request.app.state.keyring
    if not ring.enabled:
        return None
    presented = presented_key(request)
    headers = {"WWW-Authenticate": f'ApiKey header="{API_KEY_HEADER}"'}
    if presented is None and request.method in ("GET", "HEAD") and \
            SIGNATURE_PARAM in request.query_params:
        _check_signed(request, headers)
        request.state.signed_url = True
        return None
    if presented is None:
        # legacy mode (API_KEY_IN_QUERY) takes query keys on GET only, as before
        in_query = API_KEY_QUERY in request.query_params and not _query_keys_allowed(request)
        raise UnauthorizedError(
            (f"API keys are not accepted in the query string (?{API_KEY_QUERY}=: they end up "
             "in logs): " if in_query else "an API key is required: ")
            + f"send it in the {API_KEY_HEADER} header"
            + (f", or use a signed URL (GET {SIGN_ROUTE}?url=...)"
               if request.method == "GET" else ""),
            code="api_key_in_query" if in_query else "api_key_missing", headers=headers)
    key = ring.lookup(presented)
    if key is None:
        raise UnauthorizedError("the API key is not valid", code="api_key_invalid",
                                headers=headers)
    if not key.allows(request.method):
        raise ForbiddenError(
            f"{key.name} is read-only: {request.method} needs a key with the write scope "
            "(analyse, repair, upload, delete)", code="insufficient_scope",
            details={"scope": str(key.scope), "required": str(KeyScope.WRITE)})
    request.state.api_key = key
    return key
