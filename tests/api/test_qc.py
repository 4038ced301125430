"""The QC gate through the real app, engine and ffmpeg: every completed analysis gets ``qc``
(tolerance per request or QC_TOLERANCE, re-judged with ?tolerance=), bad tolerances get the
standard 422, the batch results carry the honest headline columns, the CLI prints them."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError
from sqlalchemy import update

from app.core.config import Settings
from app.db.models import AnalysisRow
from tests.api.helpers import REPO, read_sse, running_app, wait_status
from tests.api.test_batch import BASE as BATCH
from tests.api.test_batch import upload, wait_batch
from tests.conftest import DUBS, DURATION_SECONDS, SR, _programme, write_audio

LATE_MS = 1000 * DUBS["dub_late.wav"]  # 234.5 ms late
FAST = {"methods": ["correlation"], "max_offset_seconds": 10}
#: dubs that hold the whole programme (the fixtures' dubs of DUBS lack its tail or head):
#: file → offset in ms (> 0 = dub late)
WHOLE = {"late_whole.wav": 234.5, "early_30.wav": -30.0}


@pytest.fixture(scope="module")
def qc_media(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Path:
    """MOUNT_PATH with the fixtures' master, its dubs of DUBS, and the dubs of WHOLE: the
    master's noise delayed (a longer head) or advanced by less than the 0.1 s that counts as
    missing, and nothing cut at the tail."""
    root = tmp_path_factory.mktemp("qc_media")
    for name in ("master.wav", *DUBS):
        (root / name).write_bytes((media_dir / name).read_bytes())
    master = _programme(DURATION_SECONDS, seed=11)
    rng = np.random.default_rng(5)
    for name, ms in WHOLE.items():
        lag = int(round(ms / 1000 * SR))
        dub = np.concatenate([np.zeros(lag, np.float32), master]) if lag >= 0 else master[-lag:]
        write_audio(root / name, (0.8 * dub + 0.01 * rng.standard_normal(dub.size))
                    .astype(np.float32))
    return root


async def submit(client: httpx.AsyncClient, dub: str, **extra: Any) -> str:
    r = await client.post("/api/v1/analysis/sync",
                          json={"master_file": "master.wav", "dub_file": dub, **FAST, **extra})
    assert r.status_code == 202, r.text
    return str(r.json()["analysis_id"])


def assert_error(r: httpx.Response, code: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return dict(body["error"])


class TestAnalysisQc:
    async def test_tight_and_loose_tolerances(self, make_settings: Callable[..., Settings],
                                              qc_media: Path) -> None:
        async with running_app(make_settings(MOUNT_PATH=qc_media)) as (_, client):
            ids = {
                "default": await submit(client, "late_whole.wav"),
                "loose": await submit(client, "late_whole.wav",
                                      tolerance={"early_ms": 0, "late_ms": 300}),
                "frames": await submit(client, "late_whole.wav",
                                       tolerance={"early_frames": 0, "late_frames": 7}),
                "early": await submit(client, "early_30.wav", tolerance="EBU_R37",
                                      frame_rate=23.976),
                "early_tight": await submit(client, "early_30.wav",
                                            tolerance={"early_ms": 25, "late_ms": 0}),
                "cut": await submit(client, "dub_late.wav",
                                    tolerance={"early_ms": 0, "late_ms": 300}),
            }
            bodies = {k: await wait_status(client, v, timeout=120) for k, v in ids.items()}
            for body in bodies.values():
                assert body["status"] == "completed", body

            d = bodies["default"]
            assert d["request"]["tolerance"] == "one_frame"  # QC_TOLERANCE's default
            assert d["request"]["frame_rate"] is None
            qc = d["result"]["qc"]
            assert qc["status"] == "FAIL"
            assert qc["tolerance"] == {"name": "one_frame", "early_ms": 40.0, "late_ms": 40.0,
                                       "fps": 25.0}
            for key in ("worst_offset_ms", "offset_start_ms", "offset_end_ms",
                        "max_abs_offset_ms"):
                assert qc[key] == pytest.approx(LATE_MS, abs=1.0), (key, qc)
            assert qc["worst_at_timecode"] and qc["worst_at_master_seconds"] is not None
            assert qc["reason"] == (f"dub {qc['worst_offset_ms']:.1f} ms late throughout, over "
                                    "the late limit of 40.0 ms (one_frame at 25 fps)")

            loose = bodies["loose"]["result"]["qc"]
            assert loose["status"] == "PASS", loose  # 234.5 ≤ 0.8 x 300
            assert loose["tolerance"]["name"] == "custom"
            assert bodies["loose"]["request"]["tolerance"] == {"early_ms": 0, "late_ms": 300}
            assert "within the late limit of 300.0 ms (custom)" in loose["reason"]
            frames = bodies["frames"]["result"]["qc"]  # 7 frames at 25 fps = 280 ms
            assert frames["status"] == "WARN" and frames["tolerance"]["late_ms"] == 280.0

            early = bodies["early"]["result"]["qc"]
            assert bodies["early"]["request"]["tolerance"] == "ebu_r37"
            assert early["status"] == "PASS" and early["fps"] == 23.976, early
            assert early["worst_offset_ms"] == pytest.approx(-30.0, abs=1.0)
            assert "ms early throughout, within the early limit of 40.0 ms (ebu_r37)" in \
                early["reason"]
            tight = bodies["early_tight"]["result"]["qc"]
            assert tight["status"] == "FAIL" and "over the early limit of 25.0 ms" in \
                tight["reason"]

            # the fixtures' late dub lacks the master's last 0.23 s: FAIL whatever the offset
            cut = bodies["cut"]["result"]
            assert cut["coverage"]["missing"][0]["part"] == "tail"
            assert cut["qc"]["status"] == "FAIL"
            assert cut["qc"]["reason"].startswith("programme missing from the dub: tail ")
            assert "within the late limit of 300.0 ms (custom)" in cut["qc"]["reason"]

            # re-judged on request, nothing stored changes
            aid = ids["default"]
            r = await client.get(f"/api/v1/analysis/{aid}",
                                 params={"tolerance": '{"early_ms": 0, "late_ms": 1000}'})
            assert r.status_code == 200 and r.json()["result"]["qc"]["status"] == "PASS"
            r = await client.get(f"/api/v1/analysis/{aid}", params={"tolerance": "itu_bt1359"})
            assert r.json()["result"]["qc"]["status"] == "FAIL"
            assert r.json()["result"]["qc"]["tolerance"]["late_ms"] == 125.0
            again = (await client.get(f"/api/v1/analysis/{aid}")).json()
            assert again["result"]["qc"] == qc
            r = await client.get(f"/api/v1/analysis/{ids['early']}",
                                 params={"tolerance": "one_frame"})  # at its frame_rate
            assert r.json()["result"]["qc"]["tolerance"]["late_ms"] == pytest.approx(41.708)

            # the final SSE event and the list carry it too
            events, _ = await read_sse(client, f"/api/v1/analysis/{aid}/progress/stream")
            assert events[-1].event == "completed"
            assert events[-1].data["result"]["qc"] == qc
            listed = {i["analysis_id"]: i for i in
                      (await client.get("/api/v1/analysis")).json()["items"]}
            assert listed[aid]["qc_status"] == "FAIL"
            assert listed[ids["loose"]]["qc_status"] == "PASS"
            assert listed[aid]["max_abs_offset_ms"] == qc["max_abs_offset_ms"]

            schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
            assert "qc" in schema["SyncResultRead"]["properties"]
            assert schema["SyncResultRead"]["properties"]["qc"]["description"]
            assert "tolerance" in schema["AnalysisCreate"]["properties"]

    async def test_setting_and_per_request_override(
            self, make_settings: Callable[..., Settings], qc_media: Path) -> None:
        settings = make_settings(QC_TOLERANCE='{"early_ms": 0, "late_ms": 250}',
                                 QC_WARN_FRACTION=0.9, MOUNT_PATH=qc_media)
        async with running_app(settings) as (_, client):
            by_setting = await submit(client, "late_whole.wav")
            by_request = await submit(client, "late_whole.wav", tolerance="one_frame")
            a = await wait_status(client, by_setting, timeout=120)
            b = await wait_status(client, by_request, timeout=120)
            assert a["request"]["tolerance"] == {"early_ms": 0, "late_ms": 250}
            qa = a["result"]["qc"]
            assert qa["status"] == "WARN" and qa["warn_fraction"] == 0.9, qa  # 234.5 > 225
            assert "but beyond 90% of it" in qa["reason"]
            assert b["request"]["tolerance"] == "one_frame"
            assert b["result"]["qc"]["status"] == "FAIL"

    async def test_result_stored_before_the_gate_gets_qc(
            self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings(QC_TOLERANCE="itu_bt1359")) as (app, client):
            aid = await submit(client, "dub_late.wav")
            body = await wait_status(client, aid, timeout=120)
            old_result = {k: v for k, v in body["result"].items() if k != "qc"}
            old_request = {k: v for k, v in body["request"].items()
                           if k not in ("tolerance", "frame_rate")}
            db = app.state.services.db
            with db.sessions.begin() as s:
                s.execute(update(AnalysisRow).where(AnalysisRow.id == aid)
                          .values(result=old_result, request=old_request))
            got = (await client.get(f"/api/v1/analysis/{aid}")).json()
            assert got["result"]["qc"]["tolerance"]["name"] == "itu_bt1359"
            assert got["result"]["qc"]["status"] == "FAIL"  # 234.5 ms > 125 ms late
            events, _ = await read_sse(client, f"/api/v1/analysis/{aid}/progress/stream")
            assert events[-1].data["result"]["qc"]["status"] == "FAIL"


class TestBadTolerance:
    @pytest.mark.parametrize("extra", [
        {"tolerance": "two_frames"}, {"tolerance": {"early_ms": 10}},
        {"tolerance": {"early_ms": -1, "late_ms": 10}},
        {"tolerance": {"early_ms": 1, "late_ms": 1, "early_frames": 1}},
        {"tolerance": {"early_ms": 1, "late_ms": 1, "x": 1}},
        {"tolerance": {"early_frames": 1, "late_frames": 1, "fps": 0}},
        {"tolerance": 40}, {"frame_rate": 0}, {"frame_rate": 1000},
    ])
    async def test_submission_gets_422(self, make_settings: Callable[..., Settings],
                                       extra: dict[str, Any]) -> None:
        async with running_app(make_settings()) as (_, client):
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": "dub_late.wav", **extra})
            error = assert_error(r, "validation_error")
            assert "tolerance" in json.dumps(error) or "frame_rate" in json.dumps(error)
            r = await client.post("/api/v1/analysis/batch", json={"items": [
                {"master_file": "master.wav", "dub_file": "dub_late.wav", **extra}]})
            assert_error(r, "validation_error")
            assert (await client.get("/api/v1/analysis")).json()["total"] == 0

    async def test_query_gets_422(self, make_settings: Callable[..., Settings]) -> None:
        async with running_app(make_settings()) as (_, client):
            aid = await submit(client, "dub_late.wav")
            await wait_status(client, aid, timeout=120)
            for bad in ("bogus", '{"early_ms": 1}', '{"early_ms": 1', '{"late_ms": -4, '
                        '"early_ms": 1}'):
                r = await client.get(f"/api/v1/analysis/{aid}", params={"tolerance": bad})
                error = assert_error(r, "invalid_tolerance")
                assert error["details"]["field"] == "tolerance"
                assert "tolerance" in error["message"]

    @pytest.mark.parametrize("overrides", [{"QC_TOLERANCE": "bogus"},
                                           {"QC_TOLERANCE": '{"early_ms": 5}'},
                                           {"QC_WARN_FRACTION": 1.5}])
    def test_bad_settings_stop_start_up(self, make_settings: Callable[..., Settings],
                                        overrides: dict[str, Any]) -> None:
        with pytest.raises(ValidationError, match="QC_"):
            make_settings(**overrides)


class TestBatchHeadlines:
    async def test_csv_and_json_columns(self, make_settings: Callable[..., Settings],
                                        qc_media: Path) -> None:
        text = ("master_file,dub_file,episode_name,methods,max_offset_seconds\n"
                "master.wav,late_whole.wav,EP1 late,correlation,10\n"
                "master.wav,early_30.wav,EP1 early,correlation,10\n")
        settings = make_settings(QC_TOLERANCE="itu_bt1359", MOUNT_PATH=qc_media)
        async with running_app(settings) as (_, client):
            batch_id = (await upload(client, text)).json()["batch_id"]
            assert (await client.post(f"{BATCH}/{batch_id}/start")).status_code == 202
            status = await wait_batch(client, batch_id, {"completed"}, timeout=120)
            # 234.5 ms late > 125 ms; 30 ms early ≤ 0.8 x 45 ms
            assert [i["qc_status"] for i in status["items"]] == ["FAIL", "PASS"]

            results = (await client.get(f"{BATCH}/{batch_id}/results")).json()
            truths = tuple(WHOLE.values())
            for item, truth, verdict in zip(results["items"], truths, ("FAIL", "PASS"),
                                            strict=True):
                res = item["result"]
                assert res["qc"]["status"] == verdict
                assert res["qc"]["tolerance"]["name"] == "itu_bt1359"
                assert res["offset_start_ms"] == pytest.approx(truth, abs=1.0)
                assert res["offset_end_ms"] == pytest.approx(truth, abs=1.0)
                assert res["max_abs_offset_ms"] == pytest.approx(abs(truth), abs=1.0)

            r = await client.get(f"{BATCH}/{batch_id}/results", params={"format": "csv"})
            assert r.status_code == 200
            reader = csv.DictReader(io.StringIO(r.text))
            assert reader.fieldnames is not None
            assert {"offset_start_ms", "offset_end_ms", "max_abs_offset_ms", "qc"} <= \
                set(reader.fieldnames)
            rows = list(reader)
            assert [row["qc"] for row in rows] == ["FAIL", "PASS"]
            for row, item in zip(rows, results["items"], strict=True):
                res = item["result"]
                for key in ("offset_start_ms", "offset_end_ms", "max_abs_offset_ms"):
                    assert float(row[key]) == res[key], (key, row)
                assert float(row["max_abs_offset_ms"]) == abs(float(row["offset_start_ms"]))


class TestCli:
    def test_headline_and_qc(self, qc_media: Path) -> None:
        args = [sys.executable, "-m", "app", "analyze", str(qc_media / "master.wav"),
                str(qc_media / "late_whole.wav"), "--quiet", "--methods", "correlation",
                "--max-offset", "10"]
        out = subprocess.run([*args, "--tolerance", '{"early_ms": 0, "late_ms": 300}'],
                             capture_output=True, text=True, cwd=REPO)
        assert out.returncode == 0, out.stderr
        lines = {line[:12].strip(): line[12:].strip() for line in out.stdout.splitlines()}
        assert lines["headline"].startswith("+234.5 ms at the start → +234.5 ms at the end")
        assert lines["max |offset|"].startswith("234.5 ms at ")
        assert lines["qc"].startswith("PASS: dub 234.5 ms late throughout")
        strict = subprocess.run([*args, "--strict", "--json"], capture_output=True, text=True,
                                cwd=REPO)
        assert strict.returncode == 1, strict.stderr  # one_frame: FAIL
        qc = json.loads(strict.stdout)["qc"]
        assert qc["status"] == "FAIL" and qc["tolerance"]["name"] == "one_frame"
        bad = subprocess.run([*args, "--tolerance", "two_frames"], capture_output=True,
                             text=True, cwd=REPO)
        assert bad.returncode == 2 and "unknown preset" in bad.stderr
