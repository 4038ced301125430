"""A real scale-out deployment for the tests: redis-server and PostgreSQL on free localhost
ports, and two Celery worker processes (``w1``, ``w2``; one pool process each) consuming the
``analysis`` and ``gpu`` queues. API instances are the real app in this process, with
``JOB_BACKEND=celery`` on the same broker and database. Everything is torn down after the session.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from app.core.config import Settings
from testkit.services import CeleryWorker, PostgresServer, RedisServer, missing_servers

#: the broker's visibility timeout of the test workers: a task of a vanished worker is handed to
#: another worker after this long (production default: 3600 s)
VISIBILITY_TIMEOUT_SECONDS = 8
WORKERS = ("w1", "w2")


class Cluster:
    """The servers and workers of the session, and settings for API instances on them."""

    def __init__(self, redis: RedisServer, postgres: PostgresServer, media: Path,
                 folder: Path) -> None:
        self.redis = redis
        self.postgres = postgres
        self.media = media
        self.folder = folder
        self.engine = create_engine(postgres.url)
        self.env = {k: v for k, v in os.environ.items() if k not in Settings.model_fields}
        self.env.update(self._values(folder / "worker"))
        self.env.update(CELERY_VISIBILITY_TIMEOUT_SECONDS=str(VISIBILITY_TIMEOUT_SECONDS),
                        LOG_LEVEL="INFO")
        self.workers: dict[str, CeleryWorker] = {}

    def _values(self, data: Path) -> dict[str, str]:
        return {"JOB_BACKEND": "celery", "CELERY_BROKER_URL": self.redis.url,
                "DATABASE_URL": self.postgres.url, "MOUNT_PATH": str(self.media),
                "UPLOAD_DIR": str(data / "uploads"), "OUTPUT_DIR": str(data / "output"),
                "AI_MODEL_CACHE_DIR": str(data / "models"), "HEARTBEAT_SECONDS": "0.5",
                "INSTANCE_STALE_SECONDS": "5"}

    def settings(self, **overrides: Any) -> Settings:
        """Settings of an API instance of this deployment."""
        values: dict[str, Any] = {**self._values(self.folder / "api"), "LOG_LEVEL": "WARNING"}
        values.update(overrides)
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    def start_workers(self) -> None:
        """Start the workers that are not running (all at once), wait until they consume."""
        started = []
        for name in WORKERS:
            worker = self.workers.get(name)
            if worker is None or worker.proc.poll() is not None:
                self.workers[name] = worker = CeleryWorker(
                    name, self.env, log=self.folder / f"{name}.log")
                started.append(worker)
        for worker in started:
            worker.wait_ready(self.redis.url)

    def worker_of(self, owner: str | None) -> str | None:
        """The worker name (w1, w2) of an ``owner`` (a worker process's instance id)."""
        return owner.split("@", 1)[0] if owner and "@" in owner else None

    def row(self, job_id: str, table: str = "analyses") -> dict[str, Any]:
        """The stored row of a job (owner, attempts, status ...), straight from SQL."""
        with self.engine.connect() as conn:
            row = conn.execute(text(f"SELECT * FROM {table} WHERE id = :id"),
                               {"id": job_id}).mappings().one()
            return dict(row)

    def rows(self, table: str, status: str) -> list[dict[str, Any]]:
        """The stored rows of a job table in ``status``, newest first."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(text(
                f"SELECT * FROM {table} WHERE status = :s ORDER BY created_at DESC"),
                {"s": status}).mappings()]

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{w.tail(3000)}" for n, w in self.workers.items())

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.engine.dispose()


@pytest.fixture(scope="session")
def cluster(media_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    missing = missing_servers()
    if missing:
        pytest.skip(f"scale-out tests need real servers; missing: {', '.join(missing)} "
                    "(make test-deps installs them)")
    redis = RedisServer()
    postgres: PostgresServer | None = None
    c: Cluster | None = None
    try:
        postgres = PostgresServer()
        c = Cluster(redis, postgres, media_dir, tmp_path_factory.mktemp("scaleout"))
        c.start_workers()
        yield c
    finally:
        if c is not None:
            c.stop()
        if postgres is not None:
            postgres.stop()
        redis.stop()


@pytest.fixture
def workers(cluster: Cluster) -> Cluster:
    """The cluster with both workers running (restarted when a test killed one)."""
    cluster.start_workers()
    return cluster


@pytest.fixture
def make_settings(workers: Cluster, tmp_path: Path) -> Callable[..., Settings]:
    """The API tests' ``make_settings`` for this deployment: the same folders per test, but
    ``JOB_BACKEND=celery`` on the session's broker, PostgreSQL and two workers (so the API's
    own tests can run again on Celery)."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {"UPLOAD_DIR": tmp_path / "uploads",
                                  "OUTPUT_DIR": tmp_path / "output"}
        values.update(overrides)
        return workers.settings(**values)

    return make
