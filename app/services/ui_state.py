"""The dashboard's saved state: today its batch queue (pairs being prepared before they are
submitted), validated and stored in the database so it survives reloads and restarts."""

from __future__ import annotations

from typing import Any

from app.api.v1.schemas.ui_state import BatchQueueWrite
from app.core.config import Settings
from app.core.errors import ConflictError, UnprocessableError
from app.db.repository_ui_state import UiStateRepository

__all__ = ["UiStateService", "BATCH_QUEUE_KEY"]

BATCH_QUEUE_KEY = "batch-queue"


class UiStateService:
    """Get, replace and clear the batch queue (optimistic locking through ``version``)."""

    def __init__(self, settings: Settings, repo: UiStateRepository) -> None:
        self.settings = settings
        self.repo = repo

    def get_queue(self) -> dict[str, Any]:
        row = self.repo.get(BATCH_QUEUE_KEY)
        if row is None:
            return {"items": [], "version": 0, "updated_at": None}
        return {"items": row.value.get("items", []), "version": row.version,
                "updated_at": row.updated_at}

    def put_queue(self, body: BatchQueueWrite) -> dict[str, Any]:
        """Replace the queue; 409 when ``expected_version`` is given and is not the stored
        one (another tab saved in between)."""
        limit = self.settings.BATCH_MAX_ITEMS
        if len(body.items) > limit:
            raise UnprocessableError(f"items: {len(body.items)} pairs, at most {limit} "
                                     "(BATCH_MAX_ITEMS)", code="queue_too_large",
                                     details={"max_items": limit})
        ids = [i.id for i in body.items if i.id is not None]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise UnprocessableError(f"items: id(s) {repeated} appear more than once",
                                     code="duplicate_item_id", details={"ids": repeated})
        value = {"items": [i.model_dump(mode="json", exclude_none=True) for i in body.items]}
        row = self.repo.put(BATCH_QUEUE_KEY, value, expected_version=body.expected_version)
        if row is None:
            current = self.get_queue()["version"]
            raise ConflictError(f"the batch queue changed meanwhile (version {current}, "
                                f"expected {body.expected_version}); reload it and try again",
                                code="ui_state_conflict",
                                details={"version": current,
                                         "expected_version": body.expected_version})
        return {"items": row.value["items"], "version": row.version,
                "updated_at": row.updated_at}

    def clear_queue(self) -> dict[str, Any]:
        row = self.repo.put(BATCH_QUEUE_KEY, {"items": []})
        assert row is not None
        return {"items": [], "version": row.version, "updated_at": row.updated_at}
