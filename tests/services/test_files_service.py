"""FileService start-up: partial uploads left by a dead process are removed, fresh ones kept."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from app.core.config import Settings
from app.db.repository import Database
from app.db.repository_files import UploadRepository
from app.services.files import FileService


def test_stale_partial_uploads_are_removed(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    settings.ensure_directories()
    stale = settings.upload_root / "file_20250101_120000_00000000"
    fresh = settings.upload_root / "file_20250101_120001_00000001"
    done = settings.upload_root / "file_20250101_120002_00000002"
    for folder in (stale, fresh, done):
        folder.mkdir()
    (stale / ".a.wav.part").write_bytes(b"x")
    old = time.time() - 2 * 3600
    os.utime(stale / ".a.wav.part", (old, old))
    (fresh / ".b.wav.part").write_bytes(b"x")
    (done / "c.wav").write_bytes(b"x")
    db = Database(settings.DATABASE_URL)
    try:
        assert FileService(settings, UploadRepository(db)).start() == 1
    finally:
        db.dispose()
    assert not stale.exists() and fresh.exists() and (done / "c.wav").exists()
