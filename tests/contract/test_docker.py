"""The Docker image as the README documents it: ``docker build -t sync-analyzer-api .`` and
``docker run -p 8000:8000 -v /mnt/data:/mnt/data sync-analyzer-api``.

The Dockerfile and .dockerignore are checked everywhere; the image is built and run where a
Docker daemon answers (skipped otherwise)."""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.helpers import REPO, free_port, place_file
from tests.contract.contract import bash_blocks

IMAGE = "sync-analyzer-api-test"


def _instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins (``!`` re-includes)."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        parts = path.split("/")
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), pat) or
                  fnmatch.fnmatch("/".join(parts[:i]), pat.removeprefix("**/")) or
                  fnmatch.fnmatch(parts[i - 1], pat.removeprefix("**/"))
                  for i in range(1, len(parts) + 1))
        if hit:
            ignored = not negate
    return ignored


class TestDockerfile:
    def test_documented_volume_user_healthcheck_and_entry_point(self) -> None:
        instructions = _instructions()
        env = " ".join(rest for word, rest in instructions if word == "ENV")
        assert "MOUNT_PATH=/mnt/data" in env and "HOST=0.0.0.0" in env and "PORT=8000" in env
        users = [rest for word, rest in instructions if word == "USER"]
        assert users and users[-1] not in ("root", "0")
        run = " ".join(rest for word, rest in instructions if word == "RUN")
        assert "useradd --system --uid 10001 --user-group" in run and "mkdir -p /mnt/data" in run
        health = [rest for word, rest in instructions if word == "HEALTHCHECK"]
        assert len(health) == 1 and "/api/v1/health" in health[0]
        cmd = [rest for word, rest in instructions if word == "CMD"][-1]
        assert json.loads(cmd) == ["python", "main.py"]  # HOST/PORT from the settings
        assert ("EXPOSE", "8000") in instructions

    def test_dockerignore_keeps_history_secrets_and_state_out(self) -> None:
        patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
        for path in (".git", ".git/config", ".env", ".env.production", ".venv/bin/python",
                     "data/sync_analyzer.db", "data/uploads/x.wav", "sync_analyzer.db",
                     "uploads/a.wav", "logs/app.log", "test-output/dashboard/a.png",
                     "app/__pycache__/x.pyc", ".pytest_cache/v", "bench/out/r.json",
                     "ai_models/wav2vec2/model.safetensors"):
            assert _ignored(path, patterns), path
        for path in ("main.py", "app/core/config.py", "requirements.txt", ".env.example",
                     "ai_models/README.md", "app/web/static/js/api.js"):
            assert not _ignored(path, patterns), path

    def test_readme_docker_lines_are_the_documented_ones(self) -> None:
        documented = [b for b in bash_blocks() if "docker run" in b][0].strip().splitlines()
        assert documented == ["docker build -t sync-analyzer-api .",
                              "docker run -p 8000:8000 -v /mnt/data:/mnt/data sync-analyzer-api"]
        readme = (REPO / "README.md").read_text()
        for line in documented:
            assert line in readme, line


def _docker_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20,
                              check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    if not _docker_ready():
        pytest.skip("no Docker daemon here")
    build = subprocess.run(["docker", "build", "-t", IMAGE, "."], cwd=REPO,
                           capture_output=True, text=True, timeout=1800, check=False)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield IMAGE
    subprocess.run(["docker", "image", "rm", "-f", IMAGE], capture_output=True, check=False)


@pytest.mark.slow
def test_image_runs_as_documented(image: str, media_dir: Path, tmp_path: Path) -> None:
    """The README's docker run (another host port, the test's folder as /mnt/data): a
    non-root service that analyses /mnt/data/... paths, with no .git, .env or database."""
    data = tmp_path / "mnt-data"
    place_file(media_dir / "master.wav", data / "master.wav")
    place_file(media_dir / "dub_late.wav", data / "dub.wav")
    data.chmod(0o755)
    for f in data.iterdir():
        f.chmod(0o644)
    inside = subprocess.run(["docker", "run", "--rm", image, "sh", "-c",
                             "id -u; test ! -e .git && test ! -e .env && test ! -e data "
                             "&& echo clean"], capture_output=True, text=True, timeout=120,
                            check=False)
    uid, clean = inside.stdout.split()
    assert uid != "0" and clean == "clean", inside.stdout + inside.stderr
    port = free_port()
    run = subprocess.run(["docker", "run", "-d", "-p", f"{port}:8000", "-v",
                          f"{data}:/mnt/data", image], capture_output=True, text=True,
                         timeout=120, check=True)
    container = run.stdout.strip()
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health/live", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, subprocess.run(
                ["docker", "logs", container], capture_output=True, text=True).stdout
            time.sleep(0.5)
        fs = httpx.get(f"{base}/api/v1/health/filesystem", timeout=10).json()
        assert fs["mount"]["path"] == "/mnt/data" and fs["upload"]["writable"] is True
        r = httpx.post(f"{base}/api/v1/analysis/sync", json={
            "master_file": "/mnt/data/master.wav", "dub_file": "/mnt/data/dub.wav",
            "methods": ["correlation"]}, timeout=30)
        assert r.status_code == 202, r.text
        aid = r.json()["analysis_id"]
        deadline = time.monotonic() + 120
        while (body := httpx.get(f"{base}/api/v1/analysis/{aid}", timeout=10).json()
               )["status"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.5)
        assert body["status"] == "completed", body
        assert abs(body["result"]["offset_seconds"] - 0.2345) < 0.001
        inspect = json.loads(subprocess.run(["docker", "inspect", container],
                                            capture_output=True, text=True, check=True).stdout)
        assert inspect[0]["Config"]["Healthcheck"]["Test"][0] == "CMD"
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, check=False)
