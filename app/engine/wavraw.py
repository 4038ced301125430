"""Locate the PCM samples of a WAV / RF64 / BW64 file, so that ffmpeg can read them through its
raw PCM demuxer.

ffmpeg's WAV demuxer hands its decoder packets of about 4 KiB; on a 60-minute 5.1 24-bit
master (3.1 GB) that is ~760 000 packets, and their handling costs more CPU than the
resampling. The raw demuxer (``-f s24le``…) reads the very same bytes in packets 4.5x larger
and gives bit-identical samples. :func:`find_pcm` parses the RIFF header (in Python, a few
hundred bytes) and says where the samples are; anything it does not fully understand returns
None and decoding goes through the WAV demuxer as before.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RawPcm", "find_pcm"]

_PCM, _FLOAT, _EXTENSIBLE = 1, 3, 0xFFFE
#: (format tag, bits per sample) → ffmpeg raw demuxer / codec name (without the ``pcm_``)
_FORMATS = {
    (_PCM, 8): "u8", (_PCM, 16): "s16le", (_PCM, 24): "s24le", (_PCM, 32): "s32le",
    (_FLOAT, 32): "f32le", (_FLOAT, 64): "f64le",
}
_MAX_HEADER_BYTES = 1 << 20  # chunks before 'data' (bext, iXML, JUNK…) rarely pass 64 KiB


@dataclass(frozen=True)
class RawPcm:
    """Where and how the samples lie: ``data_offset`` (bytes from the file's start) of
    ``frames`` sample frames of ``block_align`` bytes each, format ``fmt`` (``s24le``…),
    ``channels`` at ``sample_rate`` Hz."""

    fmt: str
    channels: int
    sample_rate: int
    block_align: int
    data_offset: int
    frames: int

    @property
    def codec(self) -> str:
        """ffmpeg's codec name for these samples (``pcm_s24le``…)."""
        return f"pcm_{self.fmt}"

    def input_args(self, *, start_frame: int = 0, layout: str | None = None,
                   frames: int | None = None) -> list[str]:
        """ffmpeg input options reading ``frames`` (default: all that remain) sample frames
        from ``start_frame`` on (sample-exact: a byte offset, not a seek); ``layout`` is the
        channel layout ffprobe reported for the WAV (so that down-mixing is unchanged)."""
        start_frame = min(max(start_frame, 0), self.frames)
        count = self.frames - start_frame if frames is None else \
            min(frames, self.frames - start_frame)
        # -t is applied as a sample-exact trim; microseconds round back to exactly `count`
        # samples (half a sample is longer than the 0.5-µs rounding below 1 MHz)
        micros = round(count * 1_000_000 / self.sample_rate)
        channels = ["-ch_layout", layout] if layout else ["-channels", str(self.channels)]
        return [
            "-f", self.fmt, "-sample_rate", str(self.sample_rate), *channels,
            "-skip_initial_bytes", str(self.data_offset + start_frame * self.block_align),
            "-t", f"{micros // 1_000_000}.{micros % 1_000_000:06d}",
        ]


def find_pcm(path: str | Path) -> RawPcm | None:
    """The PCM layout of a RIFF/RF64/BW64 WAVE file, or None when it is not a plain PCM or
    float WAV (compressed formats, odd block sizes, streamed files of unknown length, …)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_MAX_HEADER_BYTES)
            size = f.seek(0, 2)
    except OSError:
        return None
    return _parse(head, size)


def _parse(head: bytes, file_size: int) -> RawPcm | None:
    if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RF64", b"BW64"):
        return None
    big = head[:4] != b"RIFF"
    ds64_data: int | None = None
    fmt: tuple[int, int, int, int, int] | None = None  # tag, channels, rate, align, bits
    pos = 12
    while pos + 8 <= len(head):
        cid = head[pos : pos + 4]
        (size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if cid == b"ds64" and size >= 16 and body + 16 <= len(head):
            (ds64_data,) = struct.unpack_from("<Q", head, body + 8)
        elif cid == b"fmt " and size >= 16 and body + size <= len(head):
            tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", head, body)
            if tag == _EXTENSIBLE:
                if size < 40:
                    return None
                (tag,) = struct.unpack_from("<H", head, body + 24)  # SubFormat GUID's head
            fmt = (tag, channels, rate, align, bits)
        elif cid == b"data":
            if fmt is None:
                return None
            if big and size == 0xFFFFFFFF:
                if ds64_data is None:
                    return None
                size = ds64_data
            return _layout(fmt, data_offset=body, data_size=size, file_size=file_size)
        pos = body + size + (size & 1)  # chunks are padded to an even length
    return None


def _layout(fmt: tuple[int, int, int, int, int], *, data_offset: int, data_size: int,
            file_size: int) -> RawPcm | None:
    tag, channels, rate, align, bits = fmt
    name = _FORMATS.get((tag, bits))
    if name is None or channels < 1 or rate < 1 or align != channels * bits // 8:
        return None
    if data_size in (0, 0xFFFFFFFF) or data_offset >= file_size:
        return None  # streamed WAVs leave the size unset: the WAV demuxer knows what to do
    return RawPcm(name, channels, rate, align, data_offset, data_size // align)
