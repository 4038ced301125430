"""``/api/v1/ui/state/batch-queue``: validated, stored in the database, optimistic locking."""

from __future__ import annotations

from collections.abc import Callable

from app.core.config import Settings
from tests.api.helpers import running_app

URL = "/api/v1/ui/state/batch-queue"
ROW = {"id": "r1", "master_file": "show/ep101_master.wav", "dub_file": "show/ep101_de.wav",
       "episode_name": "EP101 DE", "methods": ["Correlation", "onset", "correlation"],
       "window_size": 10, "auto_repair": True}


class TestBatchQueue:
    async def test_save_read_conflict_clear_and_restart(
            self, make_settings: Callable[..., Settings]) -> None:
        settings = make_settings()
        async with running_app(settings) as (_, client):
            empty = (await client.get(URL)).json()
            assert empty == {"items": [], "version": 0, "updated_at": None}

            r = await client.post(URL, json={"items": [ROW, {**ROW, "id": "r2",
                                                              "dub_file": "show/ep101_fr.wav"}],
                                             "expected_version": 0})
            assert r.status_code == 200, r.text
            saved = r.json()
            assert saved["version"] == 1 and saved["updated_at"]
            first = saved["items"][0]
            assert first["methods"] == ["correlation", "onset"]  # normalised
            assert first["selected"] is True and first["auto_repair"] is True
            assert (await client.get(URL)).json() == saved

            # another tab saved meanwhile: its stale version is refused
            r = await client.post(URL, json={"items": [], "expected_version": 0})
            assert r.status_code == 409
            assert r.json()["error"]["code"] == "ui_state_conflict"
            assert r.json()["error"]["details"]["version"] == 1
            r = await client.post(URL, json={"items": [ROW], "expected_version": 1})
            assert r.status_code == 200 and r.json()["version"] == 2
            r = await client.post(URL, json={"items": [ROW, ROW]})  # no version: overwrite
            assert r.status_code == 422 and r.json()["error"]["code"] == "duplicate_item_id"

        async with running_app(settings) as (_, client):  # stored in the database
            kept = (await client.get(URL)).json()
            assert kept["version"] == 2 and [i["id"] for i in kept["items"]] == ["r1"]
            cleared = (await client.delete(URL)).json()
            assert cleared["items"] == [] and cleared["version"] == 3
            assert (await client.get(URL)).json()["items"] == []

    async def test_validation(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(BATCH_MAX_ITEMS=2)) as (_, client):
            bad = [({**ROW, "colour": "red"}, "colour"),
                   ({k: v for k, v in ROW.items() if k != "dub_file"}, "dub_file"),
                   ({**ROW, "window_size": 0}, "window_size"),
                   ({**ROW, "methods": ["fourier"]}, "methods"),
                   ({**ROW, "analysis_id": "nope"}, "analysis_id"),
                   ({**ROW, "confidence_threshold": 2}, "confidence_threshold")]
            for item, field in bad:
                r = await client.post(URL, json={"items": [item]})
                assert r.status_code == 422, (field, r.text)
                error = r.json()["error"]
                assert error["code"] == "validation_error"
                assert field in error["message"], (field, error)
            r = await client.post(URL, json={"items": [{**ROW, "id": str(i)} for i in range(3)]})
            assert r.status_code == 422 and r.json()["error"]["code"] == "queue_too_large"
            r = await client.post(URL, json=[ROW])
            assert r.status_code == 422
            assert (await client.get(URL)).json()["version"] == 0
