"""Short-lived signed URLs (HMAC-SHA256 with ``SECRET_KEY``) for what browsers fetch by
themselves — ``EventSource`` progress streams, ``<audio>`` sources, download links — so that API
keys never travel in query strings.

A signed URL is the API URL plus ``expires`` (Unix seconds) and ``signature``: the HMAC of the
request path, its other query parameters (sorted, so their order does not matter) and the expiry.
It opens that one resource (the path *and* its query: another file, format or analysis needs
another signature), for GET/HEAD only, until it expires. ``GET /api/v1/auth/signed-url`` hands
them out to holders of an API key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

__all__ = ["UrlSigner", "SignedUrl", "SignatureError", "EXPIRES_PARAM", "SIGNATURE_PARAM"]

EXPIRES_PARAM = "expires"
SIGNATURE_PARAM = "signature"
#: query parameters never covered by a signature (the signature's own, and the legacy key)
_RESERVED = frozenset({EXPIRES_PARAM, SIGNATURE_PARAM, "api_key"})


class SignatureError(ValueError):
    """A signed URL that does not open this request; ``code`` says why."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class SignedUrl:
    """A signed URL (path and query, no host) and its expiry (Unix seconds)."""

    url: str
    expires: int


def _canonical(path: str, pairs: Iterable[tuple[str, str]]) -> bytes:
    query = urlencode(sorted((k, v) for k, v in pairs if k not in _RESERVED))
    return f"GET\n{path}\n{query}".encode()


class UrlSigner:
    """Signs and checks URLs with a key derived from ``secret`` (the SECRET_KEY setting)."""

    def __init__(self, secret: str, *, ttl_seconds: int) -> None:
        # a key of its own for this use: SECRET_KEY may serve other signatures later
        self._key = hmac.new(secret.encode(), b"sync-analyzer signed-url v1",
                             hashlib.sha256).digest()
        self.ttl_seconds = int(ttl_seconds)

    def _mac(self, path: str, pairs: Iterable[tuple[str, str]], expires: int) -> str:
        message = _canonical(path, pairs) + f"\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, url: str, *, now: float | None = None, ttl_seconds: int | None = None
             ) -> SignedUrl:
        """``url`` (a path with an optional query, no scheme or host) signed until now + TTL.

        Raises ValueError for a URL that is not a plain path."""
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or parts.fragment or not parts.path.startswith("/"):
            raise ValueError(f"{url!r}: give the path and query only (e.g. /api/v1/...)")
        pairs = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                 if k not in _RESERVED]
        expires = int((time.time() if now is None else now)
                      + (self.ttl_seconds if ttl_seconds is None else ttl_seconds))
        signature = self._mac(unquote(parts.path), pairs, expires)  # as the server sees it
        query = urlencode([*pairs, (EXPIRES_PARAM, str(expires)),
                           (SIGNATURE_PARAM, signature)])
        return SignedUrl(f"{parts.path}?{query}", expires)

    def verify(self, path: str, pairs: Iterable[tuple[str, str]], *,
               now: float | None = None) -> int:
        """Check the signature of a request (its percent-decoded path and decoded query
        pairs); returns its expiry, or raises :class:`SignatureError` (``signature_invalid``
        / ``signature_expired``)."""
        items = list(pairs)
        given = {k: v for k, v in items if k in (EXPIRES_PARAM, SIGNATURE_PARAM)}
        try:
            expires = int(given.get(EXPIRES_PARAM, ""))
        except ValueError:
            raise SignatureError(f"a signed URL needs an integer {EXPIRES_PARAM!r}",
                                 "signature_invalid") from None
        expected = self._mac(path, items, expires)
        if not hmac.compare_digest(expected, given.get(SIGNATURE_PARAM, "")):
            raise SignatureError("the URL's signature does not match this resource (it was "
                                 "signed for another path or query, or with another "
                                 "SECRET_KEY)", "signature_invalid")
        if (time.time() if now is None else now) > expires:
            raise SignatureError(f"the signed URL expired at {expires} (Unix time); ask "
                                 "GET /api/v1/auth/signed-url for a new one",
                                 "signature_expired")
        return expires
