"""Dolby flags read from the bitstream: E-AC-3 JOC (Atmos) and SMPTE 337M Dolby E; upload
file-name sanitising."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.services.files import safe_filename
from app.services.media_info import eac3_atmos, find_smpte337


class _BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, n: int) -> _BitWriter:
        self.bits += [(value >> (n - 1 - i)) & 1 for i in range(n)]
        return self

    def frame(self, size: int) -> bytes:
        bits = self.bits + [0] * (size * 8 - len(self.bits))
        return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def eac3_frame(*, joc: bool, mixmdate: bool = False, infomdate: bool = False,
               size: int = 512) -> bytes:
    """One E-AC-3 5.1 frame header (ETSI TS 102 366 E.1.2) with or without the JOC marker
    (TS 103 420 §8.3: addbsi = 7 reserved bits, flag_ec3_extension_type_a, complexity)."""
    w = _BitWriter().put(0x0B77, 16).put(0, 2).put(0, 3).put(size // 2 - 1, 11)
    w.put(0, 2).put(3, 2).put(7, 3).put(1, 1).put(16, 5)  # 48 kHz, 6 blocks, 3/2 + LFE, bsid
    w.put(27, 5).put(0, 1)  # dialnorm, no compr
    w.put(int(mixmdate), 1)
    if mixmdate:
        w.put(1, 2).put(4, 3).put(4, 3).put(4, 3).put(4, 3)  # dmixmod, centre/surround levels
        w.put(1, 1).put(10, 5)  # lfe mix level
        w.put(1, 1).put(33, 6).put(0, 1)  # pgmscl, no extpgmscl
        w.put(3, 2).put(1, 5).put(0xABCDEF, 24)  # mixdef 3: (1 + 2) bytes of mix data
        w.put(1, 1)  # frmmixcfginfoe
        for _ in range(6):
            w.put(1, 1).put(5, 5)
    w.put(int(infomdate), 1)
    if infomdate:
        w.put(0, 3).put(1, 1).put(1, 1).put(1, 2).put(1, 1).put(0x55, 8).put(0, 1)
    if joc:
        w.put(1, 1).put(1, 6).put(0, 7).put(1, 1).put(16, 8)
    else:
        w.put(0, 1)
    return w.frame(size)


class TestEac3Atmos:
    @pytest.mark.parametrize("mixmdate", [False, True])
    @pytest.mark.parametrize("infomdate", [False, True])
    def test_joc_flag_found_after_the_metadata(self, mixmdate: bool, infomdate: bool) -> None:
        plain = eac3_frame(joc=False, mixmdate=mixmdate, infomdate=infomdate)
        joc = eac3_frame(joc=True, mixmdate=mixmdate, infomdate=infomdate)
        assert eac3_atmos(plain * 5) is False
        assert eac3_atmos(plain * 3 + joc) is True
        assert eac3_atmos(b"\x00\x11" + joc) is True  # found after junk

    def test_no_frames(self) -> None:
        assert eac3_atmos(b"") is None and eac3_atmos(b"\x0b\x77" + b"\x00" * 4) is None

    def test_real_ffmpeg_stream_walks_frame_by_frame(self, tmp_path: Path) -> None:
        path = tmp_path / "x.eac3"
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                        "sine=d=1:r=48000", "-ac", "2", "-c:a", "eac3", "-b:a", "192k",
                        str(path)], check=True)
        data = path.read_bytes()
        assert eac3_atmos(data, max_frames=10_000) is False
        joc = eac3_frame(joc=True, size=768)  # 192 kb/s frames are 768 bytes
        assert eac3_atmos(data[:768 * 20] + joc, max_frames=10_000) is True


def _s337(bits: int, *, data_type: int = 28, frame_words: int = 3648,
          n: int = 48000, pair: tuple[int, int] = (0, 1), channels: int = 2) -> np.ndarray:
    rng = np.random.default_rng(bits)
    words = rng.integers(0, 1 << 24, size=(n, channels), dtype=np.int64)
    pa, pb = {16: (0xF872 << 8, 0x4E1F << 8), 20: (0x6F872 << 4, 0x54E1F << 4),
              24: (0x96F872, 0xA54E1F)}[bits]
    pd = frame_words * bits << {16: 8, 20: 4, 24: 0}[bits]
    for start in range(0, n - 1, 1920):
        words[start, list(pair)] = (pa, pb)
        words[start + 1, list(pair)] = (data_type << 8, pd)
    return (words << 8).astype(np.uint32).view(np.int32)


class TestSmpte337:
    @pytest.mark.parametrize("bits", [16, 20, 24])
    def test_dolby_e_in_each_word_size(self, bits: int) -> None:
        found = find_smpte337(_s337(bits))
        assert found == [{"channels": [0, 1], "word_bits": bits, "bursts": 25,
                          "samples_per_frame": 1920}]

    def test_pair_inside_eight_channels(self) -> None:
        assert find_smpte337(_s337(24, pair=(4, 5), channels=8))[0]["channels"] == [4, 5]

    def test_not_dolby_e(self) -> None:
        assert find_smpte337(_s337(24, data_type=1)) == []  # AC-3 in 337M: not Dolby E
        assert find_smpte337(_s337(24, frame_words=1000)) == []
        noise = (np.random.default_rng(0).standard_normal((96000, 2)) * 1e8).astype(np.int32)
        assert find_smpte337(noise) == []
        assert find_smpte337(np.zeros((10, 1), np.int32)) == []


class TestSafeFilename:
    @pytest.mark.parametrize(("raw", "safe"), [
        ("ep101_de.wav", "ep101_de.wav"), ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Mix Final.WAV", "Mix Final.WAV"), (".hidden.wav", "hidden.wav"),
        ("Épisode 1 <FR>.flac", "Épisode 1 _FR_.flac"), ("a\x00b\nc.wav", "abc.wav"),
        ("..", "upload"), ("", "upload"), ("***", "upload"), ("x" * 300 + ".wav",
                                                               "x" * 196 + ".wav"),
    ])
    def test_names(self, raw: str, safe: str) -> None:
        assert safe_filename(raw) == safe
