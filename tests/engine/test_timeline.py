"""The offset over the whole programme: drift (standard conversions, pitch kept or changed),
edits (cut and insertion) and long silences, on realistic programmes with known truth."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from app.engine import SyncResult, analyze_files
from app.engine.timeline import measure_stretch_shift
from testkit import (
    dialogue_track,
    dub_remix,
    make_programme,
    read_audio,
    real_bed,
    splice,
    write_audio,
)

SR = 48000
DURATION = 120.0
BASE_OFFSET = 0.3  # the dub is late by this much at the start of the programme


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, Path]:
    """(master path, the dub mix late by BASE_OFFSET as (n, 2) float32, work dir)."""
    d = tmp_path_factory.mktemp("timeline")
    prog = make_programme(DURATION, SR, seed=31, language="en")
    master = d / "master.wav"
    write_audio(master, prog.mix(2), SR, codec="pcm_s24le")
    dub = dub_remix(prog, dialogue_track(DURATION, SR, language="fr", seed=32), seed=33)
    late = np.concatenate([np.zeros((int(BASE_OFFSET * SR), 2), np.float32), dub])
    return master, late[: dub.shape[0]], d


def write(d: Path, name: str, x: np.ndarray) -> Path:
    path = d / name
    write_audio(path, x, SR, codec="pcm_s24le")
    return path


def atempo(src: Path, dst: Path, tempo: float) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-af", f"atempo={tempo:.9f}",
                    "-c:a", "pcm_s24le", str(dst)], check=True)
    return dst


def analyse(master: Path, dub: Path) -> tuple[SyncResult, dict]:
    r = analyze_files(master, dub)
    assert r.timeline is not None
    return r, r.timeline


class TestDrift:
    @pytest.mark.parametrize(("name", "up", "down", "ratio"), [
        ("1000/1001", 1001, 1000, 1000 / 1001),  # pull-down: the dub runs slow
        ("25/24", 24, 25, 25 / 24),              # PAL speed-up: the dub runs fast
    ])
    def test_pitch_changed(self, programme: tuple, name: str, up: int, down: int,
                           ratio: float) -> None:
        master, late, d = programme
        dub = write(d, f"drift_{up}_{down}.wav", resample_poly(late, up, down, axis=0))
        r, tl = analyse(master, dub)
        assert r.verdict == "drift", r.reason
        drift = tl["drift"]
        assert drift["conversion"] == name
        assert abs(drift["speed_ratio"] - ratio) * 1e6 <= 20, drift
        assert drift["pitch_changed"] is True
        assert r.offset_seconds == pytest.approx(BASE_OFFSET / ratio, abs=0.005)
        # the fitted model at every window against the true offset line
        for w in tl["windows"]:
            if w["status"] == "ok":
                t = 0.5 * (w["start_seconds"] + w["end_seconds"])
                true = BASE_OFFSET / ratio + t * (1 / ratio - 1)
                assert abs(w["offset_seconds"] - true) <= 0.005, w

    @pytest.mark.parametrize(("name", "tempo"), [("1000/1001", 1000 / 1001), ("25/24", 25 / 24)])
    def test_pitch_kept(self, programme: tuple, name: str, tempo: float) -> None:
        master, late, d = programme
        src = write(d, "late.wav", late)
        dub = atempo(src, d / f"atempo_{tempo:.4f}.wav", tempo)
        r, tl = analyse(master, dub)
        assert r.verdict == "drift", r.reason
        assert tl["drift"]["conversion"] == name
        assert abs(tl["drift"]["speed_ratio"] - tempo) * 1e6 <= 50, tl["drift"]
        assert tl["drift"]["pitch_changed"] is False
        # the true offset includes atempo's own shift, measured on its input and output
        x, y = read_audio(src)[0].mean(axis=1), read_audio(dub)[0].mean(axis=1)
        shift = measure_stretch_shift(x, y, tempo, float(SR))
        assert shift is not None and abs(shift) < 0.02
        for w in tl["windows"]:
            if w["status"] == "ok":
                t = 0.5 * (w["start_seconds"] + w["end_seconds"])
                true = (t + BASE_OFFSET - shift) / tempo - t
                seg = next(s for s in tl["segments"] if t <= s["master_end_seconds"])
                slope = (seg["offset_end_seconds"] - seg["offset_start_seconds"]) / (
                    seg["master_end_seconds"] - seg["master_start_seconds"])
                model = seg["offset_start_seconds"] + slope * (t - seg["master_start_seconds"])
                assert abs(model - true) <= 0.005, (t, model, true)


class TestEdits:
    def test_cut_and_insertion(self, programme: tuple) -> None:
        master, late, d = programme
        cut_at, cut_len, ins_at, ins_len = 40.0, 3.0, 80.0, 4.0
        # a station logo the master does not have: real music from a Debian package
        other = real_bed(ins_len, SR, seed=99)
        a = int((cut_at + BASE_OFFSET) * SR)
        b = int((cut_at + cut_len + BASE_OFFSET) * SR)
        c = int((ins_at + BASE_OFFSET) * SR)
        dub = splice([late[:a], late[b:c], other, late[c:]], SR)
        r, tl = analyse(master, write(d, "edited.wav", dub))
        assert r.verdict == "edited", r.reason
        edits = tl["edits"]
        assert [e["kind"] for e in edits] == ["removed", "inserted"]
        # within the target (0.5 s) and within the uncertainty each edit reports
        for e, at in zip(edits, (cut_at, ins_at), strict=True):
            assert abs(e["master_time_seconds"] - at) <= min(0.5, e["uncertainty_seconds"]), e
        assert edits[0]["duration_seconds"] == pytest.approx(cut_len, abs=0.002)
        assert edits[1]["duration_seconds"] == pytest.approx(ins_len, abs=0.002)
        offsets = [s["offset_start_seconds"] for s in tl["segments"]]
        assert offsets == pytest.approx(
            [BASE_OFFSET, BASE_OFFSET - cut_len, BASE_OFFSET - cut_len + ins_len], abs=0.001)
        assert r.offset_seconds == pytest.approx(BASE_OFFSET, abs=0.001)

    def test_cut_then_pull_down(self, programme: tuple) -> None:
        """A 2-s cut at 50 s, then the whole dub slowed by 1000/1001: the cut lasts 2.000 s of
        master time (not the lines' 2.002-s gap at the cut), and the dub covers the master to
        its end (the delivered dub's length, not the warped one's)."""
        master, late, d = programme
        cut_at, cut_len = 50.0, 2.0
        a, b = int((cut_at + BASE_OFFSET) * SR), int((cut_at + cut_len + BASE_OFFSET) * SR)
        slowed = resample_poly(splice([late[:a], late[b:]], SR), 1001, 1000, axis=0)
        tail = np.zeros((int(3 * SR), 2), np.float32)  # the master's end lies inside the dub
        r, tl = analyse(master, write(d, "cut_slowed.wav",
                                      np.concatenate([slowed.astype(np.float32), tail])))
        assert r.verdict == "edited", r.reason
        (edit,) = tl["edits"]
        assert edit["kind"] == "removed"
        assert abs(edit["master_time_seconds"] - cut_at) <= max(0.005, edit["uncertainty_seconds"])
        assert edit["duration_seconds"] == pytest.approx(cut_len, abs=0.001)
        cov = r.coverage
        assert cov["master_end_seconds"] == pytest.approx(DURATION, abs=0.1), cov
        assert [m["part"] for m in cov["missing"]] == ["inside"], cov["missing"]


class TestSilence:
    def test_long_silence_is_not_a_change(self, programme: tuple) -> None:
        master, late, d = programme
        m = np.asarray(late).copy()  # reuse the dub as material; silence 45 s..75 s in both
        silent_master = write(d, "silent_master.wav", _silence(_read(master), 45.0, 75.0, 0.0))
        dub = write(d, "silent_dub.wav", _silence(m, 45.0, 75.0, BASE_OFFSET))
        r, tl = analyse(silent_master, dub)
        assert r.verdict == "constant_offset", r.reason
        assert r.offset_seconds == pytest.approx(BASE_OFFSET, abs=1e-4)
        statuses = {w["status"] for w in tl["windows"]
                    if 50 <= w["start_seconds"] and w["end_seconds"] <= 70}
        assert statuses == {"silence"}
        assert tl["edits"] == [] and tl["drift"] is None


def _read(path: Path) -> np.ndarray:
    from testkit import read_audio
    x, _ = read_audio(path)
    return x


def _silence(x: np.ndarray, a: float, b: float, offset: float) -> np.ndarray:
    y = np.array(x, dtype=np.float32, copy=True)
    y[int((a + offset) * SR) : int((b + offset) * SR)] = 0.0
    return y


class TestCliTimeline:
    def test_prints_edits_with_timecodes(self, programme: tuple) -> None:
        import sys

        master, late, d = programme
        dub = splice([late[: int(60.3 * SR)], late[int(62.3 * SR) :]], SR)  # 2 s cut at 60 s
        path = write(d, "cli_cut.wav", dub)
        out = subprocess.run([sys.executable, "-m", "app", "analyze", str(master), str(path),
                              "--timeline", "--fps", "25", "--quiet"], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parents[2]).stdout
        assert "verdict      edited" in out
        edit_line = next(line for line in out.splitlines() if line.startswith("edit "))
        assert "2.000 s removed" in edit_line and "00:01:0" in edit_line
        assert out.count(" ok") >= 8


class TestSpeedSearchLong:
    """Past 15 (30) minutes the speed search averages 2 (4) feature frames: the smallest
    conversion must still be told apart from none, in both directions, with an offset."""

    @staticmethod
    def _flux(minutes: float, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        raw = rng.standard_normal((int(minutes * 6000) + 30, 8)).astype(np.float32)
        kernel = np.ones(5, np.float32) / 5  # features are smooth over ~50 ms, like real flux
        smooth = np.stack([np.convolve(raw[:, k], kernel, "valid") for k in range(8)], axis=1)
        return np.maximum(smooth, 0.0) + 0.1 * rng.standard_normal(smooth.shape).astype(
            np.float32)

    @pytest.mark.parametrize(("minutes", "name"), [(20, "1000/1001"), (40, "1001/1000"),
                                                   (40, None)])
    def test_named_conversion_found(self, minutes: float, name: str | None) -> None:
        from app.engine.timeline import NAMED_CONVERSIONS, detect_speed, warp_features

        master = self._flux(minutes, seed=11)
        ratio = float(NAMED_CONVERSIONS[name]) if name else 1.0
        dub = warp_features(master, 1.0 / ratio)  # the dub as it was delivered
        dub = np.concatenate([np.zeros((700, 8), np.float32), dub])  # 7 s late
        rng = np.random.default_rng(12)
        dub = dub + 0.5 * rng.standard_normal(dub.shape).astype(np.float32)  # another mix
        found = detect_speed(master, dub, frame_rate=100.0, max_offset_seconds=120.0,
                             min_overlap_seconds=60.0)
        assert found.name == name, found
        assert found.warped_offset_seconds == pytest.approx(7.0, abs=0.1)


class TestSnapToNamedConversion:
    """A fitted ratio is reported as a standard conversion's exact ratio only when the windows
    are statistically consistent with it: a genuine extra clock drift must survive."""

    def test_consistent_fit_snaps(self) -> None:
        from app.engine.timeline import _snap_slope

        exact = 24 / 25 - 1.0  # 25/24: the offset shrinks 40 ms per second of master
        assert _snap_slope(exact + 5e-6, slope_se=4e-6) == pytest.approx(exact, abs=1e-15)

    def test_extra_drift_measured_precisely_is_kept(self) -> None:
        from app.engine.timeline import _snap_slope

        exact = 1001 / 1000 - 1.0  # 1000/1001 plus a 30-ppm clock error, known to 1 ppm
        assert _snap_slope(exact + 30e-6, slope_se=1e-6) is None

    def test_far_from_any_conversion_is_kept(self) -> None:
        from app.engine.timeline import _snap_slope

        assert _snap_slope(-300e-6, slope_se=200e-6) is None  # 300 ppm: no named conversion


def test_an_unconfirmed_window_never_carries_full_confidence() -> None:
    """A window whose offset neither a neighbour nor the feature method confirms is capped."""
    from app.engine.timeline.fit import UNCONFIRMED_MAX_CONFIDENCE, _cap_unconfirmed
    from app.engine.timeline.scan import _Raw
    from app.engine.timeline.types import TimelineWindow

    offsets = [0.1, 0.1, 0.35, 0.1, 0.1]  # the middle window alone says 0.35 s
    windows = [TimelineWindow(10.0 * i, 10.0 * i + 10, o, 1.0, "gcc", "ok")
               for i, o in enumerate(offsets)]
    raws = [_Raw(10.0 * i, 10.0 * i + 10, True, True, (o, 30.0), None)
            for i, o in enumerate(offsets)]
    _cap_unconfirmed(windows, raws, lambda t, o: o)
    assert [w.confidence for w in windows] == [1.0, 1.0, UNCONFIRMED_MAX_CONFIDENCE, 1.0, 1.0]
    # the feature method in the same window confirming it lifts the cap
    windows[2].confidence = 1.0
    raws[2] = _Raw(20.0, 30.0, True, True, (0.35, 30.0), (0.352, 12.0))
    _cap_unconfirmed(windows, raws, lambda t, o: o)
    assert windows[2].confidence == 1.0

class TestLocateEditsGrid:
    """Several edits in one fit: each edit's 2-s windows on the 0.25-s grid (the fine stages'
    millisecond grids once leaked into the next edit's scan: thousands of times the work),
    and the batched windows equal to one-at-a-time GCC-PHAT."""

    RATE = 8000.0

    def _pair(self) -> tuple[np.ndarray, np.ndarray, list]:
        from app.engine.timeline.types import Segment

        rng = np.random.default_rng(5)
        sr = int(self.RATE)
        m = rng.standard_normal(90 * sr).astype(np.float32)
        late, cuts = 0.4, [(30.0, 0.5), (60.0, 1.25)]  # (master time s, removed s)
        parts, at = [np.zeros(int(late * sr), np.float32)], 0
        for t, dur in cuts:
            parts.append(m[at : int(t * sr)])
            at = int((t + dur) * sr)
        parts.append(m[at:])
        d = np.concatenate(parts) + 0.3 * rng.standard_normal(sum(p.size for p in parts)
                                                               ).astype(np.float32)
        segs = [Segment(0.0, 25.0, 0.4, 0.4, 3), Segment(35.0, 55.0, -0.1, -0.1, 3),
                Segment(65.0, 88.0, -1.35, -1.35, 3)]
        return m, d, segs

    def test_every_edit_located_on_the_coarse_grid(self, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
        from app.engine.timeline import edits as ed

        m, d, segs = self._pair()
        measured: list[int] = []
        real = ed._hypotheses_z

        def counting(centres: np.ndarray, *a: object, **k: object) -> list[np.ndarray]:
            measured.append(int(centres.size))
            return real(centres, *a, **k)

        monkeypatch.setattr(ed, "_hypotheses_z", counting)
        found = ed._locate_edits(segs, m, d, self.RATE, 1.0, 5.0)
        assert [e.kind for e in found] == ["removed", "removed"]
        for e, (t, dur) in zip(found, [(30.0, 0.5), (60.0, 1.25)], strict=True):
            assert abs(e.master_time_seconds - t) <= min(0.005, e.uncertainty_seconds), e
            assert abs(e.duration_seconds - dur) <= 0.001, e
        assert sum(measured) <= 2 * 80  # two gaps of ~20 s at 0.25 s, not at 0.5 ms

    def test_batched_windows_equal_single_ones(self) -> None:
        from app.engine.timeline import coherence as coh
        from app.engine.timeline import edits as ed
        from app.engine.timeline.scan import _gcc_at

        m, d, segs = self._pair()
        centres = np.arange(20.0, 40.0, 0.25)
        z = ed._hypotheses_z(centres, segs[:2], m, d, self.RATE, 1.0, 2.0)
        n, search = int(2.0 * self.RATE), int(0.25 * self.RATE)
        for seg, zs in zip(segs[:2], z, strict=True):
            for c, zc in zip(centres, zs, strict=True):
                s = int(round((c - 1.0) * self.RATE))
                off = ed._segment_offset(seg, c)
                g = _gcc_at(m[s : s + n], d, s, off, search, self.RATE)
                want = g[1] if g is not None and abs(g[0] - off) <= 0.002 else 0.0
                assert zc == pytest.approx(want, rel=1e-9, abs=1e-9)
        starts = np.array([int(c * self.RATE) for c in centres])
        lags = np.full(centres.size, 0.4 * self.RATE + 0.3)
        many = coh._coherences(m, d, lags, starts, 2000, self.RATE)
        one = [coh._coherence(m, d, float(lag), int(s), 2000, self.RATE)
               for lag, s in zip(lags, starts, strict=True)]
        assert np.allclose(many, one, atol=1e-6)

    def test_rival_split_widens_the_uncertainty(self) -> None:
        """Music matching the earlier segment again after the edit (a loop): the split with
        one misplaced window more, 5 s away, lies inside the reported ±uncertainty."""
        from app.engine.timeline.edits import _edit_split

        c = np.arange(0.0, 20.0, 0.25)
        left = ((c < 5.0) | ((c >= 8.0) & (c < 10.75))).astype(float)
        right = (((c >= 5.5) & (c < 8.0)) | (c >= 11.0)).astype(float)
        t, half = _edit_split(c, [(left, right)], shift=0, reach=0.5)
        assert abs(t - 10.875) <= 0.25
        assert abs(5.25 - t) <= half  # the rival split at 5.25 s
