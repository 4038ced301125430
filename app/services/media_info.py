"""What a media file holds, for people: ffprobe summarised, plus Dolby flags ffprobe may miss.

- **E-AC-3 with Atmos (JOC)**: ffmpeg >= 6.1 reports the stream's ``profile`` as "Dolby Digital
  Plus + Dolby Atmos". Older ffmpeg (Debian 12 ships 5.1) says nothing, so the first frames are
  also read here (``-c copy``, no decoding): Atmos is signalled by ``flag_ec3_extension_type_a``,
  the low bit of the first additional-bitstream-information byte of a frame (ETSI TS 102 366
  Annex E, TS 103 420 §8.3). ``atmos`` is True/False when frames were read, None otherwise.
- **Dolby E**: ffprobe names the codec ``dolby_e`` only for a raw SMPTE 337M stream; inside
  WAV/MXF/MOV it is "PCM". The first seconds of every PCM stream are therefore scanned for
  SMPTE 337M burst preambles (Pa/Pb sync words, data type 28 = Dolby E) on each pair of
  adjacent channels.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from app.engine.decode import ffmpeg_path, input_args, probe_raw
from app.engine.start_timecode import file_timecode

__all__ = ["summarize", "probe_media", "eac3_atmos", "find_smpte337", "DOLBY_E_DATA_TYPE"]

_logger = logging.getLogger(__name__)

DOLBY_E_DATA_TYPE = 28
#: seconds read from the head of a stream by the deep checks
SCAN_SECONDS = 2.0
_SAMPLE_FMT_BITS = {"u8": 8, "u8p": 8, "s16": 16, "s16p": 16, "s32": 32, "s32p": 32,
                    "s64": 64, "s64p": 64, "flt": 32, "fltp": 32, "dbl": 64, "dblp": 64}
#: SMPTE 337M word length → (mask, Pa, Pb) on 24-bit words (16/20-bit data left-aligned)
_S337_MODES: dict[int, tuple[int, int, int]] = {
    16: (0xFFFF00, 0xF87200, 0x4E1F00),
    20: (0xFFFFF0, 0x6F8720, 0x54E1F0),
    24: (0xFFFFFF, 0x96F872, 0xA54E1F),
}
#: Dolby E burst length in words / word size → samples per Dolby E frame (as ffmpeg's s337m)
_DOLBY_E_FRAMES = {3648: 1920, 3644: 2002, 3640: 2000, 3040: 1601}


def _num(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None


def _int(value: Any) -> int | None:
    try:
        out = int(value)
    except (TypeError, ValueError):
        return None
    return out if out > 0 else None


def _rate(value: Any) -> float | None:
    """ffprobe's "30000/1001" → 29.97 (None for 0/0)."""
    if not isinstance(value, str) or "/" not in value:
        return _num(value)
    num, _, den = value.partition("/")
    n, d = _num(num), _num(den)
    return round(n / d, 3) if n and d else None


def _bit_depth(stream: dict[str, Any]) -> int | None:
    depth = _int(stream.get("bits_per_raw_sample")) or _int(stream.get("bits_per_sample"))
    if depth:
        return depth
    if str(stream.get("codec_name", "")).startswith("pcm_"):
        return _SAMPLE_FMT_BITS.get(str(stream.get("sample_fmt")))
    return None


def _stream_summary(stream: dict[str, Any], audio_index: int | None) -> dict[str, Any]:
    tags = {str(k).lower(): v for k, v in (stream.get("tags") or {}).items()}
    kind = stream.get("codec_type", "data")
    out: dict[str, Any] = {
        "index": stream.get("index"), "type": kind, "audio_index": audio_index,
        "codec": stream.get("codec_name"), "codec_long_name": stream.get("codec_long_name"),
        "profile": stream.get("profile"), "language": tags.get("language"),
        "title": tags.get("title") or tags.get("handler_name"),
        "duration_seconds": _num(stream.get("duration")),
        "bit_rate": _int(stream.get("bit_rate")),
    }
    if kind == "audio":
        codec = str(stream.get("codec_name", ""))
        profile = str(stream.get("profile") or "")
        out.update(sample_rate=_int(stream.get("sample_rate")),
                   channels=_int(stream.get("channels")),
                   channel_layout=stream.get("channel_layout"), bit_depth=_bit_depth(stream),
                   sample_format=stream.get("sample_fmt"),
                   eac3=codec == "eac3",
                   atmos=True if "atmos" in profile.lower() else None,
                   atmos_evidence="ffprobe profile" if "atmos" in profile.lower() else None,
                   dolby_e=codec == "dolby_e",
                   dolby_e_evidence="ffprobe codec dolby_e" if codec == "dolby_e" else None,
                   dolby_e_channels=None)
    elif kind == "video":
        out.update(width=stream.get("width"), height=stream.get("height"),
                   frame_rate=_rate(stream.get("r_frame_rate")),
                   avg_frame_rate=_rate(stream.get("avg_frame_rate")),
                   pixel_format=stream.get("pix_fmt"))
    return out


