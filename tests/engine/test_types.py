"""Typed results: ``from_dict`` inverts ``to_dict`` (through JSON too), and the verdict is a
str enum that serialises as its plain string."""

from __future__ import annotations

import json

from pydantic import BaseModel

from app.engine.timeline import Drift, Edit, Segment, Timeline, TimelineWindow
from app.engine.types import AudioInfo, MethodResult, SyncResult, Verdict
from app.services.analysis import to_jsonable


def _timeline() -> Timeline:
    return Timeline(Verdict.EDITED, "one edit", "piecewise", 0.25, 0.9, 0.001, 0.002, 8.0, 8.0,
                    [TimelineWindow(0.0, 8.0, 0.25, 0.9, "gcc", "ok", 0.0)],
                    [Segment(0.0, 40.0, 0.25, 0.25, 5), Segment(40.0, 80.0, 1.25, 1.25, 5)],
                    [Edit(40.0, "inserted", 1.0, 0.25, 1.25, 0.1)],
                    Drift(1.0, 0.0, None, None, 0.0, 1.0))


def _result() -> SyncResult:
    info = AudioInfo("m.wav", "wav", "pcm_s16le", 48000, 2, "stereo", 80.0, 0, 80.0,
                     {"timecode": "00:00:00:00"})
    method = MethodResult("correlation", 0.25, 0.9, 0.8, 3.0, (-120.0, 120.0), 1e-4, 0.5,
                          False, {"peaks": [1, 2]})
    return SyncResult(0.25, 0.9, True, Verdict.EDITED, "one edit", 12000, {"25": 6.25},
                      {"25": "00:00:00:06"}, False, 1.0, 0.9, [method], info, info, 80.0,
                      ["a finding"], {"total": 1.0}, {"methods": ["correlation"]}, "1.0.0",
                      _timeline().to_dict(), {"master_seconds": 80.0})


def test_verdict_is_its_plain_string() -> None:
    assert Verdict.NO_RELIABLE_MATCH == "no_reliable_match"
    assert f"{Verdict.IN_SYNC}" == str(Verdict.IN_SYNC) == "in_sync"
    assert json.dumps({"v": Verdict.DRIFT}) == '{"v": "drift"}'
    assert type(to_jsonable({"v": Verdict.DRIFT})["v"]) is str

    class Out(BaseModel):
        verdict: str

    out = Out(verdict=Verdict.CONSTANT_OFFSET)
    assert type(out.verdict) is str and out.model_dump_json() == '{"verdict":"constant_offset"}'


def test_timeline_round_trip() -> None:
    tl = _timeline()
    back = Timeline.from_dict(json.loads(json.dumps(tl.to_dict())))
    assert back == tl and isinstance(back.verdict, Verdict)


def test_sync_result_round_trip() -> None:
    r = _result()
    stored = json.loads(json.dumps(to_jsonable(r.to_dict())))
    back = SyncResult.from_dict({**stored, "unknown_key": 1})
    assert back == r
    assert isinstance(back.verdict, Verdict) and isinstance(back.master, AudioInfo)
    assert back.methods[0].search_range_seconds == (-120.0, 120.0)
    assert back.to_dict() == r.to_dict()


def test_repair_plan_from_the_typed_result() -> None:
    from app.engine.repair import plan_from_result

    r = _result()
    assert plan_from_result(r) == plan_from_result(r.to_dict())
    assert plan_from_result(r).kind == "edits"


def test_one_rule_from_model_to_verdict() -> None:
    """The timeline, the pipeline, the pieces and the per-channel pass share one rule."""
    from app.engine.types import IN_SYNC_SECONDS, Verdict, verdict_of

    assert verdict_of("constant", 0.0009) == Verdict.IN_SYNC
    assert verdict_of("constant", -IN_SYNC_SECONDS) == Verdict.IN_SYNC
    assert verdict_of("constant", 0.0011) == Verdict.CONSTANT_OFFSET
    assert verdict_of("drift", 0.0) == Verdict.DRIFT
    assert verdict_of("piecewise", 0.0) == Verdict.EDITED
    assert verdict_of("none", 0.2) == Verdict.NO_RELIABLE_MATCH
    assert verdict_of("constant", 0.2, reliable=False) == Verdict.NO_RELIABLE_MATCH
    assert verdict_of("constant", None) == Verdict.NO_RELIABLE_MATCH
