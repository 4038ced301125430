"""PCM WAVs read in large packets: exactly the samples of ffmpeg's default 4-KiB packets, for
every PCM layout, RF64, BWF, trailing chunks and the split decode."""

import importlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.engine import decode, probe
from app.engine.memory import tune_allocator

dec = importlib.import_module("app.engine.decode")  # the module, not the function


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def pink(path: Path, seconds: float, *, rate: int = 48000, layout: str = "stereo",
         codec: str = "pcm_s24le", extra: tuple[str, ...] = ()) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r={rate}:a=0.3:s=5",
           "-af", f"aformat=channel_layouts={layout}", "-c:a", codec, *extra, str(path))
    return path


def small_packets(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> np.ndarray:
    """``decode`` with ffmpeg's default WAV packets."""
    with monkeypatch.context() as m:
        m.setattr(dec, "_input_options", lambda *_: {})
        return decode(path, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("codec", "layout", "rate", "extra"),
    [
        ("pcm_s16le", "stereo", 48000, ()),
        ("pcm_s24le", "5.1", 48000, ()),  # WAVE_FORMAT_EXTENSIBLE with a channel mask
        ("pcm_s24le", "5.1(side)", 48000, ()),
        ("pcm_s32le", "stereo", 44100, ()),
        ("pcm_f32le", "mono", 48000, ()),
        ("pcm_u8", "mono", 22050, ()),
        ("pcm_s24le", "5.1", 48000, ("-rf64", "always")),  # RF64 (files over 4 GiB)
        ("pcm_s16le", "stereo", 48000, ("-write_bext", "1")),  # BWF: a bext chunk first
    ],
)
def test_large_packets_are_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         codec: str, layout: str, rate: int,
                                         extra: tuple[str, ...]) -> None:
    path = pink(tmp_path / "a.wav", 7.3, rate=rate, layout=layout, codec=codec, extra=extra)
    info = probe(path)
    assert info.codec == codec
    assert dec._input_options(info) == {"max_size": dec.WAV_PACKET_BYTES}
    for channel in (None, info.channels - 1):
        fast = decode(path, sample_rate=16000, channel=channel)
        slow = small_packets(path, monkeypatch, sample_rate=16000, channel=channel)
        assert fast.size == slow.size == round(7.3 * 16000)
        assert np.array_equal(fast, slow)


def test_only_pcm_wavs_get_large_packets(tmp_path: Path) -> None:
    """Other containers and compressed audio in a WAV keep ffmpeg's own packets (the option
    exists only in the WAV demuxer)."""
    flac = pink(tmp_path / "a.flac", 1.0, codec="flac")
    adpcm = pink(tmp_path / "b.wav", 1.0, codec="adpcm_ms")
    for path in (flac, adpcm):
        assert dec._input_options(probe(path)) == {}
        assert decode(path, sample_rate=16000).size == pytest.approx(16000, abs=600)


def test_trailing_chunks_are_not_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broadcast WAVs often carry LIST/iXML/axml chunks after the samples: large packets
    must stop at the data chunk's end (sample-exact), not decode the metadata as noise."""
    path = pink(tmp_path / "a.wav", 5.0, codec="pcm_s16le")
    meta = b"<BWFXML>" + bytes(range(256)) * 16 + b"</BWFXML>!"  # odd length: padded
    blob = bytearray(path.read_bytes()) + b"iXML" + struct.pack("<I", len(meta)) + meta + b"\0"
    struct.pack_into("<I", blob, 4, len(blob) - 8)
    path.write_bytes(bytes(blob))
    fast = decode(path, sample_rate=48000)
    slow = small_packets(path, monkeypatch, sample_rate=48000)
    assert fast.size == slow.size == 5 * 48000
    assert np.array_equal(fast, slow)


def test_split_halves_in_large_packets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The two halves, each in large packets and seeking to a whole second, join exactly like
    one decode in ffmpeg's default packets."""
    path = pink(tmp_path / "a.wav", 31.5, layout="5.1")
    monkeypatch.setattr(dec, "_SPLIT_MIN_SECONDS", 10.0)
    used: list[list[str]] = []
    real = dec._decode_halves

    def spy(halves: list[list[str]], *a: object, **kw: object) -> object:
        used.extend(halves)
        return real(halves, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(dec, "_decode_halves", spy)
    fast = decode(path, sample_rate=16000, parallel=True)
    assert len(used) == 2 and all("-max_size" in cmd for cmd in used)
    slow = small_packets(path, monkeypatch, sample_rate=16000)
    assert fast.size == slow.size == 31.5 * 16000
    assert np.array_equal(fast, slow)


def test_nan_and_inf_samples_become_finite(tmp_path: Path) -> None:
    """A float WAV with NaN/±inf samples (a corrupt render) decodes to finite samples."""
    path = pink(tmp_path / "a.wav", 3.0, codec="pcm_f32le", layout="mono")
    blob = bytearray(path.read_bytes())
    data = blob.index(b"data") + 8
    bad = np.array([np.nan, np.inf, -np.inf], np.float32).tobytes()
    for k, at in enumerate((1000, 70000, 140000)):
        pos = data + at * 4
        blob[pos : pos + 4] = bad[4 * k : 4 * k + 4]
    path.write_bytes(bytes(blob))
    x = decode(path, sample_rate=48000)
    assert x.size == 3 * 48000 and np.isfinite(x).all()


def test_allocator_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc (this machine, CI) takes the thresholds; the environment can switch them off."""
    assert tune_allocator() is True
    monkeypatch.setenv("ENGINE_MALLOC_TUNING", "0")
    assert tune_allocator() is False
