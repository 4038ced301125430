"""The long-programme speed test: a 5.1 PCM master and a stereo AAC dub, decode vs analysis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from testkit import AudioWriter, dialogue_track, remix, synth_bed_blocks, to_51

__all__ = ["make_long_pair", "time_long_pair", "SPEED_OFFSET_SAMPLES"]

SR = 48000
_PAGE = os.sysconf("SC_PAGE_SIZE")
SPEED_OFFSET_SAMPLES = 592_593  # 12.3456875 s at 48 kHz: the dub is late
_EQ = [("highpass", 80.0, 0.0, 0.707), ("peak", 2500.0, 3.0, 1.0), ("highshelf", 8000.0, -4.0, 0.7)]
_CHUNK = 60 * SR


def _rechunk(blocks: Iterator[np.ndarray], size: int) -> Iterator[np.ndarray]:
    buf: list[np.ndarray] = []
    have = 0
    for b in blocks:
        buf.append(b)
        have += len(b)
        while have >= size:
            cat = np.concatenate(buf)
            yield cat[:size]
            buf, have = [cat[size:]], have - size
    if have:
        yield np.concatenate(buf)


def _dialogue(minutes: float, language: str, seed: int) -> Iterator[np.ndarray]:
    """Dialogue in 5-minute pieces (each its own seed), yielded in 60-s chunks."""
    total = int(minutes * 60 * SR)
    done = 0
    k = 0
    while done < total:
        piece = dialogue_track(
            min(300.0, (total - done) / SR), SR, language=language, seed=seed * 1000 + k
        )
        yield from (piece[i : i + _CHUNK] for i in range(0, len(piece), _CHUNK))
        done += len(piece)
        k += 1


def make_long_pair(root: Path, minutes: float, *, seed: int = 7) -> dict[str, object]:
    """Write (or reuse) ``master.wav`` (5.1, 24-bit PCM, 48 kHz) and ``dub.m4a`` (stereo AAC
    192k) of ``minutes`` of synthetic M&E + English/German dialogue; the dub is late by
    :data:`SPEED_OFFSET_SAMPLES`. Generated block by block (memory ≈ one minute of audio)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / f"long_{minutes:g}min.json"
    if manifest.exists():
        return json.loads(manifest.read_text())
    master = root / f"long_{minutes:g}min_master.wav"
    dub = root / f"long_{minutes:g}min_dub.m4a"
    total = int(minutes * 60 * SR)
    t0 = time.perf_counter()
    fast_aac = ["-aac_coder", "fast"]  # 2x faster encoding, same format; generation only
    bed = _rechunk(synth_bed_blocks(minutes * 60, SR, seed=seed), _CHUNK)
    d_master = _dialogue(minutes, "en", seed)
    d_dub = _dialogue(minutes, "de", seed + 1)
    with (
        AudioWriter(master, SR, 6, codec="pcm_s24le") as wm,
        AudioWriter(dub, SR, 2, codec="aac", bitrate="192k", options=fast_aac) as wd,
    ):
        wd.write(np.zeros((SPEED_OFFSET_SAMPLES, 2), np.float32))
        for b, dm, dd in zip(bed, d_master, d_dub, strict=True):
            wm.write(to_51(b, dialogue=dm, sample_rate=SR))
            room = total - wd.frames
            if room > 0:
                mix = remix(b, dd, bed_gain_db=-2.0, dialogue_gain_db=1.0, eq=_EQ, sample_rate=SR)
                wd.write(mix[:room])
    doc = {
        "minutes": minutes,
        "master": str(master),
        "dub": str(dub),
        "true_offset": SPEED_OFFSET_SAMPLES / SR,
        "generate_seconds": time.perf_counter() - t0,
    }
    manifest.write_text(json.dumps(doc, indent=1))
    return doc


