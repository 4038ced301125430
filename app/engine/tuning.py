"""Process-wide tuning of a process that runs analyses: BLAS single-threaded
(:mod:`app.engine.threads`) and the allocator's thresholds (:mod:`app.engine.memory`).

Importing the engine changes nothing of the process; each entry point calls
:func:`tune_process` once: the API's lifespan (``main.py``), the Celery worker's init
(``app/worker.py``), the command line (``app/cli.py``) and the bench scripts.
"""

from __future__ import annotations

from app.engine.memory import tune_allocator
from app.engine.threads import limit_blas_threads

__all__ = ["tune_process"]


def tune_process() -> dict[str, object]:
    """Limit BLAS threads (``ENGINE_BLAS_THREADS``, default 1) and set the allocator's
    thresholds (``ENGINE_MALLOC_TUNING=0`` leaves them); returns what was applied."""
    return {"blas_threads": limit_blas_threads(), "allocator_tuned": tune_allocator()}
