"""The C allocator's thresholds for the engine's block-wise numeric work.

The engine's hot loops (log-mel blocks, GCC-PHAT refinement batches, timeline windows) make
and drop temporaries of 1-8 MB thousands of times. glibc's defaults serve those from fresh
``mmap`` pages or trim them back to the OS after each block, so every block pays its page
faults again: a 60-minute log-mel took 440 000 minor faults and ~1 s of system time for
0.5 s of arithmetic. Fixed thresholds keep such buffers in the process's heap for reuse
(60-min log-mel: 15 000 faults, 0.05-0.25 s system time); arrays above the mmap threshold
(whole tracks) are still mapped and returned at once. Only glibc has ``mallopt``; elsewhere
this does nothing. ``ENGINE_MALLOC_TUNING=0`` (environment) leaves the defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

__all__ = ["tune_allocator", "MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES"]

_logger = logging.getLogger(__name__)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: allocations from this size up are mapped directly (and unmapped when freed)
MMAP_THRESHOLD_BYTES = 4 << 20
#: free memory kept at the top of a heap before it is given back to the OS
TRIM_THRESHOLD_BYTES = 16 << 20


def tune_allocator() -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring). Returns whether they
    were set."""
    if os.environ.get("ENGINE_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    _logger.debug("allocator thresholds %s", "set" if done else "refused")
    return done
