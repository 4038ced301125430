"""The PyPI peers (audio-offset-finder, syncstart, describealign): their venv and a batch
runner."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["PEERS", "PEER_PACKAGES", "ensure_peer_venv", "run_peer"]

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-peers"
PEER_PACKAGES = (
    "audio-offset-finder==0.5.5",
    "syncstart==1.1.1",
    # describealign's own dependencies, less wxPython (its optional GUI: no Linux wheel on
    # PyPI, and the import is guarded)
    "ffmpeg-python==0.2.0",
    "static-ffmpeg==3.0",
    "natsort==8.4.0",
    "sortedcontainers==2.4.0",
    "matplotlib>=3.9,<4",
    "platformdirs>=4.2,<5",
)
#: installed with --no-deps (see above)
PEER_PACKAGES_NO_DEPS = ("describealign==2.1.1",)

#: tool key -> (display name, reliability rule)
PEERS: dict[str, tuple[str, str]] = {
    "aof": ("audio-offset-finder 0.5.5", "reliable = standard score >= 10 (its docs)"),
    "syncstart": ("syncstart 1.1.1 (--take 90)", "no confidence: every answer counts"),
    "describealign": (
        "describealign 2.1.1",
        "reliable = an alignment found and similarity >= 20 % (its 'likely mismatched' warning)",
    ),
}


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_peer_venv(log: bool = True) -> Path:
    """Create bench/.venv-peers and pip-install the peers into it on first use."""
    py = _python()
    marker = VENV / ".installed"
    want = " ".join(PEER_PACKAGES + PEER_PACKAGES_NO_DEPS)
    if marker.exists() and marker.read_text() == want:
        return py
    if log:
        print(f"setting up {VENV} with {want} (first run only)...", flush=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", *PEER_PACKAGES_NO_DEPS], check=True
    )
    marker.write_text(want)
    return py


def _worker(py: Path, jobs: list[dict[str, str]], timeout: float | None
            ) -> tuple[list[dict[str, object]], str]:
    """Run ``jobs`` in one worker; its result lines and a note on how it ended."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(jobs, f)
        f.flush()
        try:
            proc = subprocess.run(
                [str(py), str(BENCH / "peer_worker.py"), f.name],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                check=False,
                cwd="/tmp",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
            return lines, f"timed out after {timeout:.0f} s"
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    return lines, f"worker exited {proc.returncode}: {proc.stderr[-300:]}"


def run_peer(
    tool: str,
    pairs: list[tuple[str, str]],
    *,
    warmup: tuple[str, str] | None = None,
    timeout: float | None = None,
) -> list[dict[str, object]]:
    """Run ``tool`` on each (master, dub) pair in one worker process; one result dict each.

    ``warmup`` is analysed first and not reported (numba/librosa JIT, imports). With
    ``timeout`` (s), each pair runs in a worker of its own (no warm-up: imports stay outside
    the timed call anyway) and one that runs longer is killed and reported as an error.
    """
    py = ensure_peer_venv()
    if timeout is not None:
        results = []
        for m, d in pairs:
            t0 = time.perf_counter()
            lines, note = _worker(py, [{"tool": tool, "master": m, "dub": d}], timeout)
            results.append(lines[0] if lines else {
                "offset": None, "score": None, "seconds": time.perf_counter() - t0,
                "error": note})
        return results
    jobs = ([warmup] if warmup else []) + pairs
    lines, note = _worker(py, [{"tool": tool, "master": m, "dub": d} for m, d in jobs], None)
    if warmup:
        lines = lines[1:]
    while len(lines) < len(pairs):  # the worker itself died
        lines.append({"offset": None, "score": None, "seconds": 0.0, "error": note})
    return lines
