"""A promo cut from inside the programme, analysed through the API with no limit: found,
coverage and placement in the result, the first SSE estimate from the whole-programme search;
an explicit ``max_offset_seconds`` keeps the search local."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.config import Settings
from testkit.audio_io import write_audio
from testkit.cases import dub_remix
from testkit.programme import make_programme
from testkit.speech import dialogue_track
from tests.api.helpers import read_sse, running_app, wait_status

SR = 48000


@pytest.fixture(scope="module")
def promo_mount(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("promo")
    prog = make_programme(240.0, SR, seed=12, language="en", bed="real")
    write_audio(root / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(240.0, SR, language="fr", seed=21), seed=3)
    write_audio(root / "promo.m4a", dub[int(150.0 * SR):int(175.0 * SR)], SR, codec="aac",
                bitrate="96k")
    return root


async def test_promo_found_with_coverage_and_early_estimate(
        make_settings: Callable[..., Settings], promo_mount: Path) -> None:
    async with running_app(make_settings(MOUNT_PATH=promo_mount)) as (_, client):
        r = await client.post("/api/v1/analysis/sync",
                              json={"master_file": "master.wav", "dub_file": "promo.m4a"})
        assert r.status_code == 202, r.text
        aid = r.json()["analysis_id"]
        events, _ = await read_sse(client, f"/api/v1/analysis/{aid}/progress/stream")
        done = await wait_status(client, aid)
        result = done["result"]
        assert result["verdict"] == "constant_offset", result["reason"]
        assert abs(result["offset_seconds"] + 150.0) < 0.001
        cov = result["coverage"]
        assert abs(cov["master_start_seconds"] - 150.0) < 0.1
        assert abs(cov["master_end_seconds"] - 175.0) < 0.1
        assert [m["part"] for m in cov["missing"]] == ["head", "tail"]
        assert cov["missing"][0]["end_timecode"] == "00:02:30:00"
        assert result["placement"]["significant"] is True
        assert any("programme missing at the head" in f for f in result["findings"])
        # the evidence that decided it, with its false-alarm probability, and the channels
        decision = result["evidence"]["decision"]
        assert result["evidence"]["signal"] == "mix" and decision["match"] is True
        assert decision["p_false_alarm"] <= decision["threshold"] == 1e-4
        assert decision["windows_agreeing"] >= 3 and decision["reasons"] == []
        assert [c["label"] for c in result["channels"]["channels"]] == ["L", "R"]
        assert result["channels"]["faults"] == []
        estimates = [e.data["progress"]["estimate"] for e in events
                     if isinstance(e.data, dict) and (e.data.get("progress") or {}).get(
                         "estimate")]
        assert estimates, [e.data for e in events][:5]
        # the first estimate already is the located offset (one feature frame)
        assert abs(estimates[0]["offset_seconds"] + 150.0) < 0.011

        r = await client.post("/api/v1/analysis/sync", json={
            "master_file": "master.wav", "dub_file": "promo.m4a", "max_offset_seconds": 60})
        limited = await wait_status(client, r.json()["analysis_id"])
        assert limited["result"]["verdict"] == "no_reliable_match"
        assert limited["result"]["placement"] is None