def summarize(raw: dict[str, Any], *, path: Path | None = None) -> dict[str, Any]:
    """ffprobe's JSON (``-show_format -show_streams``) as a summary: container, duration, and
    each stream's codec, sample rate, channels, layout, bit depth and language."""
    fmt = raw.get("format") or {}
    streams = []
    audio_i = 0
    for s in raw.get("streams") or []:
        is_audio = s.get("codec_type") == "audio"
        streams.append(_stream_summary(s, audio_i if is_audio else None))
        audio_i += int(is_audio)
    audio = [s for s in streams if s["type"] == "audio"]
    video = [s for s in streams if s["type"] == "video"]
    tags = {str(k).lower(): v for k, v in (fmt.get("tags") or {}).items()}
    return {
        "path": str(path) if path else fmt.get("filename"),
        "name": path.name if path else None,
        "container": fmt.get("format_name"), "container_long_name": fmt.get("format_long_name"),
        "duration_seconds": _num(fmt.get("duration")),
        "size_bytes": _int(fmt.get("size")), "bit_rate": _int(fmt.get("bit_rate")),
        "start_time_seconds": _num(fmt.get("start_time")),
        "title": tags.get("title"),
        "audio_streams": len(audio), "video_streams": len(video),
        "video_frame_rate": video[0].get("frame_rate") if video else None,
        "start_timecode": file_timecode(raw),
        "streams": streams,
        "flags": _flags(audio),
    }


def _flags(audio: list[dict[str, Any]]) -> dict[str, Any]:
    atmos = [s.get("atmos") for s in audio if s.get("eac3") or s.get("atmos")]
    return {
        "eac3": any(s.get("eac3") for s in audio),
        "atmos": True if any(a is True for a in atmos) else (
            False if atmos and all(a is False for a in atmos) else None),
        "dolby_e": any(s.get("dolby_e") for s in audio),
    }


# --- E-AC-3 bitstream: JOC (Atmos) flag ----------------------------------------------------
class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.size = len(data) * 8
        self.pos = 0

    def read(self, n: int) -> int:
        if self.pos + n > self.size:
            raise EOFError
        self.pos += n
        return (self.value >> (self.size - self.pos)) & ((1 << n) - 1)


