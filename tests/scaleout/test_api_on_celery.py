"""The API's own tests of submission, results, batches, progress streams and cancellation, run
again with ``JOB_BACKEND=celery``: the analyses run in the two worker processes, on PostgreSQL,
their events come back through Redis (``make_settings`` of ``tests/scaleout/conftest.py``).

Left out: tests that need a single local thread to keep an analysis queued (MAX_WORKERS=1) or
an empty database; ``test_celery.py`` covers those cases with both workers busy.
"""

from __future__ import annotations

from tests.api import test_analysis, test_cancel, test_stream


class TestSubmitSyncOnCelery(test_analysis.TestSubmitSync):
    """Submit → live progress → result with the right offset, both signs, path forms."""


class TestBatchOnCelery(test_analysis.TestBatch):
    """A JSON batch runs every pair on the workers."""

    test_batch_is_all_or_nothing = None  # asserts an empty database (shared here)
    test_batch_size_limit = None  # validation only: nothing reaches a worker


class TestProgressStreamOnCelery(test_stream.TestProgressStream):
    """Five subscribers see the same gap-free events of an analysis run by a worker."""

    test_keepalive_pings_while_queued = None  # needs MAX_WORKERS=1 to stay queued


class TestCancelOnCelery(test_cancel.TestCancel):
    """A running analysis on a worker is cancelled within the API's promise, at decode,
    during feature extraction (grace period) and while refining."""

    test_cancel_a_queued_analysis = None  # needs MAX_WORKERS=1 to stay queued
