"""The decision on evidence (issue 18): answers where only a weak shared bed ties master and
dub, names channel faults of a 5.1 dub, and never matches material that merely shares some
sound with the master (another episode's titles, a music loop, a tone, another programme).

Programmes: real music and effects (Debian packages) under espeak-ng dialogue, English in
the master and German in the dub, the dub re-mixed, EQ'd, compressed and ducked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine.decision import FALSE_ALARM_RATE, is_tone, window_false_alarm
from app.engine.pipeline import analyze_files
from app.engine.shared import emphasise_shared
from testkit import evidence_cases as ec
from testkit import make_case

TRUE = 0.4321  # s, dub late


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("evidence")


@pytest.mark.parametrize(("me_db", "channels", "replaced"), [
    (-20.0, 2, False), (-25.0, 2, False), (-20.0, 1, False), (-20.0, 2, True)],
    ids=["me-20dB", "me-25dB", "mono-me-20dB", "music-replaced"])
def test_weak_shared_bed_is_answered(work: Path, me_db: float, channels: int,
                                     replaced: bool) -> None:
    master, dub = ec.weak_bed_case(work, seed=11, duration_seconds=60.0,
                                   true_offset_seconds=TRUE, me_db=me_db, channels=channels,
                                   music_replaced=replaced)
    r = analyze_files(master, dub)
    assert r.reliable and r.verdict == "constant_offset", r.reason
    assert r.offset_seconds is not None and abs(r.offset_seconds - TRUE) < 0.001
    assert r.evidence is not None and r.evidence["signal"] == "shared sound"
    d = r.evidence["decision"]
    assert d["match"] and d["p_false_alarm"] <= FALSE_ALARM_RATE
    assert d["windows_agreeing"] >= 4 and d["uniqueness"] >= 1.5
    assert "speech de-weighted" in r.reason


FAULTS = {
    "centre_late": ("offset", ["C"], "C 2 frames late (80.0 ms at 25 fps)"),
    "lr_swapped": ("swapped", ["L", "R"], "L and R swapped"),
    "surround_swapped": ("swapped", ["Ls", "Rs"], "Ls and Rs swapped"),
    "film_order": ("film_order", None, "film order (L C R Ls Rs LFE)"),
    "inverted": ("inverted", ["Ls"], "Ls polarity inverted"),
    "silent": ("silent", ["Ls"], "Ls is silent"),
}


@pytest.mark.parametrize("fault", [*FAULTS, "none"])
def test_surround_channel_faults_are_named(work: Path, fault: str) -> None:
    case = ec.surround_fault_case(work, fault, seed=12, duration_seconds=40.0,
                                  true_offset_seconds=0.1234)
    r = analyze_files(case.master_path, case.dub_path)
    assert r.reliable and r.offset_seconds is not None
    assert abs(r.offset_seconds - 0.1234) < 0.001  # the bed's offset, not one channel's
    assert r.channels is not None and r.channels["reference"] == "matching"
    faults = r.channels["faults"]
    if fault == "none":
        assert faults == []
        return
    kind, channels, text = FAULTS[fault]
    assert [f["kind"] for f in faults] == [kind], faults
    if channels is not None:
        assert faults[0]["channels"] == channels
    assert any(text in f for f in r.findings), r.findings
    by_label = {c["label"]: c for c in r.channels["channels"]}
    for label, truth in zip(ec.SMPTE_51, case.channel_offsets, strict=True):
        c = by_label[label]
        if truth is None:
            assert c["status"] == "silent"
        elif label != "LFE":
            assert c["status"] == "ok" and abs(c["offset_seconds"] - truth) < 0.001, c


def test_centre_late_same_language_headline_follows_the_bed(work: Path) -> None:
    """A re-delivery whose centre (the dialogue, which correlates best) is 2 frames late:
    the downmix follows the centre; the programme offset comes from the bed channels."""
    case = ec.surround_fault_case(work, "centre_late", seed=21, duration_seconds=40.0,
                                  true_offset_seconds=0.1234, same_language=True)
    r = analyze_files(case.master_path, case.dub_path)
    assert r.reliable and r.offset_seconds is not None
    assert abs(r.offset_seconds - 0.1234) < 0.001
    assert any("C 2 frames late" in f for f in r.findings)
    assert any("the downmix followed C" in f for f in r.findings), r.findings


@pytest.mark.parametrize("kind", ["episode", "loop", "tone", "unrelated"])
def test_negatives_get_no_match(work: Path, kind: str) -> None:
    if kind == "episode":
        master, dub = ec.episode_case(work, seed=13)
    elif kind == "loop":
        master, dub = ec.loop_case(work, seed=14)
    elif kind == "tone":
        master, dub = ec.tone_case(work, seed=15)
    else:  # same style and instruments (synthetic beds), another programme
        c = make_case("unrelated", work, seed=16, duration_seconds=60.0,
                      true_offset_seconds=0.0)
        master, dub = c.master_path, c.dub_path
    r = analyze_files(master, dub)
    assert r.verdict == "no_reliable_match" and not r.reliable, r.reason


def test_false_alarm_bound() -> None:
    # 12 of 12 windows within 0.2 ms over a ±120 s search: overwhelming
    _, _, strong = window_false_alarm(12, 12, tolerance=2e-4, search_seconds=240.0)
    assert strong < 1e-20
    # 2 of 12 windows agree: what unrelated material does now and then
    _, _, weak = window_false_alarm(2, 12, tolerance=2e-4, search_seconds=240.0)
    assert weak == 1.0
    # more agreeing windows: never less evidence
    values = [window_false_alarm(k, 12, tolerance=1e-3, search_seconds=240.0)[2]
              for k in range(13)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


def test_emphasis_keeps_the_time_base() -> None:
    rng = np.random.default_rng(3)
    sr = 16000
    bed = rng.standard_normal(sr * 8).astype(np.float32) * 0.01
    speech = np.zeros_like(bed)
    speech[sr:3 * sr] = rng.standard_normal(2 * sr).astype(np.float32)  # loud, unshared
    lag = 1234
    master = bed + speech
    dub = np.concatenate([np.zeros(lag, np.float32), bed[:-lag]])
    em, ed = (emphasise_shared(x, sample_rate=sr) for x in (master, dub))
    assert em.shape == master.shape and em.dtype == np.float32
    c = np.fft.irfft(np.conj(np.fft.rfft(em, 2 * em.size)) * np.fft.rfft(ed, 2 * ed.size))
    assert int(np.argmax(c)) == lag


def test_tone_detector() -> None:
    sr = 8000
    t = np.arange(sr * 10) / sr
    assert is_tone((0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32), sr)
    noise = np.random.default_rng(1).standard_normal(sr * 10).astype(np.float32)
    assert not is_tone(noise * 0.1, sr)


def test_binomial_tail_equals_scipy() -> None:
    """The false-alarm bound's binomial tail, summed in log space, is scipy.stats' survival
    function to 1e-9 relative (scipy.stats stays out of the engine's start-up)."""
    from scipy.stats import binom

    from app.engine.decision import binomial_tail

    for n in (1, 5, 50, 1000, 5000):
        for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n, n + 1}):
            for p in (1e-6, 0.01, 0.1, 0.5, 0.999):
                want = float(binom.sf(k - 1, n, p)) if k > 0 else 1.0
                got = binomial_tail(k, n, p)
                assert got == pytest.approx(want, rel=1e-9, abs=1e-300), (k, n, p)
