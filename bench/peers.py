"""The PyPI peers (audio-offset-finder, syncstart): their venv and a batch runner."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["PEERS", "PEER_PACKAGES", "ensure_peer_venv", "run_peer"]

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv-peers"
PEER_PACKAGES = ("audio-offset-finder==0.5.5", "syncstart==1.1.1")

#: tool key -> (display name, reliability rule)
PEERS: dict[str, tuple[str, str]] = {
    "aof": ("audio-offset-finder 0.5.5", "reliable = standard score >= 10 (its docs)"),
    "syncstart": ("syncstart 1.1.1 (--take 90)", "no confidence: every answer counts"),
}


def _python() -> Path:
    return VENV / "bin" / "python"


def ensure_peer_venv(log: bool = True) -> Path:
    """Create bench/.venv-peers and pip-install the peers into it on first use."""
    py = _python()
    marker = VENV / ".installed"
    want = " ".join(PEER_PACKAGES)
    if marker.exists() and marker.read_text() == want:
        return py
    if log:
        print(f"setting up {VENV} with {want} (first run only)...", flush=True)
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    marker.write_text(want)
    return py


def run_peer(
    tool: str, pairs: list[tuple[str, str]], *, warmup: tuple[str, str] | None = None
) -> list[dict[str, object]]:
    """Run ``tool`` on each (master, dub) pair in one worker process; one result dict each.

    ``warmup`` is analysed first and not reported (numba/librosa JIT, imports).
    """
    py = ensure_peer_venv()
    jobs = ([warmup] if warmup else []) + pairs
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump([{"tool": tool, "master": m, "dub": d} for m, d in jobs], f)
        f.flush()
        proc = subprocess.run(
            [str(py), str(BENCH / "peer_worker.py"), f.name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            cwd="/tmp",
        )
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if warmup:
        lines = lines[1:]
    while len(lines) < len(pairs):  # the worker itself died
        lines.append(
            {
                "offset": None,
                "score": None,
                "seconds": 0.0,
                "error": f"worker exited {proc.returncode}: {proc.stderr[-300:]}",
            }
        )
    return lines
