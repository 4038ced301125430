"""The curl examples of CURL_EXAMPLES.md run, in order, against a live uvicorn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from app.core.config import Settings
from tests.api.helpers import REPO, UvicornProcess, place_file

BLOCK = re.compile(r"```bash\n(.*?)```", re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_examples_are_real(make_settings: Callable[..., Settings], media_dir: Path,
                                tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    place_file(media_dir / "master.wav", mount / "show" / "ep101_master.wav")
    place_file(media_dir / "dub_late.wav", mount / "show" / "ep101_de.wav")
    place_file(media_dir / "dub_early.flac", mount / "show" / "ep101_fr.flac")
    script = "\n".join(BLOCK.findall((REPO / "CURL_EXAMPLES.md").read_text()))
    assert script.count("curl ") >= 15

    server = UvicornProcess(make_settings(MOUNT_PATH=mount), cwd=tmp_path,
                            log=tmp_path / "uvicorn.log")
    try:
        server.wait_ready()
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                              env={**os.environ, "BASE": server.base_url},
                              capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    out = proc.stdout
    assert proc.returncode == 0, (out, proc.stderr, server.log.read_text()[-3000:])
    lines = out.splitlines()
    assert lines[0] == "ok"
    assert any(re.fullmatch(r"analysis_\d{8}_\d{6}_[0-9a-f]{8}", line) for line in lines)
    assert "event: completed" in out and "event: state" in out
    assert "constant_offset 0.2345 5.8625 00:00:00:06" in out
    assert '{"status":"ok"}' in lines
    assert "path_not_allowed" in out and "unknown_method" in out
    assert "\n422\n" in out and "\n404\n" in out and "\n200\n" in out
    assert "'/api/v1/analysis/sync'" in out
