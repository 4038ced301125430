"""Frame features computed block by block equal the whole-programme formulas."""

import numpy as np
import pytest
from scipy.fft import dct

from app.engine.features import FeatureSet, LogMelStream


def reference(mel: np.ndarray) -> dict[str, np.ndarray]:
    """The features as whole-array formulas (the definition the block-wise code follows)."""
    sample = mel[::4] if mel.shape[0] > 100_000 else mel
    clamped = np.maximum(mel, np.percentile(sample, 1, axis=0)[None, :])
    pos = np.zeros_like(clamped)
    pos[1:] = np.maximum(clamped[1:] - clamped[:-1], 0.0)
    edges = np.linspace(0, mel.shape[1], 9).astype(int)
    return {
        "activity": clamped.max(axis=1),
        "mfcc": dct(clamped, type=2, axis=1, norm="ortho")[:, 1:14],
        "onset": pos.mean(axis=1),
        "flux": np.stack([pos[:, a:b].mean(axis=1)
                          for a, b in zip(edges[:-1], edges[1:], strict=True)], axis=1),
    }


@pytest.mark.parametrize(("frames", "n_mels"), [(40_000, 40), (120_001, 40), (5, 30), (2, 20)])
def test_block_wise_features_match_the_formulas(frames: int, n_mels: int) -> None:
    """Several blocks (the rise across each block edge included), the decimated floor past
    100 000 frames, band counts that do not divide the mels, fewer mels than MFCCs."""
    rng = np.random.default_rng(frames)
    mel = (rng.standard_normal((frames, n_mels)) * 12 - 40).astype(np.float32)
    mel[::7] -= 30  # some frames under the floor
    got = FeatureSet(frame_rate=100.0, mel=mel)
    want = reference(mel)
    for name, value in want.items():
        have = getattr(got, name)
        assert have.dtype == np.float32 and have.shape == value.shape, name
        np.testing.assert_allclose(have, value, rtol=1e-5, atol=2e-4, err_msg=name)


def test_features_of_a_real_signal() -> None:
    """On tone bursts starting every second: a strong onset in the frame whose window first
    reaches each burst's start (frames are 10 ms apart, 32 ms long), none while it holds."""
    sr = 16000
    t = np.arange(10 * sr) / sr
    x = (np.sin(2 * np.pi * 440 * t) * ((t % 1.0) < 0.3)).astype(np.float32)
    stream = LogMelStream(sample_rate=sr)
    stream.update(x, final=True)
    fs = FeatureSet(frame_rate=100.0, mel=stream.result())
    assert fs.mfcc.shape == (1000, 13) and fs.flux.shape == (1000, 8)
    top = fs.onset.max()
    for second in range(1, 10):
        start = 100 * second
        assert fs.onset[start - 4 : start + 1].max() > 0.8 * top
        assert fs.onset[start + 4 : start + 25].max() < 0.05 * top  # the steady tone
        assert fs.flux[start - 4 : start + 1].max() > 0.5 * fs.flux.max()
