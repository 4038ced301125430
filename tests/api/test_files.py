"""``/api/v1/files`` through the real app, ffmpeg and ffprobe: listing, confinement, uploads,
probe (E-AC-3 made by ffmpeg, synthetic Dolby E), proxy audio and Range requests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pytest

from app.core.config import Settings
from tests.api.helpers import UvicornProcess, running_app, wait_status
from tests.conftest import DUBS, SR

API = "/api/v1/files"


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-y", "-v", "error", *args], check=True)


def ffprobe_json(path: Path) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          "-show_streams", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def dolby_e_pcm(seconds: float, *, seed: int = 3) -> np.ndarray:
    """Stereo 24-bit words (as int32, left-aligned) holding SMPTE 337M Dolby E bursts: Pa/Pb
    sync words, Pc = data type 28, Pd = 3648 words of 24 bits, every 1920 samples (25 fps)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 48000)
    words = rng.integers(0, 1 << 24, size=(n, 2), dtype=np.int64)
    for start in range(0, n - 1, 1920):
        words[start] = (0x96F872, 0xA54E1F)
        words[start + 1] = (28 << 8, 3648 * 24)
    return (words << 8).astype(np.uint32).view(np.int32)


@pytest.fixture(scope="module")
def special_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """E-AC-3 5.1 (raw and in MP4 with a language tag), Dolby E in an 8-channel WAV and as a
    raw SMPTE 337M stream, and a MOV with video and two audio streams."""
    root = tmp_path_factory.mktemp("special")
    files = {"eac3": root / "mix51.eac3", "eac3_mp4": root / "mix51_deu.mp4",
             "dolby_e_wav": root / "dolby_e_8ch.wav", "dolby_e_raw": root / "dolby_e.s337m",
             "mov": root / "clip.mov"}
    tone = "sine=f=440:d=3:r=48000"
    _ffmpeg("-f", "lavfi", "-i", tone, "-af", "pan=5.1(side)|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
            "-c:a", "eac3", "-b:a", "384k", str(files["eac3"]))
    _ffmpeg("-i", str(files["eac3"]), "-c", "copy", "-metadata:s:a:0", "language=deu",
            str(files["eac3_mp4"]))
    rng = np.random.default_rng(5)
    pcm = np.zeros((3 * 48000, 8), np.int32)
    pcm[:, :6] = (rng.standard_normal((3 * 48000, 6)) * 2e7).astype(np.int32) << 8
    pcm[:, 6:] = dolby_e_pcm(3.0)
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "s32le", "-ar", "48000", "-ac", "8",
                    "-i", "pipe:0", "-c:a", "pcm_s24le", str(files["dolby_e_wav"])],
                   input=pcm.tobytes(), check=True)
    raw24 = (dolby_e_pcm(3.0).view(np.uint32) >> 8).astype("<u4").view(np.uint8)
    files["dolby_e_raw"].write_bytes(raw24.reshape(-1, 4)[:, :3].tobytes())
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=320x240:r=25", "-f", "lavfi", "-i",
            "sine=f=300:d=2:r=48000", "-f", "lavfi", "-i", "sine=f=500:d=2:r=48000",
            "-map", "0", "-map", "1", "-map", "2", "-c:v", "mpeg4", "-c:a", "pcm_s16le",
            "-metadata:s:a:1", "language=fra", str(files["mov"]))
    return files


@pytest.fixture
def mount(tmp_path: Path, media_dir: Path, special_media: dict[str, Path]) -> Path:
    """MOUNT_PATH with a programme folder, hidden and non-media files, a symlink inside and
    symlinks leading out (to a file and to a folder)."""
    root = tmp_path / "mount"
    show = root / "show"
    (show / "extras").mkdir(parents=True)
    os.link(media_dir / "master.wav", show / "ep101_master.wav")
    os.link(media_dir / "dub_late.wav", show / "ep101_de.wav")
    for path in special_media.values():
        os.link(path, show / path.name)
    (show / "notes.txt").write_text("not audio\n")
    (show / ".hidden.wav").write_bytes(b"x")
    (show / "de_link.wav").symlink_to(show / "ep101_de.wav")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"secret")
    (root / "escape.wav").symlink_to(outside / "secret.wav")
    (root / "escape_dir").symlink_to(outside, target_is_directory=True)
    return root


@pytest.fixture
def files_settings(make_settings: Callable[..., Settings], mount: Path) -> Settings:
    return make_settings(MOUNT_PATH=mount)


