"""Importing the engine leaves the process as it is (BLAS threads, allocator); the entry points
tune it with :func:`app.engine.tune_process`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import ctypes, json, os, sys
loaded = []
_cdll = ctypes.CDLL
def _spy(name, *a, **k):
    loaded.append(str(name))
    return _cdll(name, *a, **k)
ctypes.CDLL = _spy
import numpy
from threadpoolctl import threadpool_info
def blas():
    return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
before = blas()
import app.engine
after_import = blas()
env = os.environ.get("OPENBLAS_NUM_THREADS")
libc_at_import = [n for n in loaded if "libc" in n]
if sys.argv[1] == "tune":
    app.engine.tune_process()
print(json.dumps({"before": before, "after_import": after_import, "after": blas(),
                  "env": env, "libc_at_import": libc_at_import,
                  "libc": [n for n in loaded if "libc" in n]}))
"""


def _probe(mode: str) -> dict[str, object]:
    # OpenBLAS takes the environment's count, capped at the machine's cores
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "ENGINE_BLAS_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", _PROBE, mode], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300, check=True)
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_importing_the_engine_changes_nothing() -> None:
    r = _probe("import")
    assert r["before"] and r["after_import"] == r["after"] == r["before"], r
    assert r["env"] == "2" and r["libc_at_import"] == [], r  # no mallopt through libc either


def test_the_entry_points_tuning_applies() -> None:
    r = _probe("tune")
    assert r["after_import"] == r["before"] and r["after"] == [1], r
    assert r["libc"], r  # the allocator's thresholds through libc's mallopt
