"""Quick checks that the testkit produces what it claims (true offsets, formats, speech)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import coherence, correlate, csd

from testkit import (
    KINDS,
    delay,
    dialogue_track,
    duck,
    make_case,
    probe_audio,
    read_audio,
    shuffle_cues,
    speak,
    synth_bed,
    synth_bed_blocks,
    to_51,
)

SR = 48000


@pytest.mark.parametrize("seconds", [0.37e-3, 10.25 / SR, -5.5 / SR, 0.0102, -0.0031])
def test_delay_moves_impulse_to_fractional_sample(seconds: float) -> None:
    x = np.zeros(8000, np.float32)
    x[4000] = 1.0
    y = delay(x, seconds, SR)
    assert y.shape == x.shape
    k = np.arange(3900, 4800)
    assert np.allclose(y[k], np.sinc(k - 4000 - seconds * SR), atol=2e-3)


def test_delay_of_noise_has_exact_phase_slope() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR)
    y = delay(x, 0.37e-3, SR)
    assert _phase_slope_lag(x, y) == pytest.approx(0.37e-3 * SR, abs=1e-3)


def test_delay_positive_prepends_and_negative_removes_head() -> None:
    x = np.arange(1, 11, dtype=np.float32)[:, None].repeat(2, axis=1)
    assert delay(x, 3 / SR, SR)[:, 0].tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert delay(x, -3 / SR, SR)[:, 1].tolist() == [4, 5, 6, 7, 8, 9, 10, 0, 0, 0]


def test_synth_bed_deterministic_nonperiodic_and_blockwise() -> None:
    a = synth_bed(60, 16000, seed=3)
    b = np.concatenate(list(synth_bed_blocks(60, 16000, seed=3)))
    assert a.shape == (60 * 16000, 2) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, synth_bed(60, 16000, seed=4))
    assert 0.05 < np.abs(a).max() <= 1.0
    # No 10-s stretch repeats anywhere: normalised correlation of blocks stays low.
    m = a.mean(axis=1)
    blk = [m[i * 160000 : (i + 1) * 160000] for i in range(6)]
    for i in range(5):
        c = np.dot(blk[i], blk[i + 1]) / (np.linalg.norm(blk[i]) * np.linalg.norm(blk[i + 1]))
        assert abs(c) < 0.5


def test_speak_produces_speech() -> None:
    for voice in ("en", "de"):
        x = speak("Hello there, how are you?", voice=voice, sample_rate=SR)
        assert x.ndim == 1 and len(x) > 0.5 * SR
        assert np.sqrt(np.mean(x**2)) > 0.01


def test_dialogue_density() -> None:
    d = dialogue_track(60, 16000, language="fr", seed=2)
    frames = np.abs(d[: len(d) // 1600 * 1600]).reshape(-1, 1600).max(axis=1) > 0.01
    assert 0.3 < frames.mean() < 0.75


def test_shuffle_cues_reorders() -> None:
    x = np.repeat(np.arange(8, dtype=np.float32), 1000)[:, None]
    y = shuffle_cues(x, 1000 / SR, seed=1, sample_rate=SR, fade_seconds=0.0)
    assert y.shape == x.shape
    starts = y[600::1000, 0][:8]
    assert sorted(starts.tolist()) == list(range(8))
    assert not np.any(starts == np.arange(8))


def test_to_51_puts_dialogue_in_centre() -> None:
    bed = np.zeros((SR, 2), np.float32)
    d = np.sin(np.linspace(0, 2000, SR)).astype(np.float32) * 0.3
    out = to_51(bed, dialogue=d, sample_rate=SR)
    rms = np.sqrt((out**2).mean(axis=0))
    assert out.shape == (SR, 6) and np.argmax(rms) == 2


def _phase_slope_lag(master: np.ndarray, dub: np.ndarray) -> float:
    """Lag of the dub vs the master in (fractional) samples: integer cross-correlation peak,
    refined by a coherence-weighted fit of the cross-spectrum phase (100 Hz-6 kHz)."""
    c = correlate(dub, master, mode="full", method="fft")
    lag = int(np.argmax(np.abs(c))) - (len(master) - 1)
    d = np.roll(dub, -lag)
    f, pxy = csd(master, d, fs=SR, nperseg=4096)
    _, coh = coherence(master, d, fs=SR, nperseg=4096)
    band = (f > 100) & (f < 6000)
    phase = np.angle(pxy[band])
    w = coh[band]
    slope = np.sum(w * f[band] * -phase) / np.sum(w * f[band] ** 2) / (2 * np.pi)
    return lag + slope * SR


@pytest.mark.parametrize(
    ("kind", "offset"),
    [("clean", 0.5), ("ac3", 0.25), ("aac", -0.3), ("sr44k", 0.1), ("fractional", 0.00037)],
)
def test_make_case_true_offset(tmp_path: Path, kind: str, offset: float) -> None:
    precise = kind in ("clean", "fractional")  # the estimator needs ~20 s for 0.05 samples
    dur = 20 if precise else 8
    case = make_case(kind, tmp_path, seed=5, duration_seconds=dur, true_offset_seconds=offset)
    assert case.true_offset_seconds == pytest.approx(offset)
    m, _ = read_audio(case.master_path, sample_rate=SR, channels=1)
    d, _ = read_audio(case.dub_path, sample_rate=SR, channels=1)
    lag = _phase_slope_lag(m[:, 0], d[:, 0])
    tol = 0.05 if precise else 0.1  # samples (1-2 µs)
    assert lag == pytest.approx(offset * SR, abs=tol)


EXPECTED = {  # kind -> (master channels, dub rate, dub channels)
    "surround": (6, 48000, 2),
    "sr44k": (2, 44100, 2),
}


@pytest.mark.parametrize("kind", KINDS)
def test_make_case_files_probe(tmp_path: Path, kind: str) -> None:
    off = {"negative": -1.5, "long_offset": 12.0, "fractional": 0.00037}.get(kind, 0.75)
    case = make_case(kind, tmp_path, seed=2, duration_seconds=6, true_offset_seconds=off)
    mi, di = probe_audio(case.master_path), probe_audio(case.dub_path)
    mch, drate, dch = EXPECTED.get(kind, (2, 48000, 2))
    assert (mi["channels"], mi["sample_rate"]) == (mch, 48000)
    assert (di["channels"], di["sample_rate"]) == (dch, drate)
    assert mi["duration"] == pytest.approx(6.0, abs=0.01)
    want = {"partial": 3.6, "long_offset": 18.0}.get(kind, 6.0)
    assert di["duration"] == pytest.approx(want, abs=0.05)
    if kind in ("unrelated", "shuffled"):
        assert case.true_offset_seconds is None
    else:
        assert case.true_offset_seconds == pytest.approx(off)


def test_duck_lowers_bed_only_under_dialogue() -> None:
    bed = np.full((2 * SR, 2), 0.1, np.float32)
    key = np.zeros(2 * SR, np.float32)
    key[SR:] = 0.3
    out = duck(bed, key, SR, depth_db=6.0)
    assert out[SR // 2, 0] == pytest.approx(0.1, rel=1e-3)
    assert out[-1, 0] == pytest.approx(0.1 * 10 ** (-6 / 20), rel=1e-2)
