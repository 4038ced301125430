"""API keys (``API_KEYS``): who may call the API, and with which scope.

An entry of ``API_KEYS`` is ``KEY`` or ``sha256:<64 hex>`` (the SHA-256 of the key, so the key
itself need not sit in ``.env``), optionally followed by ``:read`` or ``:write``:

- ``read``: GET/HEAD requests only (results, reports, downloads, progress streams);
- ``write`` (the default): everything, including analyses, batches, uploads, repairs, deletes.

Clients send the key in the ``X-API-Key`` header (the request dependency that checks it is
``app.api.auth``). ``EventSource``, ``<audio src>`` and links
cannot set headers: for them a key holder asks ``GET /api/v1/auth/signed-url`` for a short-lived
URL signed with SECRET_KEY (``app.core.signing``), which opens that one resource, read-only, until
it expires. A key in the ``api_key`` query parameter is refused (it would end up in proxy and
access logs) unless API_KEY_IN_QUERY is set. With no key configured authentication is off (local
use). Presented keys are compared by their SHA-256 in constant time; neither keys nor digests
are ever logged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from app.core.errors import AppError

__all__ = ["KeyScope", "ApiKey", "KeyRing", "parse_api_key", "API_KEY_HEADER",
           "API_KEY_QUERY", "READ_METHODS", "UnauthorizedError", "ForbiddenError"]

API_KEY_HEADER = "X-API-Key"
API_KEY_QUERY = "api_key"
#: methods a read-only key may use
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


class KeyScope(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class ApiKey:
    """One configured key: its SHA-256 digest, scope and a name for logs (``key #2``)."""

    digest: bytes
    scope: KeyScope
    name: str

    def allows(self, method: str) -> bool:
        return self.scope == KeyScope.WRITE or method.upper() in READ_METHODS


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_api_key(entry: str, *, index: int = 0) -> ApiKey:
    """``KEY[:scope]`` or ``sha256:<hex>[:scope]`` → ApiKey; ValueError names the entry's
    position (never its value)."""
    text = entry.strip()
    scope = KeyScope.WRITE
    head, sep, tail = text.rpartition(":")
    if sep and tail.lower() in (KeyScope.READ, KeyScope.WRITE):
        scope, text = KeyScope(tail.lower()), head
    name = f"key #{index + 1}"
    if text.lower().startswith("sha256:"):
        hexdigest = text[len("sha256:"):]
        if not _HEX64.match(hexdigest):
            raise ValueError(f"API_KEYS entry {index + 1}: sha256: must be followed by 64 hex "
                             "digits (the key's SHA-256)")
        return ApiKey(bytes.fromhex(hexdigest), scope, name)
    if len(text) < 8:
        raise ValueError(f"API_KEYS entry {index + 1}: a key must have at least 8 characters")
    return ApiKey(_digest(text), scope, name)


class KeyRing:
    """The configured keys; ``enabled`` when there is at least one."""

    def __init__(self, entries: list[str]) -> None:
        self.keys = [parse_api_key(e, index=i) for i, e in enumerate(entries)]

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def lookup(self, presented: str | None) -> ApiKey | None:
        """The configured key matching ``presented`` (constant-time digest comparison)."""
        if not presented:
            return None
        digest = _digest(presented)
        found = None
        for key in self.keys:  # no early exit: the time does not tell which key matched
            if hmac.compare_digest(key.digest, digest):
                found = key
        return found

    def describe(self) -> str:
        reads = sum(k.scope == KeyScope.READ for k in self.keys)
        return (f"API keys ON: {len(self.keys)} key(s), {reads} read-only, "
                f"{len(self.keys) - reads} read/write; header {API_KEY_HEADER}")


class UnauthorizedError(AppError):
    status_code = 401
    code = "unauthorized"


class ForbiddenError(AppError):
    status_code = 403
    code = "forbidden"