def _eac3_frame(data: bytes) -> tuple[int, bool] | None:
    """(frame size in bytes, flag_ec3_extension_type_a) of the E-AC-3 frame starting at
    ``data[0]``, or None when it is not a well-formed E-AC-3 header."""
    b = _Bits(data[:128])
    try:
        if b.read(16) != 0x0B77:
            return None
        strmtyp = b.read(2)
        b.read(3)  # substreamid
        frame_size = (b.read(11) + 1) * 2
        fscod = b.read(2)
        if fscod == 3:
            if b.read(2) == 3:
                return None
            num_blocks = 6
        else:
            num_blocks = (1, 2, 3, 6)[b.read(2)]
        acmod = b.read(3)
        lfeon = b.read(1)
        bsid = b.read(5)
        if strmtyp == 3 or not 11 <= bsid <= 16:
            return None
        mono_pairs = 2 if acmod == 0 else 1  # 1+1 (dual mono) repeats some fields
        for _ in range(mono_pairs):
            b.read(5)  # dialnorm
            if b.read(1):
                b.read(8)  # compr
        if strmtyp == 1 and b.read(1):
            b.read(16)  # chanmap
        if b.read(1):  # mixmdate
            if acmod > 2:
                b.read(2)  # dmixmod
                if acmod & 1:
                    b.read(6)  # ltrt/loro centre mix levels
                if acmod & 4:
                    b.read(6)  # ltrt/loro surround mix levels
            if lfeon and b.read(1):
                b.read(5)  # lfemixlevcod
            if strmtyp == 0:
                for _ in range(mono_pairs):
                    if b.read(1):
                        b.read(6)  # pgmscl
                if b.read(1):
                    b.read(6)  # extpgmscl
                mixdef = b.read(2)
                if mixdef == 1:
                    b.read(5)
                elif mixdef == 2:
                    b.read(12)
                elif mixdef == 3:
                    b.read((b.read(5) + 2) * 8)
                if acmod < 2:
                    for _ in range(mono_pairs):
                        if b.read(1):
                            b.read(14)  # panmean, paninfo
                if b.read(1):  # frmmixcfginfoe
                    for _ in range(num_blocks):
                        if num_blocks == 1 or b.read(1):
                            b.read(5)
        if b.read(1):  # infomdate
            b.read(5)  # bsmod, copyrightb, origbs
            if acmod == 2:
                b.read(4)  # dsurmod, dheadphonmod
            if acmod >= 6:
                b.read(2)  # dsurexmod
            for _ in range(mono_pairs):
                if b.read(1):
                    b.read(8)  # mixlevel, roomtyp, adconvtyp
            if fscod < 3:
                b.read(1)  # sourcefscod
        if strmtyp == 0 and num_blocks != 6:
            b.read(1)  # convsync
        if strmtyp == 2 and (num_blocks == 6 or b.read(1)):
            b.read(6)  # frmsizecod
        if b.read(1):  # addbsie
            b.read(6)  # addbsil
            return frame_size, bool(b.read(8) & 1)
        return frame_size, False
    except EOFError:
        return None


def eac3_atmos(data: bytes, *, max_frames: int = 64) -> bool | None:
    """Whether an E-AC-3 elementary stream signals Atmos (JOC) in its first ``max_frames``
    frames: True at the first frame that does, False when frames were read and none does, None
    when no E-AC-3 frame was found."""
    pos = parsed = 0
    while parsed < max_frames:
        at = data.find(b"\x0b\x77", pos)
        if at < 0 or at + 6 > len(data):
            break
        frame = _eac3_frame(data[at:])
        if frame is None:
            pos = at + 1
            continue
        parsed += 1
        if frame[1]:
            return True
        pos = at + frame[0]
    return False if parsed else None


# --- SMPTE 337M: Dolby E in a PCM pair -----------------------------------------------------
def find_smpte337(samples: np.ndarray) -> list[dict[str, Any]]:
    """Dolby E bursts (SMPTE 337M, data type 28) on pairs of adjacent channels.

    ``samples``: shape (n, channels) int32, PCM left-aligned (as ffmpeg's ``s32le`` output of
    any 16/20/24-bit PCM). Returns one entry per pair holding at least two bursts:
    ``{"channels": [a, a+1], "word_bits", "bursts", "samples_per_frame"}``.
    """
    if samples.ndim != 2 or samples.shape[1] < 2 or samples.shape[0] < 2:
        return []
    words = (samples.astype(np.int32).view(np.uint32) >> 8).astype(np.int64)
    found = []
    for a in range(samples.shape[1] - 1):
        first, second = words[:-1, a], words[:-1, a + 1]
        for bits, (mask, pa, pb) in _S337_MODES.items():
            at = np.nonzero(((first & mask) == pa) & ((second & mask) == pb))[0]
            if at.size == 0:
                continue
            pc, pd = words[at + 1, a], words[at + 1, a + 1]
            size = pd >> {16: 8, 20: 4, 24: 0}[bits]
            burst_words = size // bits
            ok = (((pc >> 8) & 0x1F) == DOLBY_E_DATA_TYPE) & np.isin(
                burst_words, list(_DOLBY_E_FRAMES))
            if int(ok.sum()) >= 2:
                found.append({"channels": [a, a + 1], "word_bits": bits,
                              "bursts": int(ok.sum()),
                              "samples_per_frame": _DOLBY_E_FRAMES[int(burst_words[ok][0])]})
                break
    return found


