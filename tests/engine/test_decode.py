"""Decoding through ffmpeg: formats, streams, channels, and errors carrying ffmpeg's message."""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.engine import AudioDecodeError, decode, probe


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("media")
    # 6 channels, channel k is a sine at 200*(k+1) Hz, 48 kHz, 3 s
    srcs = [f"sine=frequency={200 * (k + 1)}:sample_rate=48000:duration=3" for k in range(6)]
    args: list[str] = []
    for s in srcs:
        args += ["-f", "lavfi", "-i", s]
    merge = "".join(f"[{k}:a]" for k in range(6)) + "amerge=inputs=6,channelmap=channel_layout=5.1"
    ffmpeg(*args, "-filter_complex", merge, "-c:a", "pcm_s24le", str(d / "six.wav"))
    # mkv with a video stream and two audio streams (second one 1 kHz)
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=44100:duration=2",
           "-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "mpeg4", "-c:a", "flac",
           str(d / "two_audio.mkv"))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=1", "-c:v", "mpeg4",
           str(d / "video_only.mp4"))
    (d / "garbage.wav").write_bytes(b"RIFF" + bytes(range(256)) * 40)
    return d


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[int(np.argmax(spec))])


class TestProbe:
    def test_surround(self, media: Path) -> None:
        info = probe(media / "six.wav")
        assert (info.channels, info.sample_rate, info.codec) == (6, 48000, "pcm_s24le")
        assert info.duration_seconds == pytest.approx(3.0, abs=0.01)

    def test_second_audio_stream_of_mkv(self, media: Path) -> None:
        info = probe(media / "two_audio.mkv", stream=1)
        assert info.codec == "flac" and "matroska" in info.container

    def test_stream_out_of_range(self, media: Path) -> None:
        with pytest.raises(AudioDecodeError, match="audio stream 2 requested but .* has 2"):
            probe(media / "two_audio.mkv", stream=2)


class TestDecode:
    def test_rate_and_length(self, media: Path) -> None:
        x = decode(media / "six.wav", sample_rate=16000)
        assert x.dtype == np.float32 and x.ndim == 1
        assert x.size == pytest.approx(48000, abs=32)

    def test_channel_pick(self, media: Path) -> None:
        x = decode(media / "six.wav", sample_rate=16000, channel=2)  # centre: 600 Hz
        assert dominant_hz(x, 16000) == pytest.approx(600, abs=2)

    def test_stream_pick(self, media: Path) -> None:
        x = decode(media / "two_audio.mkv", sample_rate=8000, stream=1)
        assert dominant_hz(x, 8000) == pytest.approx(1000, abs=3)

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(AudioDecodeError, match="file not found"):
            decode(tmp_path / "nope.wav", sample_rate=16000)

    def test_no_audio_stream(self, media: Path) -> None:
        with pytest.raises(AudioDecodeError, match="no audio stream"):
            decode(media / "video_only.mp4", sample_rate=16000)

    def test_unreadable_carries_ffmpeg_message(self, media: Path) -> None:
        with pytest.raises(AudioDecodeError) as err:
            decode(media / "garbage.wav", sample_rate=16000)
        assert "garbage.wav" in str(err.value) and err.value.stderr

    def test_bad_channel(self, media: Path) -> None:
        with pytest.raises(AudioDecodeError, match="channel 7 requested"):
            decode(media / "six.wav", sample_rate=16000, channel=7)


@pytest.mark.parametrize(
    ("name", "codec_args"),
    [
        ("a.flac", ["-c:a", "flac"]),
        ("a.mp3", ["-c:a", "libmp3lame", "-b:a", "128k"]),
        ("a.m4a", ["-c:a", "aac", "-b:a", "128k"]),
        ("a.ac3", ["-c:a", "ac3"]),
        ("a.eac3", ["-c:a", "eac3"]),
        ("a.mov", ["-c:a", "pcm_s24le"]),
        ("a.mp4", ["-c:a", "aac"]),
        ("a.mxf", ["-c:a", "pcm_s24le", "-ac", "1"]),  # with an MPEG-2 picture, as delivered
        ("a.mkv", ["-c:a", "pcm_s16le"]),
    ],
)
def test_every_container_decodes(tmp_path: Path, name: str, codec_args: list[str]) -> None:
    """The formats a delivery uses decode to the analysis rate at the right duration."""
    path = tmp_path / name
    video = ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=4"]
    ffmpeg(*(video if name.endswith(".mxf") else []),
           "-f", "lavfi", "-i", "sine=frequency=700:sample_rate=48000:duration=4",
           *(["-c:v", "mpeg2video"] if name.endswith(".mxf") else ["-ac", "2"]),
           *codec_args, str(path))
    x = decode(path, sample_rate=16000)
    assert x.size / 16000 == pytest.approx(4.0, abs=0.05)
    assert dominant_hz(x[4000:-4000], 16000) == pytest.approx(700, abs=3)


def test_split_decode_is_bit_identical(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two ffmpeg processes decoding the halves of a PCM file give exactly the one-process
    result, the join included."""
    import importlib

    dec = importlib.import_module("app.engine.decode")  # the module, not the function

    path = tmp_path / "pink.wav"
    seconds = 171.5  # each half longer than one block of feature frames (81.92 s)
    ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={seconds}:c=pink:r=48000:a=0.3:s=3", "-ac", "2",
           "-c:a", "pcm_s24le", str(path))
    monkeypatch.setattr(dec, "_SPLIT_MIN_SECONDS", 10.0)
    seen: list[float] = []
    whole = decode(path, sample_rate=16000)
    halves = decode(path, sample_rate=16000, parallel=True, on_progress=seen.append)
    assert halves.size == whole.size == seconds * 16000
    assert np.array_equal(halves, whole)
    assert seen and seen[-1] == pytest.approx(1.0, abs=0.01)

    # log-mel features streamed per half while decoding (the pipeline's way) are those of the
    # whole signal, the frames across the join included — to float32 rounding: the BLAS
    # kernels of some CPUs (AVX-512) sum a matrix product in an order that depends on the
    # block's size, so the last digit may differ (measured: up to 2e-6 dB)
    from app.engine.features import LogMelStream

    first, second = LogMelStream(sample_rate=16000), LogMelStream(sample_rate=16000)
    joins: list[int] = []

    def on_half(half: int, join: int, data: np.ndarray) -> None:
        if half < 0:
            joins.append(join)
        else:
            (first, second)[half].update(data)

    x = decode(path, sample_rate=16000, parallel=True, on_half_data=on_half)
    assert joins == [85 * 16000] and first.next_frame > 0 and second.next_frame > 0
    first.join(second, x, joins[0])
    reference = LogMelStream(sample_rate=16000)
    reference.compute_all(whole)
    np.testing.assert_allclose(first.result(), reference.result(), rtol=0, atol=1e-4)
