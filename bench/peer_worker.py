"""Runs inside bench/.venv-peers: times the peers on the jobs of a JSON file (argv[1]).

Job: {"tool": "aof"|"syncstart"|"describealign", "master": path, "dub": path}. Jobs come from
a file, not stdin, because the peers start ffmpeg without -nostdin and ffmpeg would eat stdin.
Output line: {"raw": ..., "offset": float|None (our sign: > 0 = dub late), "score": float|None,
"seconds": wall time, "error": str|None}. Kept free of the project's imports on purpose.
"""

import contextlib
import importlib
import io
import json
import sys
import time

MODULES = {"aof": "audio_offset_finder.audio_offset_finder", "syncstart": "syncstart",
           "describealign": "describealign"}
SYNCSTART_TAKE = 90  # seconds; syncstart's default 20 s cannot see offsets beyond ~20 s


def run_aof(master, dub):
    from audio_offset_finder.audio_offset_finder import find_offset_between_files

    # "--within master --find-offset-of dub": time_offset > 0 means the dub's start lies
    # that far into the master, i.e. the dub is EARLY -> our offset is -time_offset.
    res = find_offset_between_files(master, dub, fs=8000, hop_length=128)
    return res["time_offset"], -float(res["time_offset"]), float(res["standard_score"])


def run_syncstart(master, dub):
    import syncstart

    sys.argv = ["syncstart", master, dub, "-q", "-s", "-t", str(SYNCSTART_TAKE)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        file, seconds = syncstart.file_offset()
    # syncstart names the file whose head must be cut: the dub -> dub late (+), else (-).
    sign = 1.0 if file == dub else -1.0
    return [file, seconds], sign * float(seconds), None


def run_describealign(master, dub):
    """describealign 2.1.1's own pipeline up to its alignment, as combine() runs it for two
    audio files (--stretch_audio: 2 channels at 44.1 kHz, its energy / zero-crossing /
    band features, align()), without rendering the output media. Its ffmpeg getter would
    download a static build (static_ffmpeg): the system ffmpeg is used instead, as for the
    other peers.

    align() returns piecewise-linear nodes: dub ("audio description") times x and master
    ("video") times y; its plot labels x − y "seconds behind video", i.e. > 0 = the dub is
    late, our sign (verified on generated cases, see bench/README.md).
    """
    import describealign as da

    da.get_ffmpeg = lambda: "ffmpeg"
    da.get_ffprobe = lambda: "ffprobe"
    with contextlib.redirect_stdout(io.StringIO()):
        feats = []
        for path in (master, dub):
            arr = da.parse_audio_from_file(path, 2)
            energy = da.get_energy(arr)
            feats.append(([energy, da.get_zero_crossings(arr)] + da.get_freq_bands(arr), energy))
            del arr
        (vf, ve), (af, ae) = feats
        x, y, similarity, _path, median_slope = da.align(vf, af, ve, ae)
    nodes = [[float(a), float(b)] for a, b in zip(x, y, strict=True)]
    raw = {"nodes": nodes, "similarity_percent": float(similarity),
           "median_slope": float(median_slope)}
    return raw, float(x[0] - y[0]), float(similarity)


def main():
    tools = {"aof": run_aof, "syncstart": run_syncstart, "describealign": run_describealign}
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
    for tool in {job["tool"] for job in jobs}:  # imports stay outside the timed calls
        with contextlib.suppress(ImportError):
            importlib.import_module(MODULES[tool])
    for job in jobs:
        t0 = time.perf_counter()
        try:
            raw, offset, score = tools[job["tool"]](job["master"], job["dub"])
            doc = {"raw": raw, "offset": offset, "score": score, "error": None}
        except BaseException as exc:  # peers may sys.exit() on ffmpeg errors
            doc = {
                "raw": None,
                "offset": None,
                "score": None,
                "error": f"{type(exc).__name__}: {exc}"[:500],
            }
        doc["seconds"] = time.perf_counter() - t0
        print(json.dumps(doc), flush=True)


if __name__ == "__main__":
    main()
