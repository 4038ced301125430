"""Runs inside bench/.venv-peers: times the peers on the jobs of a JSON file (argv[1]).

Job: {"tool": "aof"|"syncstart", "master": path, "dub": path}. Jobs come from a file, not
stdin, because the peers start ffmpeg without -nostdin and ffmpeg would eat stdin.
Output line: {"raw": ..., "offset": float|None (our sign: > 0 = dub late), "score": float|None,
"seconds": wall time, "error": str|None}. Kept free of the project's imports on purpose.
"""

import contextlib
import io
import json
import sys
import time

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


def main():
    tools = {"aof": run_aof, "syncstart": run_syncstart}
    with open(sys.argv[1]) as f:
        jobs = json.load(f)
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
