"""Audio file I/O through ffmpeg/ffprobe pipes (float32 in, any codec/container out)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_CODECS",
    "AudioWriter",
    "LAYOUTS",
    "write_audio",
    "write_audio_blocks",
    "read_audio",
    "probe_audio",
    "codec_delay_samples",
]

#: Codec chosen by :func:`write_audio` when none is given, by file extension.
DEFAULT_CODECS: dict[str, str] = {
    "wav": "pcm_s16le",
    "flac": "flac",
    "m4a": "aac",
    "mp4": "aac",
    "aac": "aac",
    "mp3": "libmp3lame",
    "ac3": "ac3",
    "eac3": "eac3",
    "mkv": "flac",
    "mka": "flac",
    "mov": "pcm_s24le",
}

#: ffmpeg channel layout by channel count (5.1 = L R C LFE Ls Rs).
LAYOUTS: dict[int, str] = {1: "mono", 2: "stereo", 6: "5.1"}

_FORMATS = {"m4a": "ipod", "aac": "adts", "mka": "matroska", "mkv": "matroska"}


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x[:, None] if x.ndim == 1 else x


def _encode_cmd(
    path: Path,
    sample_rate: int,
    channels: int,
    codec: str | None,
    bitrate: str | None,
    channel_layout: str | None,
    out_sample_rate: int | None,
    options: Sequence[str] = (),
) -> list[str]:
    ext = path.suffix.lower().lstrip(".")
    if codec is None:
        if ext not in DEFAULT_CODECS:
            raise ValueError(f"unknown extension {ext!r}; known: {sorted(DEFAULT_CODECS)}")
        codec = DEFAULT_CODECS[ext]
    layout = channel_layout or LAYOUTS.get(channels)
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "f32le", "-ar", str(sample_rate)]
    cmd += ["-ac", str(channels)]
    if layout:
        cmd += ["-channel_layout", layout]
    cmd += ["-i", "pipe:0", "-map_metadata", "-1", "-c:a", codec]
    if bitrate:
        cmd += ["-b:a", str(bitrate)]
    if out_sample_rate:
        cmd += ["-ar", str(out_sample_rate)]
    cmd += list(options)
    if ext in _FORMATS:
        cmd += ["-f", _FORMATS[ext]]
    if codec.startswith("pcm_") and ext in ("wav",):
        cmd += ["-rf64", "auto"]
    cmd += ["-fflags", "+bitexact", str(path)]
    return cmd


class AudioWriter:
    """Incremental writer: ``with AudioWriter(path, rate, channels) as w: w.write(block)``.

    Blocks are float32 (n, channels) at full scale ±1 (clipped); the arguments are those of
    :func:`write_audio_blocks`, plus ``options``: extra ffmpeg output options
    (e.g. ``["-aac_coder", "fast"]``). Several writers can be fed from one generation loop.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        channels: int,
        *,
        codec: str | None = None,
        bitrate: str | None = None,
        channel_layout: str | None = None,
        out_sample_rate: int | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.channels = channels
        self.frames = 0
        cmd = _encode_cmd(
            self.path,
            sample_rate,
            channels,
            codec,
            bitrate,
            channel_layout,
            out_sample_rate,
            options,
        )
        self._err = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._err)

    def write(self, block: np.ndarray) -> None:
        b = _as_2d(block)
        if b.shape[1] != self.channels:
            raise ValueError(f"block has {b.shape[1]} channels, expected {self.channels}")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.clip(b, -1.0, 1.0).astype("<f4", copy=False).tobytes())
        except BrokenPipeError:
            self.close()
        self.frames += len(b)

    def close(self) -> Path:
        """Finish the file; RuntimeError with ffmpeg's message if encoding failed."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        rc = self._proc.wait()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace")
        self._err.close()
        if rc != 0:
            raise RuntimeError(f"ffmpeg failed writing {self.path}: {err.strip()[-1000:]}")
        return self.path

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._err.closed:
            return
        if exc[0] is not None:
            self._proc.kill()
        self.close()


def write_audio_blocks(
    path: str | Path,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channels: int,
    *,
    codec: str | None = None,
    bitrate: str | None = None,
    channel_layout: str | None = None,
    out_sample_rate: int | None = None,
) -> Path:
    """Stream float32 blocks of shape (n, channels) into an audio file through ffmpeg.

    The container follows the extension (wav, flac, m4a, mp4, mp3, ac3, eac3, mkv, mka,
    mov); ``codec`` defaults per extension (:data:`DEFAULT_CODECS`); ``bitrate`` like
    "96k"; ``out_sample_rate`` lets ffmpeg resample (Hz). Samples are clipped to [-1, 1].
    """
    with AudioWriter(
        path,
        sample_rate,
        channels,
        codec=codec,
        bitrate=bitrate,
        channel_layout=channel_layout,
        out_sample_rate=out_sample_rate,
    ) as w:
        for block in blocks:
            w.write(block)
    return Path(path)


def write_audio(
    path: str | Path,
    x: np.ndarray,
    sample_rate: int,
    *,
    codec: str | None = None,
    bitrate: str | None = None,
    channel_layout: str | None = None,
    out_sample_rate: int | None = None,
) -> Path:
    """Write ``x`` (shape (n,) or (n, channels), float, full scale ±1) to ``path`` via ffmpeg.

    See :func:`write_audio_blocks` for containers/codecs. Returns the path.
    """
    x2 = _as_2d(x)
    step = 1 << 20
    blocks = (x2[i : i + step] for i in range(0, max(len(x2), 1), step))
    return write_audio_blocks(
        path,
        blocks,
        sample_rate,
        x2.shape[1],
        codec=codec,
        bitrate=bitrate,
        channel_layout=channel_layout,
        out_sample_rate=out_sample_rate,
    )


def read_audio(
    path: str | Path,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a file with ffmpeg to float32 (n, channels); returns (samples, sample_rate Hz).

    ``sample_rate``/``channels`` ask ffmpeg to resample/remix; default: the file's own.
    """
    info = probe_audio(path)
    sr = sample_rate or int(info["sample_rate"])
    ch = channels or int(info["channels"])
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0"]
    cmd += ["-f", "f32le", "-acodec", "pcm_f32le", "-ar", str(sr), "-ac", str(ch), "pipe:1"]
    res = subprocess.run(cmd, capture_output=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ffmpeg failed reading {path}: {res.stderr.decode()[-1000:]}")
    data = np.frombuffer(res.stdout, dtype="<f4").reshape(-1, ch)
    return data.copy(), sr


def probe_audio(path: str | Path) -> dict[str, float | int | str]:
    """ffprobe the first audio stream: codec, sample_rate (Hz), channels, duration (s)."""
    cmd = ["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries"]
    cmd += ["stream=codec_name,sample_rate,channels,channel_layout,duration:format=duration"]
    cmd += ["-of", "json", str(path)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise RuntimeError(f"ffprobe failed on {path}: {res.stderr.strip()[-1000:]}")
    doc = json.loads(res.stdout)
    if not doc.get("streams"):
        raise RuntimeError(f"no audio stream in {path}")
    st = doc["streams"][0]
    dur = st.get("duration") or doc.get("format", {}).get("duration") or "nan"
    return {
        "codec": st.get("codec_name", ""),
        "sample_rate": int(st["sample_rate"]),
        "channels": int(st["channels"]),
        "channel_layout": st.get("channel_layout", ""),
        "duration": float(dur),
    }


@lru_cache(maxsize=64)
def codec_delay_samples(
    ext: str,
    codec: str | None = None,
    bitrate: str | None = None,
    sample_rate: int = 48000,
    channels: int = 2,
    out_sample_rate: int | None = None,
) -> int:
    """Latency (in samples at the decoded rate) that an encode+ffmpeg-decode round trip adds.

    Measured by cross-correlating a noise burst through the codec; 0 for PCM/FLAC and for
    containers whose priming is trimmed on decode (m4a edit lists, LAME tags). Raw AC-3 and
    E-AC-3 typically report 256.
    """
    from scipy.signal import correlate, resample_poly

    rng = np.random.default_rng(1234)
    n = sample_rate * 2
    sig = np.zeros(n, np.float32)
    burst = rng.standard_normal(sample_rate // 2).astype(np.float32) * 0.2
    burst *= np.hanning(len(burst)).astype(np.float32)
    sig[sample_rate // 2 : sample_rate // 2 + len(burst)] = burst
    x = np.repeat(sig[:, None], channels, axis=1)
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"probe.{ext}"
        write_audio(
            p, x, sample_rate, codec=codec, bitrate=bitrate, out_sample_rate=out_sample_rate
        )
        y, sr = read_audio(p)
    ref = sig if sr == sample_rate else resample_poly(sig, sr, sample_rate).astype(np.float32)
    yy = y.mean(axis=1)
    c = correlate(yy, ref, mode="full", method="fft")
    lag = int(np.argmax(np.abs(c))) - (len(ref) - 1)
    return lag
