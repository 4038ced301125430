"""WAV samples read through ffmpeg's raw PCM demuxer: exactly what the WAV demuxer gives, for
every PCM layout, RF64, trailing chunks and the split decode; anything unusual falls back."""

import importlib
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.engine import decode, probe
from app.engine.memory import tune_allocator
from app.engine.wavraw import RawPcm, _parse, find_pcm

dec = importlib.import_module("app.engine.decode")  # the module, not the function


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def pink(path: Path, seconds: float, *, rate: int = 48000, layout: str = "stereo",
         codec: str = "pcm_s24le", extra: tuple[str, ...] = ()) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r={rate}:a=0.3:s=5",
           "-af", f"aformat=channel_layouts={layout}", "-c:a", codec, *extra, str(path))
    return path


def via_wav_demuxer(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> np.ndarray:
    with monkeypatch.context() as m:
        m.setattr(dec, "_raw_pcm", lambda *_: None)
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
def test_raw_path_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str,
                                   layout: str, rate: int, extra: tuple[str, ...]) -> None:
    path = pink(tmp_path / "a.wav", 7.3, rate=rate, layout=layout, codec=codec, extra=extra)
    info = probe(path)
    raw = find_pcm(path)
    assert raw is not None and dec._raw_pcm(path, info) == raw
    assert (raw.codec, raw.channels, raw.sample_rate) == (codec, info.channels, rate)
    assert raw.frames == round(7.3 * rate)
    for channel in (None, info.channels - 1):
        fast = decode(path, sample_rate=16000, channel=channel)
        slow = via_wav_demuxer(path, monkeypatch, sample_rate=16000, channel=channel)
        assert fast.size == slow.size == round(7.3 * 16000)
        assert np.array_equal(fast, slow)


def test_trailing_chunks_are_not_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Broadcast WAVs often carry LIST/iXML/axml chunks after the samples: the raw demuxer
    must stop at the data chunk's end (sample-exact), not decode the metadata as noise."""
    path = pink(tmp_path / "a.wav", 5.0, codec="pcm_s16le")
    meta = b"<BWFXML>" + bytes(range(256)) * 16 + b"</BWFXML>!"  # odd length: padded
    blob = bytearray(path.read_bytes()) + b"iXML" + struct.pack("<I", len(meta)) + meta + b"\0"
    struct.pack_into("<I", blob, 4, len(blob) - 8)
    path.write_bytes(bytes(blob))
    raw = find_pcm(path)
    assert raw is not None and raw.frames == 5 * 48000
    fast = decode(path, sample_rate=48000)
    slow = via_wav_demuxer(path, monkeypatch, sample_rate=48000)
    assert fast.size == slow.size == 5 * 48000
    assert np.array_equal(fast, slow)


def test_split_halves_through_raw_demuxer(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The two halves read from byte offsets join exactly like one WAV-demuxer decode."""
    path = pink(tmp_path / "a.wav", 31.5, layout="5.1")
    monkeypatch.setattr(dec, "_SPLIT_MIN_SECONDS", 10.0)
    used: list[list[str]] = []
    real = dec._decode_halves

    def spy(halves: list[list[str]], *a: object, **kw: object) -> object:
        used.extend(halves)
        return real(halves, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(dec, "_decode_halves", spy)
    fast = decode(path, sample_rate=16000, parallel=True)
    assert all("-skip_initial_bytes" in cmd for cmd in used) and len(used) == 2
    slow = via_wav_demuxer(path, monkeypatch, sample_rate=16000)
    assert fast.size == slow.size == 31.5 * 16000
    assert np.array_equal(fast, slow)


def test_nan_and_inf_samples_become_finite(tmp_path: Path) -> None:
    """A float WAV with NaN/±inf samples (a corrupt render) decodes to finite samples."""
    path = pink(tmp_path / "a.wav", 3.0, codec="pcm_f32le", layout="mono")
    raw = find_pcm(path)
    assert raw is not None
    blob = bytearray(path.read_bytes())
    bad = np.array([np.nan, np.inf, -np.inf], np.float32).tobytes()
    for k, at in enumerate((1000, 70000, 140000)):
        pos = raw.data_offset + at * 4
        blob[pos : pos + 4] = bad[4 * k : 4 * k + 4]
    path.write_bytes(bytes(blob))
    x = decode(path, sample_rate=48000)
    assert x.size == 3 * 48000 and np.isfinite(x).all()


def _riff(*chunks: bytes, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def _chunk(cid: bytes, body: bytes) -> bytes:
    return cid + struct.pack("<I", len(body)) + body + (b"\0" if len(body) % 2 else b"")


def _fmt(tag: int = 1, channels: int = 2, rate: int = 48000, bits: int = 16) -> bytes:
    align = channels * bits // 8
    return _chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align,
                                       bits))


class TestHeaderParsing:
    def test_plain_pcm(self) -> None:
        head = _riff(_chunk(b"JUNK", b"x" * 27), _fmt(), _chunk(b"data", b"\0" * 4000))
        raw = _parse(head, len(head))
        assert raw == RawPcm("s16le", 2, 48000, 4, 12 + 8 + 28 + 24 + 8, 1000)
        args = raw.input_args(start_frame=10, frames=480)
        assert args[args.index("-skip_initial_bytes") + 1] == str(raw.data_offset + 40)
        assert args[args.index("-t") + 1] == "0.010000"

    @pytest.mark.parametrize(
        "head",
        [
            _riff(_fmt(tag=2), _chunk(b"data", b"\0" * 16)),  # ADPCM: the WAV demuxer's job
            _riff(_fmt(bits=12), _chunk(b"data", b"\0" * 16)),  # no raw format for it
            _riff(_fmt(), _chunk(b"data", b"")),  # streamed: size unset
            _riff(_chunk(b"data", b"\0" * 16), _fmt()),  # samples before their format
            _riff(_fmt(), _chunk(b"data", b"\0" * 16), magic=b"RIFX"),  # big-endian
            _riff(_fmt(), _chunk(b"LIST", b"\0" * 16)),  # no data chunk
            b"OggS" + b"\0" * 60,
        ],
    )
    def test_falls_back(self, head: bytes) -> None:
        assert _parse(head, len(head)) is None

    def test_rf64_size_from_ds64(self) -> None:
        ds64 = _chunk(b"ds64", struct.pack("<QQQI", 0, 6 * 10**9, 10**9, 0))
        data = b"data" + struct.pack("<I", 0xFFFFFFFF)
        head = b"RF64" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE" + ds64 + _fmt(bits=24) + data
        raw = _parse(head, 6 * 10**9 + len(head))
        assert raw is not None and raw.frames == 10**9 and raw.fmt == "s24le"


def test_allocator_tuning(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc (this machine, CI) takes the thresholds; the environment can switch them off."""
    assert tune_allocator() is True
    monkeypatch.setenv("ENGINE_MALLOC_TUNING", "0")
    assert tune_allocator() is False
