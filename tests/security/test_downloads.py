"""Downloads name any file exactly, and listening streams cannot leak ffmpeg or pile up.

The real app runs in uvicorn on a loopback port in a thread of the test process (real HTTP,
so a header uvicorn refuses shows up as a dropped connection, and the ffmpeg processes of the
proxy are children of this process). Files named in Japanese, with a ``"`` and with a newline
go through every download route (raw, proxy-audio, upload + raw, formatted report, repair,
workflow, batch CSV): each answers 200 with a well-formed RFC 6266 ``Content-Disposition``
whose name (``filename*``, RFC 5987, when the name is not plain ASCII) decodes to the exact
name. A proxy that fails after ffmpeg started (422, or a failure while building the response,
or a response never sent) leaves no ffmpeg behind and hands its slot back; past
PROXY_MAX_CONCURRENT open streams the route answers 503 ``proxy_busy`` with Retry-After.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import email.message
import email.utils
import gc
import io
import os
import re
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import numpy as np
import psutil
import pytest
import uvicorn
from fastapi import FastAPI

import app.api.v1.endpoints.files as files_endpoint
from app.api.v1.downloads import content_disposition
from app.core.config import Settings
from app.services.files import FileService
from main import create_app
from tests.conftest import _programme, _shift, write_audio

JP = "吹替_日本語.wav"
QUOTE = 'dub "final" v2.wav'
NEWLINE = "dub\nsecond line.wav"
NAMES = (JP, QUOTE, NEWLINE)
OFFSET = 0.25
FILES = "/api/v1/files"
TERMINAL = {"completed", "failed", "cancelled", "interrupted"}

# RFC 6266 as this service sends it: a type, a quoted ASCII fallback, optionally filename*
_CD = re.compile(r"(?P<type>attachment|inline); filename=\"(?P<fallback>[ !#-:<-\[\]-~]+)\""
                 r"(?:; filename\*=UTF-8''(?P<ext>[A-Za-z0-9!#$&+\-.^_`|~%]+))?")


# --- the server ----------------------------------------------------------------------------
@dataclass
class LiveServer:
    app: FastAPI
    base_url: str
    loop: asyncio.AbstractEventLoop

    @property
    def files(self) -> FileService:
        return self.app.state.services.files  # type: ignore[no-any-return]


@contextlib.contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The real app in uvicorn (httptools) on 127.0.0.1, in a thread of this process."""
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           lifespan="on"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(server.serve(),),
                              name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn not started after 30 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield LiveServer(app, f"http://127.0.0.1:{port}", loop)
    finally:
        server.should_exit = True
        thread.join(30)
        loop.close()


# --- media -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def names_media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 s programme and its dub (late by OFFSET), the dub under each hostile name, a text
    file, a WAV with no samples, and 10 minutes of silence (FLAC, for streams held open)."""
    root = tmp_path_factory.mktemp("names")
    master = _programme(10.0, seed=21)
    write_audio(root / "master.wav", master)
    dub = write_audio(root / "dub.wav", _shift(master, OFFSET, seed=22))
    for name in NAMES:
        os.link(dub, root / name)
    (root / "notes.txt").write_text("not audio\n")
    with wave.open(str(root / "empty.wav"), "wb") as w:  # a valid header, no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=mono", "-t", "600", "-c:a", "flac",
                    str(root / "silence.flac")], check=True)
    return root


@pytest.fixture
def settings_for(make_settings: Callable[..., Settings], names_media: Path
                 ) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        return make_settings(MOUNT_PATH=names_media, **overrides)

    return make


# --- checks ----------------------------------------------------------------------------------
def served_name(response: httpx.Response, disposition: str) -> str:
    """The file name a client reads from ``Content-Disposition``, after checking the header is
    well formed: the type, an ASCII fallback without ``"``/``\\``/``;``, and ``filename*``
    (UTF-8, strict percent-decoding) when the name is not plain ASCII. Python's own RFC 2231
    decoder (the email package) must read the same extended name."""
    assert response.status_code == 200, response.text[:500]
    raw = response.headers.get_list("content-disposition")
    assert len(raw) == 1, raw
    value = raw[0]
    match = _CD.fullmatch(value)
    assert match, f"malformed Content-Disposition: {value!r}"
    assert match["type"] == disposition, value
    ext = match["ext"]
    name = unquote(ext, encoding="utf-8", errors="strict") if ext else match["fallback"]
    msg = email.message.Message()
    msg["Content-Disposition"] = value
    extended = [email.utils.collapse_rfc2231_value(v)
                for k, v in msg.get_params(header="content-disposition") or []
                if k == "filename" and isinstance(v, tuple)]
    assert extended == ([name] if ext else []), (value, extended)
    return name


def transcoders(marker: str) -> list[psutil.Process]:
    """ffmpeg children of this process whose command line names ``marker``, zombies included
    (a zombie is a process nobody reaped)."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "ffmpeg" in p.name() and marker in " ".join(p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            continue
        except psutil.ZombieProcess:
            found.append(p)
    return found


