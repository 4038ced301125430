"""Programme timecode and the conform export through the real app: an MXF master starting at
10:00:00:00 against an edited BWF dub (bext time_reference 10:00:00:00) — every master-time
timecode is 10:…, and the OTIO / CMX 3600 EDL / FCP XML export read back with OpenTimelineIO
puts the edit points where the cut really is (within one frame); a start timecode set by the
request on plain WAVs; bad timecodes, unknown formats, unfinished and unmatched analyses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from app.core.config import Settings
from tests.api.helpers import running_app, wait_status
from tests.timecode_media import (
    SR,
    edited_dub,
    noise_programme,
    write_bwf,
    write_with_video,
)

FPS = 25
TEN = 36000 * FPS  # 10:00:00:00 in frames
LATE, CUT_AT, CUT_LEN = 0.2, 25.0, 2.0  # the dub is late by 0.2 s, then 2 s cut at 25 s


@pytest.fixture(scope="module")
def tc_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """master.mxf (50 s, timecode 10:00:00:00, 25 fps) and edited_bwf.wav (its dub, bext
    10:00:00:00); plain.wav / plain_dub.wav (20 s, the dub 0.24 s late, no timecode); two
    unrelated 12-s programmes."""
    root = tmp_path_factory.mktemp("tc_media")
    master = noise_programme(50.0, seed=21)
    write_with_video(root / "master.mxf", master, timecode="10:00:00:00")
    write_bwf(root / "edited_bwf.wav", edited_dub(master, late=LATE, cut_at=CUT_AT,
                                                  cut_len=CUT_LEN, seed=22),
              time_reference=36000 * SR)
    plain = noise_programme(20.0, seed=23)
    write_bwf(root / "plain.wav", plain, time_reference=None)
    write_bwf(root / "plain_dub.wav", np.concatenate([np.zeros(int(0.24 * SR), np.float32),
                                                      plain]), time_reference=None)
    write_bwf(root / "other_a.wav", noise_programme(12.0, seed=24), time_reference=None)
    write_bwf(root / "other_b.wav", noise_programme(12.0, seed=25), time_reference=None)
    return root


def _events(tl: otio.schema.Timeline) -> list[tuple[str, int, int, int | None]]:
    """(clip/gap, record in, record out, source in) in programme frames of the audio track
    read back (record clock: the global start, or the EDL reader's first record in)."""
    track = next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Audio)
    origin = int(round(tl.global_start_time.to_frames())) if tl.global_start_time else 0
    if track.source_range is not None:
        origin -= int(round(track.source_range.start_time.to_frames()))
    out: list[tuple[str, int, int, int | None]] = []
    for item in track:
        r = item.range_in_parent()
        a = origin + int(round(r.start_time.to_frames()))
        b = a + int(round(r.duration.to_frames()))
        if isinstance(item, otio.schema.Gap):
            if out:  # a leading gap is the programme's start, not missing material
                out.append(("gap", a, b, None))
            continue
        out.append(("clip", a, b, int(round(item.source_range.start_time.to_frames()))))
    return out


def _within_a_frame(got: list, truth: list) -> None:
    assert [g[0] for g in got] == [t[0] for t in truth], got
    for g, t in zip(got, truth, strict=True):
        for x, y in zip(g[1:], t[1:], strict=True):
            assert (x is None and y is None) or abs(x - y) <= 1, (got, truth)


