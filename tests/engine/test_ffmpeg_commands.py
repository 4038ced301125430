"""ffmpeg command lines built with ffmpeg-python keep every hardening argument of the
hand-written ones: the demuxer whitelist, the ``file`` protocol only and the ``file:`` URL as
input options of the one input, global options first, the exact stream mapping."""

from __future__ import annotations

import importlib
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.engine.decode import MEDIA_DEMUXERS, ffmpeg_path
from app.engine.repair import AudioFormat, OutputSpec, read_audio, write_audio
from app.engine.types import AudioInfo

dec = importlib.import_module("app.engine.decode")  # the module, not the function
rep = importlib.import_module("app.engine.repair")


def options_before_input(cmd: list[str]) -> dict[str, str]:
    """The ``-name value`` pairs between the global options and ``-i``."""
    head = cmd[4 : cmd.index("-i")]
    assert len(head) % 2 == 0, head
    return dict(zip(head[::2], head[1::2], strict=True))


def check_hardened(cmd: list[str], path: Path) -> None:
    assert cmd[:4] == [ffmpeg_path(), "-nostdin", "-v", "error"]
    assert cmd.count("-i") == 1 and cmd[cmd.index("-i") + 1] == f"file:{path.absolute()}"
    opts = options_before_input(cmd)
    assert opts["-format_whitelist"] == ",".join(MEDIA_DEMUXERS)
    assert opts["-protocol_whitelist"] == "file"


def info(path: Path, codec: str = "pcm_s24le", container: str = "wav") -> AudioInfo:
    return AudioInfo(path=str(path), container=container, codec=codec, sample_rate=48000,
                     channels=6, channel_layout="5.1", duration_seconds=600.0, stream_index=1)


def test_decode_command(tmp_path: Path) -> None:
    path = tmp_path / "concat:a|b.wav"  # a name that must never be read as a protocol
    cmd = dec._command(path, info=info(path), sample_rate=16000, stream=1, channel=2)
    check_hardened(cmd, path)
    assert options_before_input(cmd)["-max_size"] == str(dec.WAV_PACKET_BYTES)
    tail = cmd[cmd.index("-i") + 2 :]
    assert tail[-1] == "pipe:1" and tail[:2] == ["-map", "0:a:1"]
    out = dict(zip(tail[2:-1:2], tail[3:-1:2], strict=False))
    assert out["-f"] == "f32le" and out["-acodec"] == "pcm_f32le"
    assert out["-ac"] == "1" and out["-ar"] == "16000"
    assert out["-af"].startswith("pan=mono|c0=c2,aresample=osr=16000:")
    for flag in ("-vn", "-sn", "-dn"):
        assert flag in tail


def test_half_commands_seek_as_input_options(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    first, second = dec._half_commands(path, info=info(path), sample_rate=16000, stream=0,
                                       channel=None, split=300, pad=2)
    for cmd in (first, second):
        check_hardened(cmd, path)
        assert "pan=" not in cmd[cmd.index("-af") + 1]
    assert options_before_input(first).get("-t") == "302" and "-ss" not in first
    assert options_before_input(second)["-ss"] == "298" and "-t" not in second


def test_compressed_input_keeps_default_packets(tmp_path: Path) -> None:
    path = tmp_path / "a.m4a"
    cmd = dec._command(path, info=info(path, codec="aac", container="mov,mp4,m4a"),
                       sample_rate=16000, stream=0, channel=None)
    check_hardened(cmd, path)
    assert "-max_size" not in cmd


class Captured(Exception):
    pass


def capture(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    seen: list[list[str]] = []

    def popen(cmd: list[str], *args: Any, **kwargs: Any) -> None:
        seen.append(cmd)
        raise Captured

    monkeypatch.setattr(rep.subprocess, "Popen", popen)
    return seen


def test_repair_read_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "dub.wav"
    fmt = AudioFormat(path=str(path), container="wav", codec="pcm_s16le", sample_fmt="s16",
                      bits=16, sample_rate=48000, channels=2, channel_layout="stereo",
                      duration_seconds=1.0, stream=1)
    seen = capture(monkeypatch)
    with pytest.raises(Captured):
        read_audio(path, stream=1, fmt=fmt)
    cmd = seen[0]
    check_hardened(cmd, path)
    assert cmd[cmd.index("-i") + 2 :] == ["-map", "0:a:1", "-f", "f32le", "-acodec",
                                           "pcm_f32le", "-dn", "-sn", "-vn", "pipe:1"]


def test_repair_write_round_trip(tmp_path: Path) -> None:
    """The encoder's command (raw float input on stdin, codec options, -y) writes a bit-exact
    24-bit WAV and a 16-bit FLAC."""
    rng = np.random.default_rng(0)
    x = (np.round(rng.uniform(-0.5, 0.5, (4800, 2)) * 2**15) / 2**15).astype(np.float32)
    for spec in (OutputSpec("wav", "pcm_s24le", None, 24), OutputSpec("flac", "flac", "s16", 16)):
        out = write_audio(tmp_path / f"out.{spec.extension}", x, sample_rate=48000, spec=spec,
                          channel_layout="stereo")
        back, fmt = read_audio(out)
        assert fmt.channels == 2 and fmt.sample_rate == 48000 and fmt.codec == spec.codec
        assert np.array_equal(back, x)
        raw = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format_tags",
                              "-of", "default=nw=1", str(out)], capture_output=True, text=True,
                             check=True).stdout
        assert "encoder" not in raw.lower()  # -map_metadata -1 and +bitexact still apply
