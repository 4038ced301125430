"""Shared fixtures of the service tests: synthetic audio with a known offset and settings.

The programmes are broadband, non-periodic noise with a random loudness envelope (seeded), so the
true offset is unambiguous; ``offset > 0`` means the dub is late.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.core.config import Settings
from app.engine import tune_process

SR = 48_000
DURATION_SECONDS = 30.0
#: (file name, true offset in seconds: > 0 = dub late)
DUBS: dict[str, float] = {"dub_late.wav": 0.2345, "dub_early.flac": -0.8765,
                          "dub_late2.wav": 1.5}


def pytest_configure(config: pytest.Config) -> None:
    """The engine's process tuning, as the entry points apply it (app.engine.tuning)."""
    tune_process()


def _programme(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    noise = rng.standard_normal(n).astype(np.float32)
    block = SR // 10
    envelope = np.repeat(rng.uniform(0.05, 1.0, n // block + 1), block)[:n].astype(np.float32)
    return 0.25 * noise * envelope


def _shift(x: np.ndarray, offset_seconds: float, seed: int) -> np.ndarray:
    """The dub: ``x`` late by ``offset_seconds`` (early when negative), re-balanced, noisier."""
    lag = int(round(offset_seconds * SR))
    if lag >= 0:
        y = np.concatenate([np.zeros(lag, np.float32), x])[: x.size]
    else:
        y = np.concatenate([x[-lag:], np.zeros(-lag, np.float32)])
    rng = np.random.default_rng(seed)
    return (0.8 * y + 0.01 * rng.standard_normal(y.size)).astype(np.float32)


def write_audio(path: Path, x: np.ndarray, sample_rate: int = SR) -> Path:
    """Write mono float32 ``x`` with ffmpeg (the codec follows the extension)."""
    codec = ["-c:a", "flac"] if path.suffix == ".flac" else ["-c:a", "pcm_s16le"]
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "f32le", "-ar", str(sample_rate),
                    "-ac", "1", "-i", "pipe:0", *codec, str(path)],
                   input=np.ascontiguousarray(x, np.float32).tobytes(), check=True)
    return path


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MOUNT_PATH of the tests: ``master.wav``, the dubs of ``DUBS``, and some non-audio."""
    root = tmp_path_factory.mktemp("media")
    master = _programme(DURATION_SECONDS, seed=11)
    write_audio(root / "master.wav", master)
    for i, (name, offset) in enumerate(DUBS.items()):
        write_audio(root / name, _shift(master, offset, seed=100 + i))
    (root / "notes.txt").write_text("not audio\n")
    (root / "folder").mkdir()
    return root


def pink_noise_wav(path: Path, seconds: float, *, seed: int) -> Path:
    """``path``: ``seconds`` of seeded pink noise, 48 kHz 16-bit WAV (written once)."""
    if not path.exists():
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                        f"anoisesrc=d={seconds}:c=pink:r=48000:a=0.3:s={seed}", "-c:a",
                        "pcm_s16le", str(path)], check=True)
    return path


@pytest.fixture(scope="session")
def long_media(media_dir: Path) -> Path:
    """A 60-minute 48 kHz mono file (about 6 s of analysis on 2 cores, decoding alone over
    1 s) for tests that need an analysis still running seconds after it started."""
    return pink_noise_wav(media_dir / "long.wav", 3600, seed=7)


@pytest.fixture
def make_settings(tmp_path: Path, media_dir: Path) -> Callable[..., Settings]:
    """Settings on a temporary SQLite file and upload folder, MOUNT_PATH = ``media_dir``."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "MOUNT_PATH": media_dir,
            "UPLOAD_DIR": tmp_path / "uploads",
            "OUTPUT_DIR": tmp_path / "output",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'sync_analyzer.db'}",
            "AI_MODEL_CACHE_DIR": tmp_path / "models",
            "MAX_WORKERS": 2,
            "HEARTBEAT_SECONDS": 0.5,
            "INSTANCE_STALE_SECONDS": 5.0,
            "LOG_LEVEL": "WARNING",
        }
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make
