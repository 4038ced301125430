"""Health of the service and its components: database, ffmpeg, AI models, filesystem, system.

Component status: ``ok``, ``degraded`` (works, with a problem worth fixing), ``error`` (the
service cannot analyse), or ``disabled``. The overall status is the worst of them.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from app.core.config import Settings
from app.db.models import utcnow
from app.db.repository import AnalysisRepository, Database
from app.db.repository_failures import recent_failures
from app.engine import ENGINE_VERSION
from app.services.analysis import AnalysisService

__all__ = ["HealthService", "gpu_info", "tool_version"]

_RANK = {"ok": 0, "disabled": 0, "degraded": 1, "error": 2}
#: a writable folder with less free space than this is full (its component is in error)
MIN_FREE_BYTES = 1024 * 1024
#: failures that say something is wrong with the service, not with a file: health degrades
#: while one happened within RECENT_ERRORS_SECONDS
SYSTEM_ERROR_CODES = frozenset({"internal_error", "disk_full", "ffmpeg_unavailable"})
RECENT_ERRORS_SECONDS = 15 * 60


@functools.lru_cache(maxsize=8)
def tool_version(path: str) -> str | None:
    """First line of ``<tool> -version`` (cached per binary path)."""
    try:
        proc = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=10,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (proc.stdout or "").splitlines()[:1]
    return first[0].strip() if first else None


@functools.lru_cache(maxsize=1)
def gpu_info() -> dict[str, Any] | str:
    """GPUs through NVML (pynvml), else torch.cuda, else nvidia-smi; ``"none"`` without any."""
    if importlib.util.find_spec("pynvml") is not None:
        try:
            import pynvml

            pynvml.nvmlInit()
            try:
                gpus = []
                for i in range(pynvml.nvmlDeviceGetCount()):
                    h = pynvml.nvmlDeviceGetHandleByIndex(i)
                    mem = pynvml.nvmlDeviceGetMemoryInfo(h)
                    name = pynvml.nvmlDeviceGetName(h)
                    gpus.append({"index": i, "name": name.decode() if isinstance(name, bytes)
                                 else str(name), "memory_total_bytes": int(mem.total),
                                 "memory_used_bytes": int(mem.used)})
                if gpus:
                    return {"source": "nvml", "devices": gpus}
            finally:
                pynvml.nvmlShutdown()
        except Exception:  # no driver: fall through to the next source
            pass
    if importlib.util.find_spec("torch") is not None:
        try:
            import torch

            if torch.cuda.is_available():
                return {"source": "torch.cuda", "devices": [
                    {"index": i, "name": torch.cuda.get_device_name(i),
                     "memory_total_bytes": int(torch.cuda.get_device_properties(i).total_memory)}
                    for i in range(torch.cuda.device_count())]}
        except Exception:
            pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run(
                [smi, "--query-gpu=index,name,memory.total,memory.used",
                 "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10,
                check=False).stdout
            gpus = []
            for line in out.strip().splitlines():
                idx, name, total, used = (p.strip() for p in line.split(","))
                gpus.append({"index": int(idx), "name": name,
                             "memory_total_bytes": int(float(total)) * 1024**2,
                             "memory_used_bytes": int(float(used)) * 1024**2})
            if gpus:
                return {"source": "nvidia-smi", "devices": gpus}
        except (OSError, ValueError, subprocess.SubprocessError):
            pass
    return "none"


def _folder(path: Path, *, need_write: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"path": str(path), "exists": path.is_dir()}
    info["readable"] = info["exists"] and os.access(path, os.R_OK | os.X_OK)
    writable = False
    if info["exists"]:
        try:  # a real write, not just the permission bits (read-only mounts, full disks)
            with tempfile.NamedTemporaryFile(dir=path, prefix=".health-"):
                pass
            writable = True
        except OSError:
            writable = False
        usage = shutil.disk_usage(path)
        info.update(free_bytes=usage.free, total_bytes=usage.total)
    info["writable"] = writable
    ok = info["readable"] and (writable or not need_write)
    info["status"] = "ok" if ok else ("error" if need_write or not info["exists"] else "degraded")
    if need_write and info.get("free_bytes", MIN_FREE_BYTES) < MIN_FREE_BYTES:
        info.update(status="error", note=f"disk full: {info['free_bytes']} bytes free")
    return info


class HealthService:
    """Builds the ``/api/v1/health`` report."""

    def __init__(self, settings: Settings, db: Database, repo: AnalysisRepository,
                 analyses: AnalysisService) -> None:
        self.settings = settings
        self.db = db
        self.repo = repo
        self.analyses = analyses
        self.started = time.time()
        psutil.cpu_percent(interval=None)  # prime the counter

    def report(self) -> dict[str, Any]:
        components = {
            "database": self.database(),
            "ffmpeg": self.ffmpeg(),
            "ai-models": self.ai_models(),
            "filesystem": self.filesystem(),
            "jobs": self.jobs(),
            "job-errors": self.job_errors(),
        }
        overall = max((c["status"] for c in components.values()), key=lambda s: _RANK[s])
        overall = "ok" if overall == "disabled" else overall
        return {
            "status": overall,
            "components": {name: c["status"] for name, c in components.items()},
            "service": self.settings.PROJECT_NAME,
            "engine_version": ENGINE_VERSION,
            "uptime_seconds": round(time.time() - self.started, 1),
            **components,
            "system": self.system(),
        }

    def database(self) -> dict[str, Any]:
        url = make_url(self.settings.DATABASE_URL)
        info: dict[str, Any] = {"url": url.render_as_string(hide_password=True),
                                "dialect": url.get_backend_name()}
        try:
            info["latency_ms"] = round(self.db.ping() * 1000, 2)
            info["journal_mode"] = self.db.journal_mode()
            info["analyses"] = self.repo.count_by_status()
            info["status"] = "ok"
        except Exception as exc:
            info.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return info

    def ffmpeg(self) -> dict[str, Any]:
        info: dict[str, Any] = {}
        status = "ok"
        for tool, env in (("ffmpeg", "FFMPEG_BINARY"), ("ffprobe", "FFPROBE_BINARY")):
            path = os.environ.get(env) or shutil.which(tool)
            version = tool_version(path) if path else None
            info[tool] = {"path": path, "version": version}
            if not path or not version:
                status = "error"
                info[tool]["error"] = f"{tool} not found on PATH (apt-get install ffmpeg)"
        info["path"], info["version"] = info["ffmpeg"]["path"], info["ffmpeg"]["version"]
        info["status"] = status
        return info

    def ai_models(self) -> dict[str, Any]:
        from app.services.ai import AiService  # the model registry (issue 7)

        return AiService(self.settings).health()

    def filesystem(self) -> dict[str, Any]:
        mount = _folder(self.settings.mount_root, need_write=False)
        upload = _folder(self.settings.upload_root, need_write=True)
        output = _folder(self.settings.output_root, need_write=True)
        worst = max((mount["status"], upload["status"], output["status"]),
                    key=lambda s: _RANK[s])
        return {"status": worst, "mount": mount, "upload": upload, "output": output}

    def job_errors(self) -> dict[str, Any]:
        """The last failures (analyses, workflows, repairs) of the past hour, with their cause;
        degraded while one of them within RECENT_ERRORS_SECONDS is the service's fault."""
        now = utcnow()
        try:
            recent = recent_failures(self.db, since=now - timedelta(hours=1))
        except Exception as exc:  # the database component reports the outage itself
            return {"status": "ok", "recent": [], "note": f"not readable: {exc}"}
        system = [f for f in recent if f["code"] in SYSTEM_ERROR_CODES and
                  (now - f["finished_at"]).total_seconds() <= RECENT_ERRORS_SECONDS]
        info: dict[str, Any] = {"status": "degraded" if system else "ok", "recent": recent}
        if system:
            info["note"] = f"{system[0]['kind']} {system[0]['id']}: {system[0]['message']}"
        return info

    def jobs(self) -> dict[str, Any]:
        stats = self.analyses.stats()
        stats["status"] = "ok" if stats["accepting"] else "error"
        stats["max_workers"] = self.settings.MAX_WORKERS
        # the job backend (JOB_BACKEND): local, or celery with its broker and workers seen
        backend = self.analyses.runner.health()
        stats["status"] = max(stats["status"], backend.pop("status"), key=lambda s: _RANK[s])
        stats.update(backend)
        return stats

    def system(self) -> dict[str, Any]:
        mem = psutil.virtual_memory()
        proc = psutil.Process()
        try:
            load = [round(v, 2) for v in os.getloadavg()]
        except OSError:  # pragma: no cover - not on Linux
            load = None
        return {
            "cpu_count": psutil.cpu_count(),
            "cpu_percent": psutil.cpu_percent(interval=None),
            "load_average": load,
            "memory": {"total_bytes": mem.total, "available_bytes": mem.available,
                       "percent": mem.percent},
            "process": {"pid": proc.pid, "rss_bytes": proc.memory_info().rss,
                        "threads": proc.num_threads()},
            "gpu": gpu_info(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
        }
