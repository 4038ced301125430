"""What the fuzz test and ``bench/fuzz.py`` share: the server's settings and the checks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.core.config import Settings

__all__ = ["FUZZ_CHECKS", "fuzz_settings", "api_schema", "HOSTILE_NAMES", "hostile_media",
           "install_hostile_hooks"]

#: no 5xx; status code, content type, headers and body as the schema documents them
FUZZ_CHECKS: list[Any] = [not_a_server_error, status_code_conformance,
                          content_type_conformance, response_headers_conformance,
                          response_schema_conformance]


def fuzz_settings(root: Path, media: Path, **overrides: Any) -> Settings:
    """A service on temporary folders under ``root`` reading ``media``; one worker."""
    values: dict[str, Any] = {
        "MOUNT_PATH": media, "UPLOAD_DIR": root / "uploads", "OUTPUT_DIR": root / "output",
        "DATABASE_URL": f"sqlite:///{root / 'fuzz.db'}", "AI_MODEL_CACHE_DIR": root / "models",
        "MAX_WORKERS": 1, "LOG_LEVEL": "WARNING", "HEARTBEAT_SECONDS": 0.5,
        "INSTANCE_STALE_SECONDS": 5.0, "MAX_FILE_SIZE": 50 * 1024 * 1024,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def api_schema(**overrides: Any) -> dict[str, Any]:
    """The OpenAPI schema of the app for these settings (built in-process, no lifespan)."""
    from main import create_app

    settings = Settings(_env_file=None, LOG_LEVEL="WARNING", **overrides)  # type: ignore[call-arg]
    return create_app(settings).openapi()


#: names the fuzzer puts where the API takes a file: reference formats under audio names (they
#: point outside the roots), names outside Latin-1, with quotes, newlines, a percent pattern, a
#: protocol prefix, and real audio under such names
REFERENCE_FILES: dict[str, str] = {
    "hls.wav": "#EXTM3U\n#EXTINF:4.0,\nfile:///etc/hostname\n#EXT-X-ENDLIST\n",
    "ffconcat.m4a": "ffconcat version 1.0\nfile 'file:/etc/hostname'\n",
    "dash.mxf": '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" '
                'type="static"><Period><AdaptationSet><Representation id="a" bandwidth="1">'
                '<BaseURL>file:///etc/hostname</BaseURL></Representation></AdaptationSet>'
                '</Period></MPD>\n',
}
AUDIO_NAMES = ("吹替_日本語.wav", 'quote"d.wav', "new\nline.wav", "img%03d.wav",
               "concat:master.wav", "semi;colon, x.wav")
HOSTILE_NAMES: tuple[str, ...] = (*REFERENCE_FILES, *AUDIO_NAMES, "../outside.wav",
                                  "master.wav\x00.txt", "master.wav")


def hostile_media(root: Path, media: Path) -> Path:
    """A mount under ``root``: ``media``'s files plus :data:`HOSTILE_NAMES`."""
    mount = root / "hostile_media"
    if mount.exists():
        return mount
    shutil.copytree(media, mount, ignore=shutil.ignore_patterns("long.wav"))
    for name, text in REFERENCE_FILES.items():
        (mount / name).write_text(text)
    for name in AUDIO_NAMES:
        subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i",
                        "anoisesrc=d=3:s=5", "-ar", "48000", "-c:a", "pcm_s16le", "-f", "wav",
                        str(mount / name)], check=True)
    return mount


_FILE_FIELDS = ("path", "master_file", "dub_file")


def _swap(values: dict[str, Any] | None, draw: Any) -> dict[str, Any] | None:
    if not isinstance(values, dict):
        return values
    out = dict(values)
    for key in _FILE_FIELDS:
        if key in out and draw(st.booleans()):
            out[key] = draw(st.sampled_from(HOSTILE_NAMES))
    if isinstance(out.get("dub_files"), list) and draw(st.booleans()):
        out["dub_files"] = draw(st.lists(st.sampled_from(HOSTILE_NAMES), min_size=1,
                                         max_size=3))
    return out


def install_hostile_hooks(schema: Any) -> None:
    """Make ``schema``'s generated requests name :data:`HOSTILE_NAMES` in half of the file
    fields (query ``path``, body ``master_file``/``dub_file``/``dub_files``)."""

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
        return st.composite(lambda draw: _swap(query, draw))()

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_body(context: Any, body: Any) -> Any:
        return st.composite(lambda draw: _swap(body, draw))()
