"""The dashboard's saved state: today its batch queue (pairs being prepared before they are
submitted), validated and stored in the database so it survives reloads and restarts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.core.config import Settings
from app.core.errors import ConflictError, UnprocessableError
from app.db.repository_ui_state import UiStateRepository

__all__ = ["UiStateService", "BatchQueue", "BATCH_QUEUE_KEY"]

BATCH_QUEUE_KEY = "batch-queue"


@dataclass
class BatchQueue:
    """The stored queue: its rows (JSON objects), its version (0 = never saved)."""

    items: list[dict[str, Any]]
    version: int
    updated_at: datetime | None


class UiStateService:
    """Get, replace and clear the batch queue (optimistic locking through ``version``)."""

    def __init__(self, settings: Settings, repo: UiStateRepository) -> None:
        self.settings = settings
        self.repo = repo

    def get_queue(self) -> BatchQueue:
        row = self.repo.get(BATCH_QUEUE_KEY)
        if row is None:
            return BatchQueue([], 0, None)
        return BatchQueue(row.value.get("items", []), row.version, row.updated_at)

    def put_queue(self, items: Sequence[dict[str, Any]], *,
                  expected_version: int | None) -> BatchQueue:
        """Replace the queue with ``items`` (validated rows); 409 when ``expected_version`` is
        given and is not the stored one (another tab saved in between)."""
        limit = self.settings.BATCH_MAX_ITEMS
        if len(items) > limit:
            raise UnprocessableError(f"items: {len(items)} pairs, at most {limit} "
                                     "(BATCH_MAX_ITEMS)", code="queue_too_large",
                                     details={"max_items": limit})
        ids = [i["id"] for i in items if i.get("id") is not None]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise UnprocessableError(f"items: id(s) {repeated} appear more than once",
                                     code="duplicate_item_id", details={"ids": repeated})
        row = self.repo.put(BATCH_QUEUE_KEY, {"items": list(items)},
                            expected_version=expected_version)
        if row is None:
            current = self.get_queue().version
            raise ConflictError(f"the batch queue changed meanwhile (version {current}, "
                                f"expected {expected_version}); reload it and try again",
                                code="ui_state_conflict",
                                details={"version": current,
                                         "expected_version": expected_version})
        return BatchQueue(row.value["items"], row.version, row.updated_at)

    def clear_queue(self) -> BatchQueue:
        row = self.repo.put(BATCH_QUEUE_KEY, {"items": []})
        assert row is not None
        return BatchQueue([], row.version, row.updated_at)
