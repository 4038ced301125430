"""Streamed body limits, key redaction and what error bodies may say, through a real uvicorn
process over real HTTP:

- a chunked body (no Content-Length) far over its limit — a multipart or raw batch CSV, a file
  upload (its file part or another field), a JSON body — is refused with 413 in the usual JSON
  shape as soon as the limit is crossed: the server reads (and spools) at most about the limit
  plus a chunk (counted by the kernel: the process' read/write byte counters) and closes;
- ``?api%5Fkey=…`` and the other spellings of the key parameter are masked in the access log;
- error bodies and stored job errors name a file as the user gave it: never a symlink's target,
  the absolute roots, the server's PID or host name.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from app.core.config import Settings
from app.core.logging import redact_api_keys
from app.services.batch import CSV_MAX_BYTES
from tests.api.helpers import UvicornProcess, free_port

WRITE_KEY = "limits-write-key-0001"
READ_KEY = "READSECRETkey0042"
MAX_FILE_SIZE = 4 * 1024 * 1024  # the 30 s test WAVs (2.9 MB) fit
MAX_REQUEST_BODY = 64 * 1024
#: what the server may read beyond a route's cap (uvicorn's buffer, a chunk, the database)
MARGIN = 1024 * 1024
BOUNDARY = "limits-test-boundary"
TOTAL = 300_000_000  # what the client would send


class _Server(UvicornProcess):
    """The app under ``python -m uvicorn`` with the access log on and its own TMPDIR."""

    def __init__(self, settings: Settings, *, cwd: Path, log: Path, tmpdir: Path) -> None:
        self.tmpdir = tmpdir
        super().__init__(settings, cwd=cwd, log=log)

    def _spawn(self) -> None:
        self._env["TMPDIR"] = str(self.tmpdir)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "info"],
            cwd=self._cwd, env=self._env, stdout=self._log_file, stderr=subprocess.STDOUT)


@dataclass
class Env:
    server: _Server
    settings: Settings
    base: Path
    outside: Path


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, media_dir: Path) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("limits")
    mount, outside, tmpdir = base / "mount", base / "outside", base / "tmp"
    for folder in (mount / "sub", outside, tmpdir):
        folder.mkdir(parents=True)
    for name in ("master.wav", "dub_late.wav"):
        os.link(media_dir / name, mount / name)
    (outside / "secret.wav").write_bytes(b"secret")
    (mount / "escape.wav").symlink_to(outside / "secret.wav")  # leads out
    (mount / "leak").symlink_to(outside, target_is_directory=True)
    garbage = random.Random(7).randbytes(4096)
    (mount / "garbage.wav").write_bytes(garbage)
    (mount / "sub" / "hidden_target.wav").write_bytes(garbage)
    (mount / "alias.wav").symlink_to(mount / "sub" / "hidden_target.wav")  # stays inside
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(mount / "dub_late.wav"), "-c:a",
                    "flac", str(base / "whole.flac")], check=True)
    whole = (base / "whole.flac").read_bytes()
    (mount / "cut.flac").write_bytes(whole[: len(whole) // 2])  # declares 30 s
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, MOUNT_PATH=mount, UPLOAD_DIR=base / "uploads",
        OUTPUT_DIR=base / "output", DATABASE_URL=f"sqlite:///{base / 'db.sqlite'}",
        AI_MODEL_CACHE_DIR=base / "models", MAX_WORKERS=2, LOG_LEVEL="INFO",
        MAX_FILE_SIZE=MAX_FILE_SIZE, MAX_REQUEST_BODY=MAX_REQUEST_BODY,
        API_KEYS=[WRITE_KEY, f"{READ_KEY}:read"],
        API_KEY_IN_QUERY=True)  # legacy ?api_key= on: its redaction in the access log
    server = _Server(settings, cwd=base, log=base / "server.log", tmpdir=tmpdir)
    try:
        server.wait_ready()
        yield Env(server, settings, base, outside)
    finally:
        server.stop()


# --- raw HTTP ---------------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    sent: int
    read_bytes: int
    written_bytes: int
    seconds: float


def _io(env: Env) -> tuple[int, int]:
    io = psutil.Process(env.server.proc.pid).io_counters()
    return io.read_chars, io.write_chars  # type: ignore[attr-defined]


def _frame(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _chunked(env: Env, path: str, content_type: str, head: bytes, filler: bytes,
             total: int = TOTAL) -> Answer:
    """POST a chunked body (``head``, then ``filler`` again and again up to ``total`` bytes,
    then its end) and stop sending as soon as an answer arrives; the server's bytes read and
    written are counted until the answer is in (and, for a 413, the server has closed)."""
    sock = socket.create_connection(("127.0.0.1", env.server.port), timeout=30)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    read0, written0 = _io(env)
    t0 = time.monotonic()
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {WRITE_KEY}\r\n"
                 f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
                 + _frame(head))
    sent, pending = len(head), b""
    sock.setblocking(False)
    try:
        while sent < total and time.monotonic() - t0 < 60:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                break  # the answer (or the close) is there: stop sending
            if writable:
                if not pending:
                    pending = _frame(filler)
                    sent += len(filler)
                pending = pending[sock.send(pending):]
        else:
            sock.setblocking(True)
            sock.sendall(pending + b"0\r\n\r\n")  # all sent: the end of the body
    except (BrokenPipeError, ConnectionResetError):
        pass
    sock.setblocking(True)
    raw = b""
    try:
        while chunk := sock.recv(65536):  # until the server closes, or the answer is whole
            raw += chunk
            head_text, sep, rest = raw.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head_text)
            if sep and length and len(rest) >= int(length.group(1)) and \
                    b"connection: close" not in head_text.lower():
                break
    except (ConnectionResetError, TimeoutError):
        pass
    seconds = time.monotonic() - t0
    sock.close()
    time.sleep(0.2)  # let the server finish with the connection
    read1, written1 = _io(env)
    head_text, _, body = raw.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    assert lines and lines[0].startswith("HTTP/1.1 "), raw[:500]
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    body = body[: int(headers.get("content-length", len(body)))]
    return Answer(int(lines[0].split()[1]), headers, json.loads(body), sent, read1 - read0,
                  written1 - written0, seconds)


def _csv_part(name: str = "file", filename: str = "season.csv") -> bytes:
    return (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: text/csv\r\n\r\n"
            "master_file,dub_file\n").encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
ROWS = b"master.wav,dub_late.wav\n" * 2730  # ~64 kB a chunk
CASES = {
    # name: (path, content type, head, filler, cap of the route, code)
    "csv-multipart": ("/api/v1/analysis/batch/upload-csv", MULTIPART, _csv_part(), ROWS,
                      CSV_MAX_BYTES + 64 * 1024, "csv_too_large"),
    "csv-raw": ("/api/v1/analysis/batch/upload-csv", "text/csv",
                b"master_file,dub_file\n", ROWS, CSV_MAX_BYTES, "csv_too_large"),
    "upload-file": ("/api/v1/files/upload", MULTIPART,
                    _csv_part(filename="big.wav").replace(b"text/csv", b"audio/wav"),
                    b"\x00" * 65536, MAX_FILE_SIZE, "file_too_large"),
    "upload-other-field": ("/api/v1/files/upload", MULTIPART,
                           f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\""
                           "\r\n\r\n".encode(), b"x" * 65536, MAX_FILE_SIZE + 1024 * 1024,
                           "file_too_large"),
    "json": ("/api/v1/analysis/sync", "application/json", b'{"label": "', b"x" * 65536,
             MAX_REQUEST_BODY, "request_too_large"),
}


class TestStreamedLimits:
    @pytest.mark.parametrize("case", list(CASES))
    def test_chunked_body_over_the_limit_is_refused_early(self, env: Env, case: str) -> None:
        path, content_type, head, filler, cap, code = CASES[case]
        answer = _chunked(env, path, content_type, head, filler)
        assert answer.status == 413, answer.body
        assert set(answer.body) == {"error"}
        assert set(answer.body["error"]) == {"code", "message", "details"}
        assert answer.body["error"]["code"] == code
        assert answer.headers.get("connection") == "close"  # the rest is not read at all
        # the server read (and spooled) about the limit, not the 300 MB on offer
        assert answer.read_bytes <= cap + MARGIN, (answer.read_bytes, cap)
        assert answer.written_bytes <= cap + MARGIN, (answer.written_bytes, cap)
        assert answer.sent < TOTAL // 10 and answer.seconds < 20
        uploads = env.settings.upload_root
        assert not uploads.exists() or list(uploads.iterdir()) == []
        assert list(env.server.tmpdir.iterdir()) == []

    def test_under_the_limit_still_works(self, env: Env) -> None:
        answer = _chunked(env, "/api/v1/analysis/batch/upload-csv", MULTIPART, _csv_part()
                          + b"master.wav,dub_late.wav\n" + f"\r\n--{BOUNDARY}--\r\n".encode(),
                          b"", total=0)
        assert answer.status == 201, answer.body
        assert answer.body["filename"] == "season.csv" and len(answer.body["items"]) == 1


# --- the key in the access log ----------------------------------------------------------------
QUERY_FORMS = [  # (query, whether the app takes it as the key)
    f"api%5Fkey={READ_KEY}", f"%61pi_key={READ_KEY}", f"limit=5&api_key={READ_KEY}",
    "API_KEY=OTHERsecret2", "api_key%3DOTHERsecret3", "x=1;Api%5FKey=OTHERsecret4"]


class TestKeyRedaction:
    def test_every_spelling_of_the_key_is_masked_in_the_access_log(self, env: Env) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", env.server.port, timeout=10)
        for query, accepted in zip(QUERY_FORMS, [True, True, True, False, False, False],
                                   strict=True):
            conn.request("GET", f"/api/v1/analysis?{query}")  # sent as is, not re-encoded
            response = conn.getresponse()
            response.read()
            assert response.status == (200 if accepted else 401), query
        conn.close()
        log = env.server.log
        deadline = time.monotonic() + 10
        while log.read_text().count("GET /api/v1/analysis?") < len(QUERY_FORMS):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.05)
        text = log.read_text()
        for secret in (READ_KEY, "OTHERsecret"):
            assert secret not in text
        for masked in ("api%5Fkey=***", "%61pi_key=***", "api_key=***", "API_KEY=***",
                       "api_key%3D***", "Api%5FKey=***"):
            assert masked in text, masked

    @pytest.mark.parametrize(("text", "expected"), [
        ("/a?api%5Fkey=S&x=1", "/a?api%5Fkey=***&x=1"),
        ("/a?%61%70%69%5F%6B%65%79=S", "/a?%61%70%69%5F%6B%65%79=***"),
        ("/a?API_Key=S", "/a?API_Key=***"),
        ("/a?api_key%3dS", "/a?api_key%3d***"),
        ("/a?api%255Fkey=S", "/a?api%255Fkey=***"),
        ('"GET /a?x=1&api_key=S HTTP/1.1" 200', '"GET /a?x=1&api_key=*** HTTP/1.1" 200'),
        ("GET /p/x=1?api_key=S HTTP/1.1", "GET /p/x=1?api_key=*** HTTP/1.1"),
        ("/a?api_key=S?tail&y=1", "/a?api_key=***&y=1"),
        ("/a?x=api_key&apikey=keep", "/a?x=api_key&apikey=keep"),
        ("api_key=%s", "api_key=%s"),
    ])
    def test_redaction_decodes_names(self, text: str, expected: str) -> None:
        assert redact_api_keys(text) == expected


# --- what error bodies say --------------------------------------------------------------------
def _request(env: Env, method: str, path: str, body: dict[str, Any] | None = None
             ) -> tuple[int, dict[str, Any], str]:
    conn = http.client.HTTPConnection("127.0.0.1", env.server.port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    conn.request(method, path, body=data, headers={
        "X-API-Key": WRITE_KEY, **({"Content-Type": "application/json"} if data else {})})
    response = conn.getresponse()
    text = response.read().decode()
    conn.close()
    return response.status, json.loads(text), text


def _assert_discreet(env: Env, text: str) -> None:
    """No absolute root, symlink target, PID or host name in ``text``."""
    for absolute in (str(env.base), str(env.settings.mount_root), str(env.outside),
                     str(env.settings.upload_root), str(env.settings.output_root)):
        assert absolute not in text, (absolute, text)
    assert not re.search(rf"\b{env.server.proc.pid}\b", text), text
    host = socket.gethostname()
    if len(host) >= 4:
        assert host not in text, text


def _sync(master: str, dub: str) -> dict[str, Any]:
    return {"master_file": master, "dub_file": dub, "methods": ["correlation"]}


class TestErrorBodies:
    @pytest.mark.parametrize("given", ["escape.wav", "leak/secret.wav",
                                       "sub/../escape.wav"])
    def test_symlink_out_of_the_mount(self, env: Env, given: str) -> None:
        for method, path, body in (
                ("GET", f"/api/v1/files/probe?path={given}", None),
                ("POST", "/api/v1/analysis/sync", _sync("master.wav", given))):
            status, answer, text = _request(env, method, path, body)
            assert status == 403 and answer["error"]["code"] == "path_not_allowed", text
            assert repr(given) in answer["error"]["message"]
            _assert_discreet(env, text)
            if "secret" not in given:
                assert "secret" not in text  # where it leads is not said

    def test_corrupt_file_decode_errors(self, env: Env) -> None:
        for method, path, body, given in (
                ("GET", "/api/v1/files/probe?path=garbage.wav", None, "garbage.wav"),
                ("POST", "/api/v1/analysis/sync", _sync("master.wav", "garbage.wav"),
                 "garbage.wav"),
                ("POST", "/api/v1/analysis/sync", _sync("alias.wav", "dub_late.wav"),
                 "alias.wav")):
            status, answer, text = _request(env, method, path, body)
            assert status == 422 and answer["error"]["code"] == "audio_decode_error", text
            assert given in answer["error"]["message"]
            assert answer["error"]["details"]["path"] == given
            assert answer["error"]["details"]["stderr"]  # ffprobe's words are kept...
            _assert_discreet(env, text)  # ...with the path as given in them
            assert "hidden_target" not in text  # a symlink's target, even by name

    def test_stored_job_error_of_a_truncated_file(self, env: Env) -> None:
        status, answer, text = _request(env, "POST", "/api/v1/analysis/sync",
                                        _sync("master.wav", "cut.flac"))
        assert status == 202, text
        deadline = time.monotonic() + 60
        while True:
            _, job, _ = _request(env, "GET", f"/api/v1/analysis/{answer['analysis_id']}")
            if job["status"] in ("completed", "failed", "cancelled", "interrupted"):
                break
            assert time.monotonic() < deadline, job
            time.sleep(0.1)
        assert job["status"] == "failed", job
        error = job["error"]
        assert error["code"] == "audio_decode_error"
        assert "cut.flac is truncated or corrupt" in error["message"]
        assert error["details"]["path"] == "cut.flac"
        _assert_discreet(env, json.dumps(error))
