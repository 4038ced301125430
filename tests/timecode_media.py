"""Test programmes that carry a start timecode: BWF (bext ``time_reference``), MXF and MOV
(``-timecode``, with a tiny black video track: ffmpeg writes MXF timecode, and MOV's tmcd
track, only beside a video stream), and broadband noise programmes with known edits."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

SR = 48_000


def noise_programme(seconds: float, seed: int) -> np.ndarray:
    """Mono float32 noise with a random loudness envelope (10 blocks/s): every stretch is
    unique, so offsets and edit points are unambiguous to the sample."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    envelope = np.repeat(rng.uniform(0.05, 1.0, n // (SR // 10) + 1), SR // 10)[:n]
    return (0.25 * rng.standard_normal(n) * envelope).astype(np.float32)


def _pcm_input(x: np.ndarray) -> tuple[list[str], bytes]:
    return (["-f", "f32le", "-ar", str(SR), "-ac", "1", "-i", "pipe:0"],
            np.ascontiguousarray(x, np.float32).tobytes())


def write_bwf(path: Path, x: np.ndarray, *, time_reference: int | None) -> Path:
    """A 24-bit BWF; ``time_reference``: samples since midnight in its bext chunk (None: a
    plain WAV without one)."""
    args, data = _pcm_input(x)
    bext = [] if time_reference is None else [
        "-write_bext", "1", "-metadata", f"time_reference={time_reference}"]
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args, "-c:a", "pcm_s24le", *bext,
                    str(path)], input=data, check=True)
    return path


def write_with_video(path: Path, x: np.ndarray, *, timecode: str, fps: str = "25") -> Path:
    """An MXF (mpeg2video) or MOV (mpeg4) with ``x`` as 24-bit PCM beside a 64x64 black video
    track at ``fps`` (e.g. "25", "30000/1001"), starting at ``timecode``."""
    args, data = _pcm_input(x)
    seconds = x.size / SR
    video = ["-f", "lavfi", "-i", f"color=c=black:s=64x64:r={fps}:d={seconds:.3f}"]
    fmt = ["-c:v", "mpeg2video", "-f", "mxf"] if path.suffix == ".mxf" else ["-c:v", "mpeg4"]
    subprocess.run(["ffmpeg", "-y", "-v", "error", *video, *args, "-map", "0:v", "-map", "1:a",
                    *fmt, "-c:a", "pcm_s24le", "-timecode", timecode, "-shortest", str(path)],
                   input=data, check=True)
    return path


def edited_dub(master: np.ndarray, *, late: float, cut_at: float, cut_len: float,
               seed: int) -> np.ndarray:
    """The dub: ``master`` late by ``late`` s, with master [cut_at, cut_at + cut_len) s
    removed, re-balanced and a little noisier."""
    delayed = np.concatenate([np.zeros(int(round(late * SR)), np.float32), master])
    a, b = int(round((cut_at + late) * SR)), int(round((cut_at + cut_len + late) * SR))
    dub = np.concatenate([delayed[:a], delayed[b:]])
    rng = np.random.default_rng(seed)
    return (0.8 * dub + 0.01 * rng.standard_normal(dub.size)).astype(np.float32)
