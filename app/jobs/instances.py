"""This process as a registered instance (host, pid, heartbeat) and who else is alive.

Jobs are owned by an instance id. An owner is dead when its heartbeat is older than
INSTANCE_STALE_SECONDS or, on this host, when its process is gone (or is a newer one that reused
its pid); the jobs of a dead owner are recovered by the life cycle.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime, timedelta

import psutil

from app.db.jobs import InstanceRepository
from app.db.models import InstanceRow, utcnow

__all__ = ["Instance", "new_instance_id"]


def new_instance_id(name: str | None = None) -> str:
    """``<name or host>:<pid>:<8 hex>`` (at most 64 characters, the owner column)."""
    return f"{(name or socket.gethostname())[:45]}:{os.getpid()}:{secrets.token_hex(4)}"


class Instance:
    """The instance id of this process, its registration and its view of the others."""

    def __init__(self, repo: InstanceRepository, stale_seconds: float,
                 instance_id: str | None = None) -> None:
        self.repo = repo
        self.id = instance_id or new_instance_id()
        self.hostname = socket.gethostname()
        self.stale_seconds = stale_seconds

    def register(self) -> None:
        self.repo.register(self.id, self.hostname, os.getpid())

    def heartbeat(self) -> None:
        self.repo.heartbeat(self.id)

    def remove(self) -> None:
        self.repo.remove(self.id)

    def alive_and_dead(self) -> tuple[set[str], set[str]]:
        """(ids of live instances, ids of dead ones) among the registered instances; dead ones
        long gone are forgotten."""
        stale_before = utcnow() - timedelta(seconds=self.stale_seconds)
        alive: set[str] = set()
        dead: set[str] = set()
        for inst in self.repo.all():
            (alive if self._is_alive(inst, stale_before) else dead).add(inst.id)
        if dead:
            self.repo.prune(utcnow() - timedelta(seconds=10 * self.stale_seconds))
        return alive, dead

    def _is_alive(self, inst: InstanceRow, stale_before: datetime) -> bool:
        if inst.id == self.id:
            return True
        if inst.heartbeat_at < stale_before:
            return False
        if inst.hostname != self.hostname:
            return True
        try:  # same host: the process must exist and have started before the instance did
            created = datetime.fromtimestamp(psutil.Process(inst.pid).create_time(), UTC)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
            return False
        return created <= inst.started_at + timedelta(seconds=1)