class TestTaggedFiles:
    async def test_edited_dub_timecodes_and_conform(
            self, make_settings: Callable[..., Settings], tc_media: Path) -> None:
        async with running_app(make_settings(MOUNT_PATH=tc_media)) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.mxf", "dub_file": "edited_bwf.wav",
                "label": "EP1 conform"})
            assert r.status_code == 202, r.text
            aid = r.json()["analysis_id"]
            assert r.json()["links"]["conform"].endswith(f"/{aid}/conform?format=edl")
            done = await wait_status(client, aid, timeout=180)
            assert done["status"] == "completed", done
            res = done["result"]
            assert res["verdict"] == "edited", res["reason"]
            prog = res["programme_timecode"]
            assert (prog["fps"], prog["fps_source"]) == (25.0, "master file timecode")
            assert prog["master"] == {**prog["master"], "timecode": "10:00:00:00",
                                      "source": "file", "tag": "timecode"}
            assert prog["dub"] == {**prog["dub"], "timecode": "10:00:00:00", "source": "file",
                                   "tag": "time_reference", "samples": 36000 * SR}
            assert res["master"]["start_timecode"]["timecode"] == "10:00:00:00"
            [missing] = res["coverage"]["missing"]
            assert missing["start_timecode"] == "10:00:25:00"
            assert missing["end_timecode"] == "10:00:27:00"
            assert any("10:00:25:00" in f for f in res["findings"])
            qc = res["qc"]
            assert qc["status"] == "FAIL" and "10:00:25:00" in qc["reason"]
            assert qc["worst_at_timecode"].startswith("10:00:")
            assert res["timecodes"]["25"] == "00:00:00:05"  # the offset stays a duration

            tl = (await client.get(f"/api/v1/analysis/sync/{aid}/timeline")).json()
            assert tl["fps"] == 25 and tl["programme_timecode"]["master"]["source"] == "file"
            [edit] = tl["edits"]
            assert edit["kind"] == "removed"
            assert abs(edit["master_time_seconds"] - CUT_AT) <= 1 / FPS
            assert edit["master_timecode"] in ("10:00:24:24", "10:00:25:00", "10:00:25:01")
            assert tl["segments"][0]["master_start_timecode"].startswith("10:00:0")
            seg = tl["segments"][1]  # after the cut: dub time = master time - 1.8 s
            assert seg["dub_start_timecode"].startswith("10:00:")
            assert seg["offset_start_seconds"] == pytest.approx(LATE - CUT_LEN, abs=1e-3)
            assert all(w["start_timecode"].startswith("10:00:") for w in tl["windows"])
            assert tl["offset_at_start_timecode"] == "00:00:00:05"

            # the truth: record = master programme, source = the dub's clock, both 10:00:…
            truth = [("clip", TEN, TEN + 625, TEN + 5),          # 0.2 s late = 5 frames
                     ("gap", TEN + 625, TEN + 675, None),         # 2 s missing at 25 s
                     ("clip", TEN + 675, TEN + 1250, TEN + 630)]  # dub 25.2 s on
            for fmt, adapter, ext, media in (
                    ("otio", "otio_json", "otio", "application/json"),
                    ("edl", "cmx_3600", "edl", "text/plain"),
                    ("fcpxml", "fcp_xml", "xml", "application/xml")):
                resp = await client.get(f"/api/v1/analysis/sync/{aid}/conform",
                                        params={"format": fmt})
                assert resp.status_code == 200, resp.text
                assert resp.headers["content-type"].startswith(media)
                assert resp.headers["content-disposition"] == \
                    f'attachment; filename="{aid}_conform.{ext}"'
                kwargs = {"rate": FPS} if adapter == "cmx_3600" else {}
                back = otio.adapters.read_from_string(resp.text, adapter, **kwargs)
                _within_a_frame(_events(back), truth)
                clips = list(back.find_clips())
                assert any("removed 2.000 s" in m.name.lower() for c in clips
                           for m in c.markers), fmt
            edl = (await client.get(f"/api/v1/analysis/sync/{aid}/conform?format=edl")).text
            assert "10:00:00:00 10:00:25:00" in edl and "10:00:27:00 10:00:50:00" in edl

            report = (await client.get(f"/api/v1/reports/{aid}")).json()
            assert report["links"]["conform_edl"] == \
                f"/api/v1/analysis/sync/{aid}/conform?format=edl"
            assert report["programme_timecode"]["master"]["timecode"] == "10:00:00:00"
            assert report["timeline"]["edits"][0]["timecode"].startswith("10:00:2")
            html = (await client.get(f"/api/v1/reports/{aid}/formatted?format=html")).text
            assert "Master start timecode" in html and "10:00:00:00 (file: timecode" in html
            assert "10:00:25:00" in html
            assert "Conform export (edl)" in html  # the report's links, rendered

            probe = (await client.get("/api/v1/files/probe",
                                      params={"path": "edited_bwf.wav"})).json()
            assert probe["start_timecode"]["samples"] == 36000 * SR


