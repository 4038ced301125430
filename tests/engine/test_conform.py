"""The conform export: a timeline's segments and edits as clips, gaps and markers on the
master's programme timecode, written as OTIO, CMX 3600 EDL and FCP XML and read back with
OpenTimelineIO; edit points compared with the truth to the frame."""

from __future__ import annotations

from typing import Any

import opentimelineio as otio
import pytest

from app.engine.conform import ConformError, build_timeline, conform_pieces, write_conform
from app.engine.start_timecode import programme_timecode

FPS = 25
TEN = 36000 * FPS  # 10:00:00:00 in frames


def _result(segments: list[tuple[float, float, float, float]], edits: list[dict[str, Any]],
            *, master: float, dub: float, master_start: str | None = "10:00:00:00",
            dub_start: str | None = "10:00:00:00") -> dict[str, Any]:
    """A result as the engine writes it: segments (master start, end, offset at both ends),
    edits, coverage lengths, the programme clock."""
    return {
        "offset_seconds": segments[0][2], "verdict": "edited" if edits else "drift",
        "master": {"path": "/media/ep101_master.wav", "duration_seconds": master},
        "dub": {"path": "/media/ep101_de.wav", "duration_seconds": dub},
        "coverage": {"master_seconds": master, "dub_seconds": dub},
        "timeline": {"segments": [{"master_start_seconds": a, "master_end_seconds": b,
                                   "offset_start_seconds": oa, "offset_end_seconds": ob,
                                   "windows": 3} for a, b, oa, ob in segments],
                     "edits": edits},
        "programme_timecode": programme_timecode(None, None, fps=FPS, master_start=master_start,
                                                 dub_start=dub_start)}


def _edit(at: float, kind: str, duration: float, before: float, after: float) -> dict:
    return {"master_time_seconds": at, "kind": kind, "duration_seconds": duration,
            "offset_before_seconds": before, "offset_after_seconds": after,
            "uncertainty_seconds": 0.005}


#: cut 3 s at 40 s, then 4 s inserted at 70 s; the dub 0.33 s (8.25 frames) late at first
EDITED = _result([(0.0, 40.0, 0.33, 0.33), (40.0, 70.0, -2.67, -2.67),
                  (70.0, 100.0, 1.33, 1.33)],
                 [_edit(40.0, "removed", 3.0, 0.33, -2.67),
                  _edit(70.0, "inserted", 4.0, -2.67, 1.33)], master=100.0, dub=101.33)


def _items(tl: otio.schema.Timeline) -> list[tuple[str, int, int, int | None, list[str]]]:
    """(kind, record in, record out, source in, marker names) of the audio track's items, in
    programme frames (the record clock: global start, or the EDL reader's track offset)."""
    track = next(t for t in tl.tracks if t.kind == otio.schema.TrackKind.Audio)
    origin = 0
    if tl.global_start_time is not None:
        origin = int(round(tl.global_start_time.to_frames()))
    if track.source_range is not None:  # the CMX reader keeps the first record in here
        origin -= int(round(track.source_range.start_time.to_frames()))
    out = []
    for item in track:
        r = item.range_in_parent()
        rec_in = origin + int(round(r.start_time.to_frames()))
        rec_out = rec_in + int(round(r.duration.to_frames()))
        if isinstance(item, otio.schema.Gap):
            if rec_in >= origin + 1 or out:  # not the EDL writer's leading programme gap
                out.append(("gap", rec_in, rec_out, None, []))
            continue
        out.append(("clip", rec_in, rec_out, int(round(item.source_range.start_time.to_frames())),
                    [m.name.lower() for m in item.markers]))
    return out


