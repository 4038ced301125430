"""The commands of BATCH_PROCESSING_EXAMPLES.md run, in order, against a live uvicorn, and
print what the document shows."""

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
TEXT = re.compile(r"```text\n(.*?)```", re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_batch_examples_are_real(make_settings: Callable[..., Settings], media_dir: Path,
                                 tmp_path: Path) -> None:
    mount = tmp_path / "mount"
    for src, dst in (("master.wav", "ep101_master.wav"), ("dub_late.wav", "ep101_de.wav"),
                     ("dub_early.flac", "ep101_fr.flac"), ("dub_late2.wav", "ep101_es.wav")):
        place_file(media_dir / src, mount / "show" / dst)
    doc = (REPO / "BATCH_PROCESSING_EXAMPLES.md").read_text()
    script = "\n".join(BLOCK.findall(doc))
    work = tmp_path / "work"
    work.mkdir()
    server = UvicornProcess(make_settings(MOUNT_PATH=mount), cwd=tmp_path,
                            log=tmp_path / "uvicorn.log")
    try:
        server.wait_ready()
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work,
                              env={**os.environ, "BASE": server.base_url},
                              capture_output=True, text=True, timeout=240)
    finally:
        server.stop()
    out = proc.stdout
    assert proc.returncode == 0, (out, proc.stderr, server.log.read_text()[-3000:])
    # every output the document shows appears, line for line ("..." ends a shortened line)
    for block in TEXT.findall(doc):
        for line in block.strip().splitlines():
            if line.endswith("..."):
                assert line[:-3] in out, (line, out)
            else:
                assert line in out.splitlines(), (line, out)
    assert re.search(r"^batch_\d{8}_\d{6}_[0-9a-f]{8}$", out, re.M)
    assert (work / "season1_results.csv").exists()
