"""The whole API fuzzed from its own OpenAPI schema (schemathesis) against a live uvicorn.

Bounded for ``make test``: a few derandomized examples per operation (valid and invalid ones),
every response checked: no 5xx, a documented status code and content type, a body that matches
the documented schema. ``python bench/fuzz.py`` runs the same checks with many more examples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, assume, settings

from app.core.config import Settings
from tests.api.helpers import UvicornProcess, running_app
from tests.security.fuzzing import (
    FUZZ_CHECKS,
    api_schema,
    fuzz_settings,
    hostile_media,
    install_hostile_hooks,
)

#: examples per operation (bench/fuzz.py raises it) and whether they are derandomized
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "6"))
DERANDOMIZE = os.environ.get("FUZZ_DERANDOMIZE", "1") == "1"
MAX_URL_BYTES = 32_000


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory, media_dir: Path
                ) -> Iterator[UvicornProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    server = UvicornProcess(fuzz_settings(root, hostile_media(root, media_dir)), cwd=root,
                            log=root / "uvicorn.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


#: the schema the app builds (the same code and defaults as the live server's; loaded at import:
#: schemathesis' from_fixture does not work with pytest 9)
schema = schemathesis.openapi.from_dict(api_schema())
install_hostile_hooks(schema)  # file fields name reference formats and hostile names


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=DERANDOMIZE, deadline=None, database=None,
          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
def test_api_conforms_and_never_fails(case: schemathesis.Case,
                                      fuzz_server: UvicornProcess) -> None:
    # URLs past the HTTP server's own request-line limit (some 64 KiB) never reach the API:
    # uvicorn answers 400 "Invalid HTTP request received." (TestOversizedUrl)
    assume(len(case.formatted_path) + len(urlencode(case.query or {}, doseq=True))
           < MAX_URL_BYTES)
    case.call_and_validate(base_url=fuzz_server.base_url, checks=FUZZ_CHECKS, timeout=30)


class TestOversizedUrl:
    def test_refused_by_the_server_which_keeps_serving(self, fuzz_server: UvicornProcess
                                                       ) -> None:
        url = f"{fuzz_server.base_url}/api/v1/reports/search?master_file={'A' * 100_000}"
        assert requests.get(url, timeout=30).status_code == 400  # httpx refuses such URLs
        assert httpx.get(f"{fuzz_server.base_url}/api/v1/health/live").status_code == 200


class TestFoundByFuzzing:
    """What the fuzzing found (500s before the fix), kept as plain regression tests."""

    async def test_regressions(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            long_path = "0" * 300  # a name over 255 bytes: ENAMETOOLONG from the filesystem
            for url in ("/api/v1/files", "/api/v1/files/probe", "/api/v1/files/raw",
                        "/api/v1/files/proxy-audio"):
                r = await client.get(url, params={"path": long_path})
                assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_path", url
            r = await client.post("/api/v1/analysis/sync",
                                  json={"master_file": long_path, "dub_file": "x.wav"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_path"
            r = await client.post("/api/v1/ui/state/batch-queue",  # past SQLite's integers
                                  json={"items": [], "expected_version": 10**24})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
            r = await client.post("/api/v1/ui/state/batch-queue", content=b"\xff]\xfe",
                                  headers={"content-type": "application/json"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
            for url in ("/api/v1/analysis", "/api/v1/analysis/batch", "/api/v1/workflows",
                        "/api/v1/reports", "/api/v1/files"):
                r = await client.get(url, params={"offset": 10**22})  # SQLite cannot bind it
                assert r.status_code == 422, (url, r.text)
                assert (await client.get(url, params={"offset": 2**31 - 1})).status_code == 200
