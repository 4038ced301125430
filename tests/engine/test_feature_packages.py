"""The engine's feature building blocks are librosa's and scipy's: the mel filter bank is
``librosa.filters.mel`` bit for bit, the onset strength and band-wise flux are
``librosa.onset.onset_strength_multi``, the MFCC is ``librosa.feature.mfcc``'s DCT-II (scipy's),
and the switch from the former cosine-formula DCT matrix to scipy's changes no offset."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from app.engine.features import FeatureSet, LogMelStream, mel_filterbank
from app.engine.methods import mfcc, onset, spectral
from testkit import add_noise, delay, equalize, synth_bed

librosa = pytest.importorskip("librosa")  # requirements-dev.txt: the reference, not run time

CONFIGS = [(16000, 512, 40), (16000, 640, 48), (8000, 256, 40), (44100, 2048, 40),
           (48000, 2048, 40)]


@pytest.mark.parametrize(("sample_rate", "n_fft", "n_mels"), CONFIGS)
def test_filter_bank_is_librosas(sample_rate: int, n_fft: int, n_mels: int) -> None:
    got = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels)
    want = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=60.0,
                               fmax=sample_rate / 2, htk=True, norm=None, dtype=np.float32).T
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)


def _pair(offset_samples: int, sr: int = 16000, seconds: float = 60.0
          ) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic bed and its dub: late by ``offset_samples``, EQ'd, with noise added."""
    master = synth_bed(seconds, sr, seed=3, channels=1)[:, 0].astype(np.float32)
    dub = delay(master, offset_samples / sr, sr)
    dub = equalize(dub, [("highshelf", 4000.0, -6.0, 0.7)], sr)
    return master, add_noise(dub, 30.0, seed=4, sample_rate=sr).astype(np.float32)


def _log_mel(x: np.ndarray, sr: int) -> np.ndarray:
    stream = LogMelStream(sample_rate=sr)
    stream.update(x, final=True)
    return stream.result()


def _clamped(mel: np.ndarray) -> np.ndarray:
    """The log-mel clamped to each band's noise floor (what the features are computed on)."""
    sample = mel[::4] if mel.shape[0] > 100_000 else mel
    return np.maximum(mel, np.percentile(sample, 1, axis=0).astype(np.float32)[None, :])


def test_onset_flux_and_mfcc_are_librosas() -> None:
    """On a real-sounding signal (more frames than one block): the onset strength and the
    8-band flux equal ``onset_strength_multi`` (lag 1, mean per band, frame 0 padded), the
    MFCCs ``librosa.feature.mfcc`` on the clamped log-mel, coefficients 1..13."""
    x, _ = _pair(0, seconds=200.0)
    mel = _log_mel(x, 16000)
    fs = FeatureSet(frame_rate=100.0, mel=mel)
    s = np.ascontiguousarray(_clamped(mel).T)  # (mels, frames), librosa's layout
    edges = np.linspace(0, mel.shape[1], 9).astype(int)
    channels = [*(slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)),
                slice(None)]
    env = librosa.onset.onset_strength_multi(S=s, lag=1, max_size=1, center=False,
                                             aggregate=np.mean, channels=channels)
    np.testing.assert_allclose(fs.onset, env[8], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fs.flux, env[:8].T, rtol=1e-5, atol=1e-5)
    want = librosa.feature.mfcc(S=s, n_mfcc=14, dct_type=2, norm="ortho", lifter=0)[1:14].T
    np.testing.assert_allclose(fs.mfcc, want, rtol=1e-5, atol=2e-4)


def cosine_dct_features(mel: np.ndarray) -> SimpleNamespace:
    """The features with the engine's former DCT-II matrix (written from the cosine formula)."""
    n = mel.shape[1]
    k = np.arange(n)
    dct = np.cos(np.pi * np.outer(2 * k + 1, k) / (2 * n)) * np.sqrt(2.0 / n)
    dct[:, 0] /= np.sqrt(2.0)
    fs = FeatureSet(frame_rate=100.0, mel=mel)
    return SimpleNamespace(frame_rate=100.0, mfcc=_clamped(mel) @ dct.astype(np.float32)[:, 1:14],
                           onset=fs.onset, flux=fs.flux)


def test_scipy_dct_leaves_every_offset_unchanged() -> None:
    """scipy's DCT-II matrix equals the cosine formula to 2e-15; the MFCCs agree to float32
    rounding, and the mfcc, onset and spectral methods place the dub at the same offset (to a
    thousandth of a sample at 16 kHz) with either."""
    sr, true = 16000, 19_237  # 1.2023 s
    sets = [(FeatureSet(frame_rate=100.0, mel=mel), cosine_dct_features(mel))
            for mel in (_log_mel(x, sr) for x in _pair(true, sr))]
    for new, old in sets:
        np.testing.assert_allclose(new.mfcc, old.mfcc, rtol=1e-6, atol=1e-4)
    for method in (mfcc, onset, spectral):
        got = method.detect(sets[0][0], sets[1][0], max_offset_seconds=10.0,
                            min_overlap_seconds=5.0)
        want = method.detect(sets[0][1], sets[1][1], max_offset_seconds=10.0,
                             min_overlap_seconds=5.0)
        assert got.offset_seconds is not None and want.offset_seconds is not None
        assert abs(got.offset_seconds - true / sr) < 0.02, (method, got.offset_seconds)
        assert abs(got.offset_seconds - want.offset_seconds) < 1e-3 / sr, method
        assert got.confidence == pytest.approx(want.confidence, abs=1e-4), method