def _ffmpeg_head(path: Path, maps: list[str], fmt: list[str], *, seconds: float,
                 filter_complex: str | None = None, limit: int = 64 << 20) -> bytes | None:
    """The first ``seconds`` of the mapped audio as raw bytes (None when ffmpeg fails)."""
    cmd = [ffmpeg_path(), "-nostdin", "-v", "error", "-t", f"{seconds:g}", *input_args(path)]
    if filter_complex:
        cmd += ["-filter_complex", filter_complex]
    cmd += [*maps, "-vn", "-sn", "-dn", *fmt, "pipe:1"]
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, timeout=60,
                                  check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            _logger.warning("deep probe of %s failed: %s", path.name, exc)
            return None
        if proc.returncode != 0:
            err.seek(0)
            _logger.info("deep probe of %s: ffmpeg: %s", path.name,
                         err.read()[-500:].decode("utf-8", "replace").strip())
            return None
    return proc.stdout[:limit]


def _is_pcm(stream: dict[str, Any]) -> bool:
    codec = str(stream.get("codec") or "")
    return codec.startswith("pcm_") and not codec.startswith(("pcm_f", "pcm_alaw", "pcm_mulaw"))


def _deep_checks(path: Path, summary: dict[str, Any]) -> None:
    """Read the first seconds of E-AC-3 and PCM streams for the Atmos and Dolby E flags."""
    audio = [s for s in summary["streams"] if s["type"] == "audio"]
    for s in audio:
        if s["eac3"] and s["atmos"] is not True:
            data = _ffmpeg_head(path, ["-map", f"0:a:{s['audio_index']}"],
                                ["-c:a", "copy", "-f", "eac3"], seconds=SCAN_SECONDS)
            found = eac3_atmos(data) if data else None
            if found is not None:
                s["atmos"] = found
                s["atmos_evidence"] = "E-AC-3 bitstream: flag_ec3_extension_type_a " + (
                    "set" if found else "not set in the first frames")
    groups: list[tuple[list[dict[str, Any]], list[str], str | None]] = []
    for s in audio:
        if _is_pcm(s) and (s.get("channels") or 0) >= 2:
            groups.append(([s], ["-map", f"0:a:{s['audio_index']}"], None))
    mono = [s for s in audio if _is_pcm(s) and s.get("channels") == 1]
    if len(mono) >= 2:  # multi-mono (MXF): Dolby E may sit on two mono tracks
        inputs = "".join(f"[0:a:{s['audio_index']}]" for s in mono)
        groups.append((mono, ["-map", "[m]"], f"{inputs}amerge=inputs={len(mono)}[m]"))
    for streams, maps, graph in groups:
        data = _ffmpeg_head(path, maps, ["-c:a", "pcm_s32le", "-f", "s32le"],
                            seconds=SCAN_SECONDS, filter_complex=graph)
        if not data:
            continue
        width = sum(int(s.get("channels") or 0) for s in streams)
        usable = len(data) // (4 * width) * 4 * width
        samples = np.frombuffer(data[:usable], dtype="<i4").reshape(-1, width)
        for hit in find_smpte337(samples):
            a, b = hit["channels"]
            if len(streams) == 1:  # channels a, a+1 of one interleaved stream
                marked, where = [streams[0]], f"channels {a} and {b}"
                streams[0]["dolby_e_channels"] = [a, b]
            else:  # channel i of the merge is mono stream i
                marked = [streams[a], streams[b]]
                where = (f"mono audio streams {streams[a]['audio_index']} and "
                         f"{streams[b]['audio_index']}")
            for s in marked:
                s["dolby_e"] = True
                s["dolby_e_evidence"] = (f"SMPTE 337M Dolby E bursts ({hit['word_bits']}-bit "
                                         f"words, {hit['samples_per_frame']} samples per frame) "
                                         f"on {where}")
    summary["flags"] = _flags(audio)


def probe_media(path: Path, *, deep: bool = True) -> dict[str, Any]:
    """ffprobe summary of ``path`` with ``raw`` (ffprobe's JSON); ``deep`` adds the Atmos and
    Dolby E checks that read the first seconds of the streams. Raises AudioDecodeError when
    ffprobe cannot read the file."""
    raw = probe_raw(path)
    summary = summarize(raw, path=path)
    if deep:
        _deep_checks(path, summary)
    summary["raw"] = raw
    return summary
