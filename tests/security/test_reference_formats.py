"""Playlist and reference formats never take ffmpeg out of the configured roots.

A text file that starts ``#EXTM3U`` (HLS), ``ffconcat version 1.0`` (concat) or ``<MPD`` (DASH)
names other files; if ffmpeg were free to pick its demuxer, probe, analysis and proxy-audio would
read and stream those files from anywhere. Each format is placed in the mount and uploaded under
an audio name, and every route that reads a file must refuse it with 422 ``format_not_allowed``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.core.config import Settings
from app.engine import decode, probe
from app.engine.types import FormatNotAllowedError
from tests.api.helpers import running_app


def _outside(tmp_path: Path) -> Path:
    """A real media file outside every configured root (what an attacker wants to read)."""
    secret = tmp_path / "outside"
    secret.mkdir()
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "sine=f=1000:d=4",
                    "-c:a", "aac", "-f", "mpegts", str(secret / "secret.ts")], check=True)
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "sine=f=1000:d=4",
                    "-c:a", "aac", str(secret / "secret.m4a")], check=True)
    return secret


def _reference_files(secret: Path) -> dict[str, str]:
    """name → content of one file per reference format, each pointing at ``secret``."""
    hls = ("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\n"
           f"file://{secret / 'secret.ts'}\n#EXT-X-ENDLIST\n")
    ffconcat = f"ffconcat version 1.0\nfile 'file:{secret / 'secret.m4a'}'\n"
    dash = ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
            'mediaPresentationDuration="PT4S" minBufferTime="PT1S" '
            'profiles="urn:mpeg:dash:profile:isoff-on-demand:2011"><Period>'
            '<AdaptationSet mimeType="audio/mp4"><Representation id="a" bandwidth="64000" '
            f'codecs="mp4a.40.2"><BaseURL>file://{secret / "secret.m4a"}</BaseURL>'
            '</Representation></AdaptationSet></Period></MPD>\n')
    return {"hls_dub.wav": hls, "hls_dub.m4a": hls, "concat_dub.wav": ffconcat,
            "dash_dub.mxf": dash}


@pytest.fixture
def hostile_mount(tmp_path: Path) -> Path:
    mount = tmp_path / "mount"
    mount.mkdir()
    for name, text in _reference_files(_outside(tmp_path)).items():
        (mount / name).write_text(text)
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=6:s=3",
                    "-ar", "48000", "-c:a", "pcm_s16le", str(mount / "master.wav")], check=True)
    return mount


NAMES = sorted(_reference_files(Path("/x")))


@pytest.mark.parametrize("name", NAMES)
def test_engine_refuses_reference_formats(hostile_mount: Path, name: str) -> None:
    with pytest.raises(FormatNotAllowedError, match="not a media file"):
        probe(hostile_mount / name)
    with pytest.raises(FormatNotAllowedError):
        decode(hostile_mount / name, sample_rate=8000)


def test_engine_still_reads_real_containers(tmp_path: Path) -> None:
    """The whitelist keeps every delivery container: WAV, FLAC, MP4/AAC, MKV, MXF, TS, AC-3."""
    for ext, codec in (("wav", "pcm_s24le"), ("flac", "flac"), ("m4a", "aac"), ("mkv", "flac"),
                       ("mxf", "pcm_s24le"), ("ts", "mp2"), ("ac3", "ac3"), ("mp3", "libmp3lame")):
        out = tmp_path / f"ok.{ext}"
        video = (["-f", "lavfi", "-i", "color=s=64x64:r=25:d=3", "-c:v", "mpeg2video"]
                 if ext == "mxf" else [])  # MXF (OP1a) wants its video stream first
        subprocess.run(["ffmpeg", "-y", "-v", "error", *video, "-f", "lavfi", "-i",
                        "sine=f=500:d=3", "-ar", "48000", "-c:a", codec, str(out)], check=True)
        x = decode(out, sample_rate=8000)
        assert abs(x.size / 8000 - 3.0) < 0.1, ext
        assert float(np.abs(x).max()) > 0.05, ext


async def test_every_route_refuses_reference_formats(
        make_settings: Callable[..., Settings], hostile_mount: Path) -> None:
    settings = make_settings(MOUNT_PATH=hostile_mount)
    async with running_app(settings) as (_, client):
        for name, text in _reference_files(hostile_mount.parent / "outside").items():
            r = await client.get("/api/v1/files/probe", params={"path": name})
            assert r.status_code == 422, (name, r.text)
            assert r.json()["error"]["code"] == "format_not_allowed", r.text
            r = await client.get("/api/v1/files/proxy-audio",
                                 params={"path": name, "format": "wav"})
            assert r.status_code == 422, (name, r.status_code, r.content[:200])
            assert r.json()["error"]["code"] == "format_not_allowed"
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "master.wav", "dub_file": name, "methods": ["correlation"]})
            assert r.status_code == 422, (name, r.text)
            assert r.json()["error"]["code"] == "format_not_allowed", r.text
            r = await client.post("/api/v1/files/upload",
                                  files={"file": (name, text.encode(), "audio/wav")})
            assert r.status_code == 422, (name, r.text)
            assert r.json()["error"]["code"] == "format_not_allowed", r.text
        # nothing of the refused uploads is left behind
        ups = settings.upload_root
        assert not ups.exists() or not any(p.is_file() for p in ups.rglob("*"))
