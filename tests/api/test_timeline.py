"""GET /api/v1/analysis/sync/{id}/timeline through the real app: an edited dub's windows,
segments and edits with timecodes; errors for unfinished, unknown and bad requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.core.config import Settings
from testkit import dialogue_track, dub_remix, make_programme, write_audio
from tests.api.helpers import running_app, wait_status

SR = 48000
CUT_AT, CUT_LEN, LATE = 30.0, 3.0, 0.25


@pytest.fixture(scope="module")
def edited_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """master.wav (80 s) and edited.wav: late by 0.25 s, then 3 s of master cut at 30 s."""
    root = tmp_path_factory.mktemp("timeline_media")
    prog = make_programme(80.0, SR, seed=41, language="en")
    write_audio(root / "master.wav", prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(80.0, SR, language="es", seed=42), seed=43)
    late = np.concatenate([np.zeros((int(LATE * SR), 2), np.float32), dub])
    a, b = int((CUT_AT + LATE) * SR), int((CUT_AT + CUT_LEN + LATE) * SR)
    write_audio(root / "edited.wav", np.concatenate([late[:a], late[b:]]), SR,
                codec="pcm_s24le")
    return root


class TestTimeline:
    async def test_edited_dub(self, make_settings: Callable[..., Settings],
                              edited_media: Path) -> None:
        async with running_app(make_settings(MOUNT_PATH=edited_media)) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "edited.wav"})
            assert r.status_code == 202, r.text
            aid = r.json()["analysis_id"]
            done = await wait_status(client, aid, timeout=120)
            assert done["status"] == "completed", done
            assert done["result"]["verdict"] == "edited"
            assert done["result"]["timeline"]["edits"], "the result carries the timeline"

            tl = (await client.get(f"/api/v1/analysis/sync/{aid}/timeline?fps=25")).json()
            assert tl["verdict"] == "edited" and tl["model"] == "piecewise" and tl["fps"] == 25
            [edit] = tl["edits"]
            assert edit["kind"] == "removed"
            assert edit["duration_seconds"] == pytest.approx(CUT_LEN, abs=0.002)
            assert edit["duration_frames"] == pytest.approx(CUT_LEN * 25, abs=0.1)
            # within 0.5 s, or within the reported uncertainty where the sound around the cut
            # is not shared (dialogue only) — and that uncertainty stays small
            assert abs(edit["master_time_seconds"] - CUT_AT) <= max(0.5,
                                                                    edit["uncertainty_seconds"])
            # the unlabelled range, plus half a 2-s label window (a window straddling the
            # cut may still match the side it mostly covers)
            assert edit["uncertainty_seconds"] <= 2.0
            assert edit["master_timecode"].startswith("00:00:")
            assert [s["offset_start_seconds"] for s in tl["segments"]] == pytest.approx(
                [LATE, LATE - CUT_LEN], abs=0.001)
            ok = [w for w in tl["windows"] if w["status"] == "ok"]
            assert len(ok) >= 4
            assert all(w["start_timecode"].count(":") == 3 for w in tl["windows"])
            assert ok[0]["offset_ms"] == pytest.approx(LATE * 1000, abs=1)
            assert tl["offset_at_start_timecode"] == "00:00:00:06"  # 0.25 s = 6.25 frames

            ntsc = (await client.get(f"/api/v1/analysis/sync/{aid}/timeline",
                                     params={"fps": 29.97})).json()
            assert ";" in ntsc["edits"][0]["master_timecode"]  # drop-frame

    async def test_errors(self, make_settings: Callable[..., Settings], long_media: Path
                          ) -> None:
        async with running_app(make_settings(MAX_WORKERS=1)) as (_, client):
            missing = await client.get(
                "/api/v1/analysis/sync/analysis_20250101_000000_deadbeef/timeline")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "analysis_not_found"
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "long.wav", "dub_file": "long.wav"})
            aid = r.json()["analysis_id"]
            early = await client.get(f"/api/v1/analysis/sync/{aid}/timeline")
            assert early.status_code == 409
            assert early.json()["error"]["code"] == "analysis_not_completed"
            bad = await client.get(f"/api/v1/analysis/sync/{aid}/timeline?fps=0")
            assert bad.status_code == 422 and "fps" in bad.text
            await client.delete(f"/api/v1/analysis/{aid}")