def _decode_seconds(path: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"], check=True)
    return time.perf_counter() - t0


def _rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _peak_rss_bytes(pid: int) -> int:
    """The high-water mark of ``pid``'s resident set since its exec (VmHWM; 0 once gone).
    Not ``wait4``'s ``ru_maxrss``: that keeps the RSS of the parent it was forked from."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def _child_pids(parent: int) -> list[int]:
    """Processes whose parent is ``parent`` (the ffmpeg decoders of the analysis)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
                found.append(int(name))
    return found


def time_long_pair(pair: dict[str, object], python: str = sys.executable) -> dict[str, object]:
    """Time ffmpeg decoding both files (sequentially, summed) and our full analysis run in a
    child process (``python -m app analyze --json --quiet``). Both files are decoded once
    beforehand so that every timing sees a warm page cache.

    Peak memory: the larger of the process tree's summed RSS (the analysis and its ffmpeg
    decoders, sampled every 50 ms, new decoders looked for every 250 ms) and the analysis
    process's own high-water mark (the kernel's VmHWM, read at every sample: a short peak
    between samples is not missed). The sampler reads /proc directly: psutil's tree walk
    every 20 ms took ~8 % of a core from the analysis it measured."""
    master, dub = str(pair["master"]), str(pair["dub"])
    for p in (master, dub):
        _decode_seconds(p)  # warm the page cache
    dec_m = _decode_seconds(master)
    dec_d = _decode_seconds(dub)
    cmd = [python, "-m", "app", "analyze", master, dub, "--json", "--quiet"]
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.perf_counter()
        # Files, not pipes: a large JSON answer must never block the child on a full pipe.
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=root)
        tree_peak = own_peak = polls = 0
        children: list[int] = []
        while proc.poll() is None:
            if polls % 5 == 0:  # the decoders live for seconds: look for new ones every 250 ms
                children = _child_pids(proc.pid)
            polls += 1
            tree_peak = max(tree_peak,
                            _rss_bytes(proc.pid) + sum(_rss_bytes(c) for c in children))
            own_peak = max(own_peak, _peak_rss_bytes(proc.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        peak = max(tree_peak, own_peak)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    result: dict[str, object] = {}
    try:
        result = json.loads(out)
    except json.JSONDecodeError:
        result = {"error": (err.decode(errors="replace") or "no output")[-800:]}
    est = result.get("offset_seconds")
    true = _num(pair["true_offset"])
    decode = dec_m + dec_d
    return {
        "minutes": pair["minutes"],
        "decode_master_seconds": dec_m,
        "decode_dub_seconds": dec_d,
        "decode_seconds": decode,
        "analysis_seconds": wall,
        "ratio": wall / decode,
        "peak_rss_bytes": peak,
        "true_offset": true,
        "offset": est,
        "abs_error_ms": abs(float(est) - true) * 1e3 if isinstance(est, int | float) else None,
        "verdict": result.get("verdict"),
        "reliable": result.get("reliable"),
        "confidence": result.get("confidence"),
        "timings": result.get("timings") or {},
        "error": result.get("error") or (None if proc.returncode == 0 else f"rc={proc.returncode}"),
    }


def _num(x: object) -> float:
    return float(x) if isinstance(x, int | float | str) else float("nan")


def format_speed(r: dict[str, object]) -> str:
    """The speed test as text, targets beside the figures."""
    gb = _num(r["peak_rss_bytes"]) / 1e9
    ratio = _num(r["ratio"])
    err = r.get("abs_error_ms")
    err_text = "-" if err is None else f"{_num(err):.3f} ms"
    return "\n".join(
        [
            f"Speed: {_num(r['minutes']):g}-min pair "
            "(master 5.1 PCM 24-bit WAV 48 kHz, dub stereo AAC 192k)",
            f"  ffmpeg decode alone  : {_num(r['decode_seconds']):7.1f} s  (master "
            f"{_num(r['decode_master_seconds']):.1f} s + dub "
            f"{_num(r['decode_dub_seconds']):.1f} s, sequential)",
            f"  full analysis        : {_num(r['analysis_seconds']):7.1f} s",
            f"  ratio analysis/decode: {ratio:7.2f}    target <= 1.2   "
            f"{'OK' if ratio <= 1.2 else 'MISSED'}",
            f"  peak memory (analysis process + its ffmpeg decoders): {gb:.2f} GB    "
            f"target <= 1.5 GB   {'OK' if gb <= 1.5 else 'MISSED'}",
            f"  answer: offset {r['offset']} s (true {_num(r['true_offset']):.7f} s), "
            f"|err| {err_text}, verdict {r['verdict']}, reliable {r['reliable']}"
            + (f", error: {r['error']}" if r.get("error") else ""),
        ]
    )