class TestPieces:
    def test_cut_and_insertion(self) -> None:
        pieces = conform_pieces(EDITED)
        assert [p.kind for p in pieces] == ["clip", "gap", "clip", "clip"]
        assert [(p.record_start_seconds, p.record_end_seconds) for p in pieces] == [
            pytest.approx((0.0, 40.0)), pytest.approx((40.0, 43.0)),
            pytest.approx((43.0, 70.0)), pytest.approx((70.0, 100.0))]
        assert [p.source_start_seconds for p in pieces] == [
            pytest.approx(0.33), None, pytest.approx(40.33), pytest.approx(71.33)]
        assert conform_pieces(EDITED)[1].part == "inside"

    def test_head_missing(self) -> None:
        early = _result([(0.0, 60.0, -0.5, -0.5)], [], master=60.0, dub=59.5)
        pieces = conform_pieces(early)
        assert [(p.kind, p.part) for p in pieces] == [("gap", "head"), ("clip", None)]
        assert pieces[1].record_start_seconds == pytest.approx(0.5)
        assert pieces[1].source_start_seconds == pytest.approx(0.0)

    def test_no_match_refused(self) -> None:
        with pytest.raises(ConformError, match="no reliable match"):
            conform_pieces({"offset_seconds": 1.0, "verdict": "no_reliable_match"})


class TestWrite:
    #: (kind, record in, record out, source in) in programme frames at 25 fps
    TRUTH = [("clip", TEN, TEN + 1000, TEN + 8),          # source 0.33 s = 8.25 frames
             ("gap", TEN + 1000, TEN + 1075, None),        # the 3 s the dub lacks
             ("clip", TEN + 1075, TEN + 1750, TEN + 1008),  # 40.33 s of the dub
             ("clip", TEN + 1750, TEN + 2500, TEN + 1783)]  # 71.33 s: the 4 s skipped

    @pytest.mark.parametrize(("fmt", "adapter"), [("otio", "otio_json"), ("edl", "cmx_3600"),
                                                  ("fcpxml", "fcp_xml")])
    def test_read_back(self, fmt: str, adapter: str) -> None:
        text = write_conform(build_timeline(EDITED), fmt)
        kwargs = {"rate": FPS} if adapter == "cmx_3600" else {}
        back = otio.adapters.read_from_string(text, adapter, **kwargs)
        items = _items(back)
        assert [i[:4] for i in items] == [(k, a, b, s) for k, a, b, s in self.TRUTH]
        assert "removed 3.000 s at 10:00:40:00" in items[2][4]
        assert "inserted 4.000 s at 10:01:10:00" in items[3][4]

    def test_edl_text(self) -> None:
        edl = write_conform(build_timeline(EDITED), "edl")
        lines = edl.splitlines()
        assert lines[1] == "FCM: NON-DROP FRAME"
        events = [ln.split() for ln in lines if ln[:3].isdigit()]
        # event, reel, A(udio), C(ut), source in/out, record in/out
        assert [e[2] for e in events] == ["A", "A", "A"]
        assert [(e[4], e[6], e[7]) for e in events] == [
            ("10:00:00:08", "10:00:00:00", "10:00:40:00"),
            ("10:00:40:08", "10:00:43:00", "10:01:10:00"),
            ("10:01:11:08", "10:01:10:00", "10:01:40:00")]

    def test_drift_speed_effect(self) -> None:
        slow = _result([(0.0, 100.0, 0.0, 0.1)], [], master=100.0, dub=100.1)
        slow["verdict"] = "drift"
        tl = build_timeline(slow)
        [clip] = list(tl.tracks[0])
        [warp] = clip.effects
        assert isinstance(warp, otio.schema.LinearTimeWarp)
        assert warp.time_scalar == pytest.approx(1.001)
        assert clip.metadata["sync_analyzer"]["dub_end_seconds"] == pytest.approx(100.1)
        assert "M2" in write_conform(tl, "edl")

    def test_drop_frame_programme(self) -> None:
        res = {**EDITED, "programme_timecode": programme_timecode(
            None, None, fps=29.97, master_start="01:00:00;00", dub_start="01:00:00;00")}
        edl = write_conform(build_timeline(res), "edl")
        assert "FCM: DROP FRAME" in edl
        first = next(ln.split() for ln in edl.splitlines() if ln.startswith("001"))
        # 40 s of real time = 1198.8 frames → 1199 frames after 01:00:00;00
        assert first[6] == "01:00:00;00" and first[7] == "01:00:39;29"
        marker = next(ln for ln in edl.splitlines() if "LOC" in ln)
        assert "REMOVED 3.000 S AT 01:00:39;29" in marker

    def test_unknown_format(self) -> None:
        with pytest.raises(ConformError, match="one of"):
            write_conform(build_timeline(EDITED), "aaf")