def wait_until(check: Callable[[], bool], what: Callable[[], Any], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what()
        time.sleep(0.02)


def no_transcoder_left(live: LiveServer, marker: str) -> None:
    wait_until(lambda: not transcoders(marker) and live.files.proxies_open == 0,
               lambda: (transcoders(marker), live.files.proxies_open))


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code, body
    return body["error"]  # type: ignore[no-any-return]


def poll(client: httpx.Client, url: str, done: Callable[[dict[str, Any]], bool],
         timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(url)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        if done(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


# --- the header itself -----------------------------------------------------------------------
class TestContentDisposition:
    @pytest.mark.parametrize("name", [*NAMES, "a;b\\c\r\n.wav", "100% done.wav", "plain.wav",
                                      "caf\udce9.wav"])
    def test_ascii_fallback_and_exact_name(self, name: str) -> None:
        value = content_disposition(name, "inline")
        value.encode("ascii")  # never fails: any name gives a sendable header
        match = _CD.fullmatch(value)
        assert match and match["type"] == "inline", value
        if name == "plain.wav":
            assert value == 'inline; filename="plain.wav"'
            return
        assert match["ext"], value
        decoded = unquote(match["ext"], encoding="utf-8", errors="surrogateescape")
        assert decoded == name

    def test_only_attachment_or_inline(self) -> None:
        with pytest.raises(ValueError):
            content_disposition("a.wav", 'attachment; filename="x"')


# --- every download route --------------------------------------------------------------------
class TestEveryDownloadRoute:
    def test_hostile_names_download_with_their_exact_names(
            self, settings_for: Callable[..., Settings], names_media: Path) -> None:
        settings = settings_for()
        with live_server(settings) as live, httpx.Client(base_url=live.base_url,
                                                         timeout=60) as c:
            for name in NAMES:
                # raw: the file as it is
                r = c.get(f"{FILES}/raw", params={"path": name})
                assert served_name(r, "inline") == name
                assert r.content == (names_media / name).read_bytes()
                # proxy-audio: the same name with the format's extension
                r = c.get(f"{FILES}/proxy-audio", params={"path": name, "format": "mp3",
                                                          "duration": 1})
                assert served_name(r, "inline") == Path(name).stem + ".mp3"
                assert r.headers["content-type"] == "audio/mpeg" and len(r.content) > 1000

            # an upload keeps a Japanese name, and is downloaded under it
            r = c.post(f"{FILES}/upload",
                       files={"file": (JP, (names_media / JP).read_bytes(), "audio/wav")})
            assert r.status_code == 201, r.text
            stored = r.json()
            assert stored["name"] == JP
            assert served_name(c.get(stored["links"]["raw"]), "inline") == JP
            r = c.get(f"{FILES}/proxy-audio", params={"path": stored["path"], "format": "opus"})
            assert served_name(r, "inline") == Path(JP).stem + ".opus"

            # a CSV batch of the three dubs: its CSV export, and each item's report
            buf = io.StringIO()
            out = csv.writer(buf, lineterminator="\n")
            out.writerow(["master_file", "dub_file", "methods", "max_offset_seconds"])
            for name in NAMES:
                out.writerow(["master.wav", name, "correlation", "5"])
            r = c.post("/api/v1/analysis/batch/upload-csv", content=buf.getvalue().encode(),
                       headers={"Content-Type": "text/csv"})
            assert r.status_code == 201, r.text
            batch_id = r.json()["batch_id"]
            assert c.post(f"/api/v1/analysis/batch/{batch_id}/start").status_code == 202
            done = poll(c, f"/api/v1/analysis/batch/{batch_id}/status",
                        lambda b: b["status"] in TERMINAL)
            assert done["status"] == "completed", done
            r = c.get(f"/api/v1/analysis/batch/{batch_id}/results", params={"format": "csv"})
            assert served_name(r, "attachment") == f"{batch_id}_results.csv"
            rows = list(csv.DictReader(io.StringIO(r.text)))
            assert [row["dub_file"] for row in rows] == list(NAMES)
            for item in done["items"]:
                assert abs(item["offset_seconds"] - OFFSET) < 0.001, item
                aid = item["analysis_id"]
                r = c.get(f"/api/v1/reports/{aid}/formatted",
                          params={"format": "html", "download": "true"})
                assert served_name(r, "attachment") == f"{aid}.html"
                r = c.get(f"/api/v1/reports/{aid}/formatted", params={"format": "text"})
                assert served_name(r, "inline") == f"{aid}.txt"

            # a repair of each dub, downloaded
            for name in NAMES:
                r = c.post("/api/v1/repair/per-channel", json={
                    "dub_file": name, "master_file": "master.wav",
                    "offsets_seconds": [OFFSET]})
                assert r.status_code == 201, r.text
                output = r.json()["outputs"][0]
                r = c.get(output["download"])
                assert served_name(r, "attachment") == output["name"]
                assert len(r.content) > 44

            # the analyse-and-repair workflow of the Japanese dub: every file it offers
            r = c.post("/api/v1/workflows/analyze-and-repair", json={
                "master_file": "master.wav", "dub_file": JP, "match_master_duration": True})
            assert r.status_code == 202, r.text
            wid = r.json()["workflow_id"]
            wf = poll(c, f"/api/v1/workflows/{wid}/status", lambda b: b["status"] in TERMINAL,
                      timeout=120)
            assert wf["status"] == "completed" and wf["outcome"] == "repaired", wf
            folder = settings.output_root / "workflows" / wid
            assert {"repaired", "report", "formatted", "package"} <= set(wf["files"])
            for url in wf["files"].values():
                r = c.get(url)
                name = served_name(r, "attachment")
                assert r.content == (folder / name).read_bytes(), (url, name)
            no_transcoder_left(live, str(names_media))


# --- ffmpeg never outlives its stream ---------------------------------------------------------
class TestProxyCleanup:
    def test_failed_starts_leave_no_ffmpeg_and_no_slot(
            self, settings_for: Callable[..., Settings], names_media: Path) -> None:
        with live_server(settings_for(PROXY_MAX_CONCURRENT=1)) as live, \
                httpx.Client(base_url=live.base_url, timeout=30) as c:
            # ffmpeg starts, then produces nothing: 422 with ffmpeg's exit status
            for _ in range(3):  # with one slot: each failure handed it back
                err = error(c.get(f"{FILES}/proxy-audio", params={"path": "empty.wav",
                                                                   "format": "aac"}),
                            422, "audio_decode_error")
                assert "ffmpeg produced no audio" in err["message"]
                no_transcoder_left(live, "empty.wav")
            # not audio at all: refused before ffmpeg
            error(c.get(f"{FILES}/proxy-audio", params={"path": "notes.txt"}), 422,
                  "audio_decode_error")
            no_transcoder_left(live, "notes.txt")
            r = c.get(f"{FILES}/proxy-audio", params={"path": JP, "duration": 0.5})
            assert served_name(r, "inline") == Path(JP).stem + ".mp3"
            no_transcoder_left(live, str(names_media))

    def test_a_response_that_cannot_be_built_closes_its_stream(
            self, settings_for: Callable[..., Settings], names_media: Path,
            monkeypatch: pytest.MonkeyPatch) -> None:
        def broken(*_: Any, **__: Any) -> str:
            raise RuntimeError("header construction failed")

        monkeypatch.setattr(files_endpoint, "content_disposition", broken)
        with live_server(settings_for(PROXY_MAX_CONCURRENT=1)) as live:
            for _ in range(2):  # with one slot: the failure handed it back
                # a new connection each time: uvicorn closes one whose app raised
                r = httpx.get(f"{live.base_url}{FILES}/proxy-audio",
                              params={"path": "silence.flac"}, timeout=30)
                error(r, 500, "internal_error")
                no_transcoder_left(live, "silence.flac")

    def test_a_stream_never_sent_is_ended_when_dropped(
            self, settings_for: Callable[..., Settings]) -> None:
        with live_server(settings_for(PROXY_MAX_CONCURRENT=1)) as live:
            future = asyncio.run_coroutine_threadsafe(
                live.files.open_proxy("silence.flac", fmt="wav"), live.loop)
            stream = future.result(30)
            del future
            ffmpeg = psutil.Process(stream.process.pid)
            assert ffmpeg.is_running() and live.files.proxies_open == 1
            del stream  # the response it was for is never sent
            gc.collect()
            no_transcoder_left(live, "silence.flac")
            assert not ffmpeg.is_running()


class TestProxyCap:
    def test_past_the_cap_503_with_retry_after_then_slots_come_back(
            self, settings_for: Callable[..., Settings], names_media: Path) -> None:
        cap = 2
        with live_server(settings_for(PROXY_MAX_CONCURRENT=cap)) as live, \
                httpx.Client(base_url=live.base_url, timeout=30) as c:
            params = {"path": "silence.flac", "format": "wav"}  # 115 MB: never all buffered
            with contextlib.ExitStack() as held:
                readers = []
                for _ in range(cap):
                    r = held.enter_context(c.stream("GET", f"{FILES}/proxy-audio",
                                                    params=params))
                    assert served_name(r, "inline") == "silence.wav"
                    chunks = r.iter_bytes()  # kept referenced: see test_files' disconnect test
                    assert next(chunks)
                    readers.append(chunks)
                assert len(transcoders("silence.flac")) == cap
                assert live.files.proxies_open == cap
                r = c.get(f"{FILES}/proxy-audio", params=params)
                err = error(r, 503, "proxy_busy")
                assert int(r.headers["retry-after"]) > 0
                assert err["details"] == {"open": cap, "max_concurrent": cap}
                assert "PROXY_MAX_CONCURRENT=2" in err["message"]
                assert len(transcoders("silence.flac")) == cap  # the refusal started none
            # the clients went away: their ffmpeg killed and reaped, their slots back
            no_transcoder_left(live, "silence.flac")
            r = c.get(f"{FILES}/proxy-audio", params={**params, "duration": 0.5})
            assert served_name(r, "inline") == "silence.wav"
            assert r.content[:4] == b"RIFF"
            assert len(r.content) == pytest.approx(44 + 0.5 * 48000 * 2, abs=1024)  # mono
            np.testing.assert_array_equal(np.frombuffer(r.content[-4000:], np.int16), 0)
            no_transcoder_left(live, "silence.flac")