class TestRequestedStart:
    async def test_plain_wavs(self, make_settings: Callable[..., Settings],
                              tc_media: Path) -> None:
        async with running_app(make_settings(MOUNT_PATH=tc_media)) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "plain.wav", "dub_file": "plain_dub.wav",
                "master_start_timecode": "01:00:00:00", "dub_start_timecode": "00:59:59:00"})
            assert r.status_code == 202, r.text
            aid = r.json()["analysis_id"]
            done = await wait_status(client, aid, timeout=120)
            res = done["result"]
            assert done["request"]["master_start_timecode"] == "01:00:00:00"
            prog = res["programme_timecode"]
            assert prog["master"]["source"] == prog["dub"]["source"] == "request"
            assert prog["master"]["file_timecode"] is None
            assert res["coverage"]["master_start_timecode"] == "01:00:00:00"
            assert res["coverage"]["master_end_timecode"] == "01:00:20:00"
            edl = (await client.get(f"/api/v1/analysis/sync/{aid}/conform?format=edl")).text
            [event] = [ln.split() for ln in edl.splitlines() if ln.startswith("001")]
            # source: the dub's clock (00:59:59:00 + 0.24 s = 6 frames); record: the master's
            assert event[4:8] == ["00:59:59:06", "01:00:19:06", "01:00:00:00", "01:00:20:00"]

    @pytest.mark.parametrize(("body", "code", "words"), [
        ({"master_start_timecode": "25:00:00:00"}, "validation_error", "hours 00-23"),
        ({"dub_start_timecode": "10:00"}, "validation_error", "expected HH:MM:SS:FF"),
        ({"master_start_timecode": "00:00:00;00", "frame_rate": 25}, "invalid_parameter",
         "drop-frame (';') exists at 29.97 and 59.94"),
        # the MXF's own rate (25 fps) has no frame 29
        ({"dub_start_timecode": "10:00:00:29", "master_file": "master.mxf"},
         "invalid_timecode", "frame 29 does not exist at 25 fps"),
    ])
    async def test_bad_timecodes(self, make_settings: Callable[..., Settings],
                                 tc_media: Path, body: dict, code: str, words: str) -> None:
        async with running_app(make_settings(MOUNT_PATH=tc_media)) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "plain.wav", "dub_file": "plain_dub.wav", **body})
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["code"] == code and words in error["message"], error


class TestConformErrors:
    async def test_errors(self, make_settings: Callable[..., Settings], tc_media: Path
                          ) -> None:
        async with running_app(make_settings(MOUNT_PATH=tc_media, MAX_WORKERS=1)) as (
                _, client):
            missing = await client.get(
                "/api/v1/analysis/sync/analysis_20250101_000000_deadbeef/conform")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "analysis_not_found"
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "other_a.wav", "dub_file": "other_b.wav"})
            aid = r.json()["analysis_id"]
            queued = await client.post("/api/v1/analysis/sync", json={
                "master_file": "other_a.wav", "dub_file": "other_b.wav"})
            qid = queued.json()["analysis_id"]
            early = await client.get(f"/api/v1/analysis/sync/{qid}/conform?format=edl")
            assert early.status_code == 409
            assert early.json()["error"]["code"] == "analysis_not_completed"
            await client.delete(f"/api/v1/analysis/{qid}")
            bad = await client.get(f"/api/v1/analysis/sync/{aid}/conform?format=aaf")
            assert bad.status_code == 422
            assert bad.json()["error"]["code"] == "validation_error"
            assert "format" in bad.json()["error"]["message"]
            done = await wait_status(client, aid, timeout=120)
            assert done["result"]["verdict"] == "no_reliable_match"
            nomatch = await client.get(f"/api/v1/analysis/sync/{aid}/conform")
            assert nomatch.status_code == 409
            assert nomatch.json()["error"]["code"] == "no_match"
            report = (await client.get(f"/api/v1/reports/{aid}")).json()
            assert not any(k.startswith("conform_") for k in report["links"])