class TestList:
    async def test_sorted_paginated_and_confined(self, files_settings: Settings,
                                                 mount: Path) -> None:
        async with running_app(files_settings) as (_, client):
            root = (await client.get(API)).json()
            assert root["root"] == "mount" and root["relative_path"] == ""
            assert root["parent"] is None
            assert [e["name"] for e in root["items"]] == ["show"]  # escapes are not shown

            r = await client.get(API, params={"path": "show"})
            assert r.status_code == 200, r.text
            body = r.json()
            names = [e["name"] for e in body["items"]]
            assert names[0] == "extras" and body["items"][0]["type"] == "directory"
            assert names[1:] == sorted(names[1:], key=str.casefold)
            assert ".hidden.wav" not in names and body["total"] == len(names)
            entries = {e["name"]: e for e in body["items"]}
            de = entries["ep101_de.wav"]
            assert de["is_audio"] and de["media"] == "audio" and not de["is_video"]
            assert de["size_bytes"] == (mount / "show" / "ep101_de.wav").stat().st_size
            assert de["path"] == str(mount.resolve() / "show" / "ep101_de.wav")
            assert de["relative_path"] == "show/ep101_de.wav" and de["modified"]
            assert entries["clip.mov"]["is_video"] and entries["notes.txt"]["media"] is None
            assert entries["de_link.wav"]["symlink"] is True
            assert body["parent"] == str(mount.resolve())

            page = (await client.get(API, params={"path": "show", "limit": 2,
                                                   "offset": 1})).json()
            assert [e["name"] for e in page["items"]] == names[1:3]
            assert page["total"] == body["total"]
            by_size = (await client.get(API, params={"path": "show", "sort": "size",
                                                      "order": "desc"})).json()["items"]
            sizes = [e["size_bytes"] for e in by_size[1:]]
            assert sizes == sorted(sizes, reverse=True)
            hidden = (await client.get(API, params={"path": "show", "show_hidden": True})).json()
            assert ".hidden.wav" in [e["name"] for e in hidden["items"]]
            slash = await client.get(f"{API}/", params={"path": "show"})
            assert slash.status_code == 200 and slash.json()["total"] == body["total"]

    @pytest.mark.parametrize("path", ["..", "../outside", "/etc", "escape_dir",
                                      "show/../../outside", "/"])
    async def test_folders_outside_are_refused(self, files_settings: Settings,
                                               path: str) -> None:
        async with running_app(files_settings) as (_, client):
            r = await client.get(API, params={"path": path})
            assert r.status_code == 403, r.text
            assert r.json()["error"]["code"] == "path_not_allowed"

    async def test_upload_root_and_bad_folders(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            r = await client.get(API, params={"root": "upload"})
            assert r.status_code == 200 and r.json()["root"] == "upload"
            r = await client.get(API, params={"path": "show/ep101_de.wav"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "not_a_directory"
            r = await client.get(API, params={"path": "nowhere"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "file_not_found"


ESCAPES = ["../../../../etc/passwd", "/etc/passwd", "escape.wav", "escape_dir/secret.wav",
           "show/../../outside/secret.wav", "show/../escape.wav"]


class TestConfinement:
    @pytest.mark.parametrize("endpoint", ["probe", "raw", "proxy-audio"])
    async def test_traversal_and_symlink_escapes(self, files_settings: Settings,
                                                 endpoint: str) -> None:
        async with running_app(files_settings) as (_, client):
            for path in ESCAPES:
                r = await client.get(f"{API}/{endpoint}", params={"path": path})
                assert r.status_code == 403, (path, r.text)
                assert r.json()["error"]["code"] == "path_not_allowed"
                assert "secret" not in r.text or "outside the allowed roots" in r.text
            r = await client.get(f"{API}/{endpoint}", params={"path": "show/a\x00.wav"})
            assert r.status_code == 400
            # a symlink that stays inside the roots is fine
            r = await client.get(f"{API}/{endpoint}", params={"path": "show/de_link.wav"})
            assert r.status_code == 200


def _wav_bytes(seconds: float, tmp: Path) -> bytes:
    path = tmp / "up.wav"
    _ffmpeg("-f", "lavfi", "-i", f"anoisesrc=d={seconds}:r=48000:s=3", "-c:a", "pcm_s16le",
            str(path))
    return path.read_bytes()


def _uploads(settings: Settings) -> list[Path]:
    return sorted(settings.upload_root.glob("*")) if settings.upload_root.exists() else []


class TestUpload:
    async def test_upload_probe_use_and_delete(self, files_settings: Settings,
                                               media_dir: Path) -> None:
        data = (media_dir / "dub_early.flac").read_bytes()
        async with running_app(files_settings) as (_, client):
            r = await client.post(f"{API}/upload", files={
                "file": ("../../Épisode 1 <FR>.flac", data, "audio/flac")})
            assert r.status_code == 201, r.text
            up = r.json()
            assert up["name"] == "Épisode 1 _FR_.flac"
            assert up["original_name"] == "../../Épisode 1 <FR>.flac"
            path = Path(up["path"])
            assert path.parent == files_settings.upload_root / up["file_id"]
            assert path.read_bytes() == data and up["size_bytes"] == len(data)
            assert up["sha256"] == hashlib.sha256(data).hexdigest()
            assert up["probe"]["audio_streams"] == 1
            assert up["probe"]["streams"][0]["codec"] == "flac"
            assert up["content_type"] == "audio/flac" and up["exists"] is True
            assert (await client.get(f"{API}/{up['file_id']}")).json()["sha256"] == up["sha256"]
            assert (await client.get(up["links"]["raw"])).content == data
            assert (await client.get(up["links"]["probe"])).json()["streams"][0]["codec"] \
                == "flac"

            # the stored path is usable as a dub at once
            r = await client.post("/api/v1/analysis/sync", json={
                "master_file": "show/ep101_master.wav", "dub_file": up["path"],
                "methods": ["correlation"]})
            done = await wait_status(client, r.json()["analysis_id"])
            assert abs(done["result"]["offset_seconds"] - DUBS["dub_early.flac"]) < 0.001

            r = await client.delete(f"{API}/{up['file_id']}")
            assert r.status_code == 200 and r.json()["deleted"] is True
            assert not path.exists() and not path.parent.exists()
            r = await client.get(f"{API}/{up['file_id']}")
            assert r.status_code == 404 and r.json()["error"]["code"] == "file_id_not_found"
            assert (await client.get(f"{API}/not-an-id")).status_code == 422

    async def test_in_use_file_is_kept(self, make_settings: Callable[..., Settings],
                                       mount: Path, long_media: Path) -> None:
        os.link(long_media, mount / "long.wav")
        settings = make_settings(MOUNT_PATH=mount, MAX_WORKERS=1)
        async with running_app(settings) as (_, client):
            up = (await client.post(f"{API}/upload", files={
                "file": ("de.wav", (mount / "show" / "ep101_de.wav").read_bytes())})).json()
            blocker = (await client.post("/api/v1/analysis/sync", json={
                "master_file": "long.wav", "dub_file": "long.wav"})).json()["analysis_id"]
            queued = (await client.post("/api/v1/analysis/sync", json={
                "master_file": "show/ep101_master.wav", "dub_file": up["path"]})).json()
            r = await client.delete(f"{API}/{up['file_id']}")
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "file_in_use"
            assert r.json()["error"]["details"]["analysis_ids"] == [queued["analysis_id"]]
            assert Path(up["path"]).exists()
            r = await client.delete(f"{API}/{up['file_id']}", params={"force": True})
            assert r.status_code == 200 and not Path(up["path"]).exists()
            for aid in (queued["analysis_id"], blocker):
                await client.delete(f"/api/v1/analysis/{aid}")

    async def test_over_the_limit_gives_413_and_leaves_nothing(
            self, make_settings: Callable[..., Settings], mount: Path, tmp_path: Path) -> None:
        settings = make_settings(MOUNT_PATH=mount, MAX_FILE_SIZE=100_000)
        data = _wav_bytes(4.0, tmp_path)  # 384 kB
        async with running_app(settings) as (_, client):
            # announced by Content-Length: refused before a byte is stored
            r = await client.post(f"{API}/upload", files={"file": ("big.wav", data)})
            assert r.status_code == 413, r.text
            assert r.json()["error"]["code"] == "file_too_large"
            assert _uploads(settings) == []

            # chunked (no Content-Length): refused while streaming, the partial file removed
            boundary = "sync-analyzer-test-boundary"
            body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
                    f"filename=\"big.wav\"\r\nContent-Type: audio/wav\r\n\r\n").encode() + data \
                + f"\r\n--{boundary}--\r\n".encode()
            seen: list[int] = []

            async def chunks() -> AsyncIterator[bytes]:
                for i in range(0, len(body), 32 * 1024):
                    seen.append(i)
                    yield body[i:i + 32 * 1024]

            r = await client.post(f"{API}/upload", content=chunks(),
                                  headers={"Content-Type": f"multipart/form-data; "
                                                           f"boundary={boundary}"})
            assert r.status_code == 413, r.text
            assert "partial file removed" in r.json()["error"]["message"]
            assert 100_000 // (32 * 1024) <= len(seen) < len(body) // (32 * 1024)
            assert _uploads(settings) == []

            # at the limit exactly: accepted
            small = _wav_bytes(1.0, tmp_path)[:100_000]
            r = await client.post(f"{API}/upload", files={"file": ("fits.wav", small)})
            assert r.status_code == 201, r.text

    async def test_bad_uploads(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            r = await client.post(f"{API}/upload", files={"file": ("notes.txt", b"hello\n")})
            assert r.status_code == 422 and r.json()["error"]["code"] == "audio_decode_error"
            r = await client.post(f"{API}/upload", files={"file": ("empty.wav", b"")})
            assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
            r = await client.post(f"{API}/upload", files={"other": ("a.wav", b"x")})
            assert r.status_code == 400 and r.json()["error"]["code"] == "file_missing"
            r = await client.post(f"{API}/upload", content=b"x",
                                  headers={"Content-Type": "audio/wav"})
            assert r.status_code == 415
            r = await client.post(f"{API}/upload", content=b"garbage",
                                  headers={"Content-Type": "multipart/form-data; boundary=zz"})
            assert r.status_code == 400
            truncated = (b'--zz\r\nContent-Disposition: form-data; name="file"; filename="a.wav"'
                         b"\r\n\r\n" + b"RIFF" * 1000)
            r = await client.post(f"{API}/upload", content=truncated,
                                  headers={"Content-Type": "multipart/form-data; boundary=zz"})
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_multipart"
            assert _uploads(files_settings) == []


class TestProbe:
    async def test_wav_summary_and_raw(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            r = await client.get(f"{API}/probe", params={"path": "show/ep101_de.wav"})
            assert r.status_code == 200, r.text
            p = r.json()
            assert p["container"] == "wav" and abs(p["duration_seconds"] - 30.0) < 0.01
            s = p["streams"][0]
            assert (s["codec"], s["sample_rate"], s["channels"], s["bit_depth"]) == (
                "pcm_s16le", SR, 1, 16)
            assert s["eac3"] is False and s["dolby_e"] is False
            assert p["flags"] == {"eac3": False, "atmos": None, "dolby_e": False}
            assert p["raw"]["streams"][0]["codec_name"] == "pcm_s16le"
            r = await client.get(f"{API}/probe", params={"path": "show/notes.txt"})
            assert r.status_code == 422 and r.json()["error"]["code"] == "audio_decode_error"

    async def test_eac3_made_by_ffmpeg(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            for name in ("mix51.eac3", "mix51_deu.mp4"):
                p = (await client.get(f"{API}/probe", params={"path": f"show/{name}"})).json()
                s = p["streams"][0]
                assert s["codec"] == "eac3" and s["channels"] == 6
                assert s["channel_layout"].startswith("5.1") and s["sample_rate"] == 48000
                assert s["eac3"] is True
                # ffmpeg's encoder writes no JOC: read from the bitstream, not guessed
                assert s["atmos"] is False and "bitstream" in s["atmos_evidence"]
                assert p["flags"] == {"eac3": True, "atmos": False, "dolby_e": False}
            assert s["language"] == "deu"
            shallow = (await client.get(f"{API}/probe", params={
                "path": "show/mix51.eac3", "deep": False})).json()
            assert shallow["streams"][0]["atmos"] is None  # ffprobe 5.1 alone cannot tell

    async def test_dolby_e(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            p = (await client.get(f"{API}/probe", params={"path": "show/dolby_e_8ch.wav"})
                 ).json()
            s = p["streams"][0]
            assert s["codec"] == "pcm_s24le" and s["channels"] == 8 and s["bit_depth"] == 24
            assert s["dolby_e"] is True and s["dolby_e_channels"] == [6, 7]
            assert "1920 samples per frame" in s["dolby_e_evidence"]
            assert p["flags"]["dolby_e"] is True
            p = (await client.get(f"{API}/probe", params={"path": "show/dolby_e.s337m"})).json()
            assert p["streams"][0]["codec"] == "dolby_e" and p["flags"]["dolby_e"] is True

    async def test_video_with_two_audio_streams(self, files_settings: Settings) -> None:
        async with running_app(files_settings) as (_, client):
            p = (await client.get(f"{API}/probe", params={"path": "show/clip.mov"})).json()
            assert p["video_streams"] == 1 and p["audio_streams"] == 2
            assert p["video_frame_rate"] == 25.0
            audio = [s for s in p["streams"] if s["type"] == "audio"]
            assert [s["audio_index"] for s in audio] == [0, 1]
            assert audio[1]["language"] == "fra"


async def _proxy(client: httpx.AsyncClient, tmp: Path, name: str, **params: Any
                 ) -> tuple[httpx.Response, Path]:
    r = await client.get(f"{API}/proxy-audio", params=params)
    out = tmp / name
    out.write_bytes(r.content)
    return r, out


class TestProxyAudio:
    @pytest.mark.parametrize(("fmt", "codec", "mime"), [
        ("wav", "pcm_s16le", "audio/wav"), ("mp3", "mp3", "audio/mpeg"),
        ("opus", "opus", "audio/ogg"), ("aac", "aac", "audio/aac")])
    async def test_formats_decode(self, files_settings: Settings, tmp_path: Path, fmt: str,
                                  codec: str, mime: str) -> None:
        async with running_app(files_settings) as (_, client):
            r, out = await _proxy(client, tmp_path, f"out.{fmt}", path="show/ep101_de.wav",
                                  format=fmt, start=5, duration=3, channels=2)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"].startswith(mime)
            info = ffprobe_json(out)
            s = info["streams"][0]
            assert s["codec_name"] == codec and s["channels"] == 2
            decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", str(out), "-f", "f32le",
                                      "-ac", "1", "-ar", "48000", "pipe:1"],
                                     capture_output=True, check=True).stdout
            assert abs(len(decoded) / 4 / 48000 - 3.0) < 0.1  # the excerpt's length

    async def test_wav_excerpt_is_sample_exact(self, files_settings: Settings, mount: Path,
                                               tmp_path: Path) -> None:
        source = np.frombuffer(subprocess.run(
            ["ffmpeg", "-v", "error", "-i", str(mount / "show" / "ep101_de.wav"), "-f", "s16le",
             "pipe:1"], capture_output=True, check=True).stdout, "<i2")
        async with running_app(files_settings) as (_, client):
            r, out = await _proxy(client, tmp_path, "x.wav", path="show/ep101_de.wav",
                                  format="wav", start=5, duration=2)
            got = np.frombuffer(subprocess.run(
                ["ffmpeg", "-v", "error", "-i", str(out), "-f", "s16le", "pipe:1"],
                capture_output=True, check=True).stdout, "<i2")
            assert got.size == 2 * SR
            assert np.array_equal(got, source[5 * SR:7 * SR])

    async def test_channels_streams_and_refusals(self, files_settings: Settings,
                                                 tmp_path: Path) -> None:
        async with running_app(files_settings) as (_, client):
            r, out = await _proxy(client, tmp_path, "c.wav", path="show/mix51_deu.mp4",
                                  format="wav", channel=2)
            assert r.status_code == 200, r.text
            assert ffprobe_json(out)["streams"][0]["channels"] == 1
            r, out = await _proxy(client, tmp_path, "v.opus", path="show/clip.mov",
                                  format="opus", stream=1)
            assert r.status_code == 200 and ffprobe_json(out)["streams"][0]["codec_name"] \
                == "opus"
            cases = [({"path": "show/ep101_de.wav", "start": 31}, "invalid_parameter"),
                     ({"path": "show/ep101_de.wav", "channel": 3}, "invalid_parameter"),
                     ({"path": "show/mix51.eac3", "format": "mp3", "channels": 6},
                      "invalid_parameter"),
                     ({"path": "show/clip.mov", "stream": 2}, "audio_decode_error"),
                     ({"path": "show/notes.txt"}, "audio_decode_error"),
                     ({"path": "show/dolby_e_8ch.wav"}, "dolby_e_not_playable")]
            for params, code in cases:
                r = await client.get(f"{API}/proxy-audio", params=params)
                assert r.status_code == 422, (params, r.text)
                assert r.json()["error"]["code"] == code, (params, r.text)
            # the PCM channels next to the Dolby E pair stay playable
            r = await client.get(f"{API}/proxy-audio", params={
                "path": "show/dolby_e_8ch.wav", "channel": 0, "format": "wav"})
            assert r.status_code == 200

    async def test_ffmpeg_ends_when_the_client_disconnects(
            self, make_settings: Callable[..., Settings], mount: Path, long_media: Path,
            tmp_path: Path) -> None:
        os.link(long_media, mount / "long.wav")
        server = UvicornProcess(make_settings(MOUNT_PATH=mount), cwd=tmp_path,
                                log=tmp_path / "uvicorn.log")

        def transcoders() -> list[psutil.Process]:
            found = []
            for p in psutil.Process(server.proc.pid).children(recursive=True):
                try:
                    if "long.wav" in " ".join(p.cmdline()) and p.status() != "zombie":
                        found.append(p)
                except psutil.Error:
                    continue
            return found

        try:
            server.wait_ready()
            # 30 minutes of 8-channel PCM (1.4 GB): far more than socket buffers hold, so
            # ffmpeg is still writing, held back by the client, when the client leaves
            with httpx.Client(base_url=server.base_url, timeout=30) as c, c.stream(
                    "GET", f"{API}/proxy-audio", params={"path": "long.wav", "format": "wav",
                                                         "channels": 8}) as r:
                assert r.status_code == 200
                # keep the iterator referenced: a generator dropped after a `break` is closed
                # at once, and with it the connection
                chunks = r.iter_bytes()
                got = 0
                while got <= 64 * 1024:
                    got += len(next(chunks))
                running = transcoders()
                assert len(running) == 1, ([(p.pid, p.name()) for p in psutil.Process(
                    server.proc.pid).children(recursive=True)], server.log.read_text()[-2000:])
            ffmpeg = running[0]

            def alive() -> bool:
                try:
                    return ffmpeg.is_running() and ffmpeg.status() != "zombie"
                except psutil.NoSuchProcess:
                    return False

            deadline = time.monotonic() + 5
            while alive():
                assert time.monotonic() < deadline, server.log.read_text()[-2000:]
                time.sleep(0.05)
        finally:
            server.stop()


class TestRaw:
    async def test_ranges(self, files_settings: Settings, mount: Path) -> None:
        data = (mount / "show" / "ep101_de.wav").read_bytes()
        size = len(data)
        url = f"{API}/raw"
        params = {"path": "show/ep101_de.wav"}
        async with running_app(files_settings) as (_, client):
            full = await client.get(url, params=params)
            assert full.status_code == 200 and full.content == data
            assert full.headers["accept-ranges"] == "bytes"
            assert full.headers["content-type"] in ("audio/x-wav", "audio/wav")
            etag = full.headers["etag"]

            r = await client.get(url, params=params, headers={"Range": "bytes=0-99"})
            assert r.status_code == 206 and r.content == data[:100]
            assert r.headers["content-range"] == f"bytes 0-99/{size}"
            r = await client.get(url, params=params, headers={"Range": "bytes=-100"})
            assert r.status_code == 206 and r.content == data[-100:]
            r = await client.get(url, params=params, headers={"Range": "bytes=1000-"})
            assert r.status_code == 206 and r.content == data[1000:]
            r = await client.get(url, params=params, headers={"Range": "bytes=0-9,20-29"})
            assert r.status_code == 206
            assert r.headers["content-type"].startswith("multipart/byteranges")
            assert data[:10] in r.content and data[20:30] in r.content
            r = await client.get(url, params=params, headers={"Range": "bytes=0-99",
                                                              "If-Range": etag})
            assert r.status_code == 206
            r = await client.get(url, params=params, headers={"Range": "bytes=0-99",
                                                              "If-Range": '"stale"'})
            assert r.status_code == 200 and r.content == data

            r = await client.get(url, params=params, headers={"Range": f"bytes={size}-"})
            assert r.status_code == 416 and r.json()["error"]["code"] == "range_not_satisfiable"
            assert r.headers["content-range"] == f"bytes */{size}"
            for bad in ("items=0-1", "bytes=abc", "bytes=9-3", "bytes="):
                r = await client.get(url, params=params, headers={"Range": bad})
                assert r.status_code == 400, bad
                assert r.json()["error"]["code"] == "invalid_range"
