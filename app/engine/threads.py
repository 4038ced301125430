"""CPU threads of the engine's numeric libraries.

The engine parallelises itself at the level of blocks and tracks (a few threads, FFTs with
``workers=2``); the small matrix products inside (mel filterbanks, 40-band features) gain
nothing from OpenBLAS's own thread pool, whose threads spin while they wait and, on a 2-core
machine, took as much CPU again as the products themselves (60-min log-mel: 1.6 s user with
the pool, 0.7 s without). So BLAS runs single-threaded in the processes that analyse (their
entry points call :func:`app.engine.tuning.tune_process`); ``ENGINE_BLAS_THREADS``
(environment) overrides the count.
"""

from __future__ import annotations

import logging
import os

__all__ = ["limit_blas_threads"]

_logger = logging.getLogger(__name__)


def limit_blas_threads(count: int | None = None) -> int | None:
    """Limit every loaded BLAS library to ``count`` threads (default: the environment's
    ``ENGINE_BLAS_THREADS``, else 1). Returns the limit applied, None when threadpoolctl is
    not installed (then BLAS keeps its default)."""
    if count is None:
        count = int(os.environ.get("ENGINE_BLAS_THREADS", "1") or 1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: the engine still works, only slower on small machines
        _logger.debug("threadpoolctl not installed: BLAS keeps its own thread count")
        return None
    threadpool_limits(limits=count, user_api="blas")
    return count
