"""Cross-correlation helpers: lag sign, normalisation, peak statistics."""

import numpy as np
import pytest

from app.engine.methods.correlation import coarse_search, refine
from app.engine.xcorr import normalised_xcorr, parabolic_offset, peak_stats


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(7).standard_normal(20000).astype(np.float32)


class TestNormalisedXcorr:
    def test_dub_late_gives_positive_lag(self, noise: np.ndarray) -> None:
        dub = np.concatenate([np.zeros(37, np.float32), noise])[: noise.size]
        curve = normalised_xcorr(noise, dub, max_lag=100, min_overlap=1000)
        assert curve.lags[int(np.nanargmax(curve.values))] == 37
        assert np.nanmax(curve.values) == pytest.approx(1.0, abs=0.01)

    def test_short_overlap_is_nan(self, noise: np.ndarray) -> None:
        curve = normalised_xcorr(noise[:500], noise[:500], max_lag=400, min_overlap=200)
        assert np.isnan(curve.values[0]) and np.isfinite(curve.values[400])


class TestPeak:
    def test_parabolic_symmetric(self) -> None:
        assert parabolic_offset(1.0, 2.0, 1.0) == 0.0
        assert parabolic_offset(1.5, 2.0, 1.0) < 0

    def test_stats_ratio(self) -> None:
        v = np.zeros(1000)
        v[100], v[600] = 10.0, 5.0
        s = peak_stats(v, exclusion=10)
        assert s.index == 100 and s.second_index == 600 and s.ratio == pytest.approx(2.0)


class TestGccPhat:
    def test_coarse_and_fractional_refine(self) -> None:
        rng = np.random.default_rng(3)
        sr = 16000
        x = rng.standard_normal(sr * 20)
        true = 1234.37  # samples, dub late
        spec = np.fft.rfft(x, 2 * x.size)
        k = np.arange(spec.size)
        y = np.fft.irfft(spec * np.exp(-2j * np.pi * k * true / (2 * x.size)))[: x.size]
        y = (0.3 * y + 0.05 * rng.standard_normal(x.size)).astype(np.float32)
        curve = coarse_search(x.astype(np.float32), y, max_lag=4000)
        assert curve.lags[int(np.argmax(np.abs(curve.values)))] == 1234
        fine = refine(x.astype(np.float32), y, candidate_lag=1234, search=64, sample_rate=sr)
        assert fine is not None
        assert fine.lag_samples == pytest.approx(true, abs=0.02)
        assert fine.peak > 0.5

    def test_inverted_polarity_peak_is_negative(self) -> None:
        rng = np.random.default_rng(4)
        x = rng.standard_normal(40000).astype(np.float32)
        y = -np.roll(x, 250)
        fine = refine(x, y, candidate_lag=250, search=32, sample_rate=16000)
        assert fine is not None and fine.peak < -0.5
        assert fine.lag_samples == pytest.approx(250, abs=0.01)
