"""resolve_media_path: inside the roots only, symlinks followed, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import (
    AppError,
    BadRequestError,
    FileTooLargeError,
    MediaNotFoundError,
    PathNotAllowedError,
    UnprocessableError,
)
from app.services.paths import resolve_media_path


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    mount, upload, outside = tmp_path / "mount", tmp_path / "upload", tmp_path / "outside"
    for d in (mount / "show", upload, outside):
        d.mkdir(parents=True)
    (mount / "show" / "a.wav").write_bytes(b"x" * 10)
    (upload / "u.wav").write_bytes(b"x" * 10)
    (outside / "secret.wav").write_bytes(b"x" * 10)
    (mount / "show" / "in_link.wav").symlink_to(upload / "u.wav")
    (mount / "out_link.wav").symlink_to(outside / "secret.wav")
    (mount / "out_dir").symlink_to(outside, target_is_directory=True)
    return [mount.resolve(), upload.resolve()]


def _resolve(raw: str, roots: list[Path], max_size: int = 1000) -> Path:
    return resolve_media_path(raw, field="master_file", roots=roots, max_size=max_size).path


class TestResolveMediaPath:
    def test_relative_absolute_and_inner_symlinks(self, roots: list[Path]) -> None:
        mount, upload = roots
        assert _resolve("show/a.wav", roots) == mount / "show" / "a.wav"
        assert _resolve("u.wav", roots) == upload / "u.wav"  # falls back to UPLOAD_DIR
        assert _resolve(str(upload / "u.wav"), roots) == upload / "u.wav"
        assert _resolve("show/in_link.wav", roots) == upload / "u.wav"
        assert _resolve("show/../show/./a.wav", roots) == mount / "show" / "a.wav"

    @pytest.mark.parametrize("raw", ["../outside/secret.wav", "out_link.wav",
                                     "out_dir/secret.wav", "/etc/passwd", "/etc/nothing.wav",
                                     "show/../../outside/secret.wav"])
    def test_escapes_refused_before_existence_is_checked(self, roots: list[Path],
                                                         raw: str) -> None:
        with pytest.raises(PathNotAllowedError) as exc:
            _resolve(raw, roots)
        assert exc.value.status_code == 403 and raw in exc.value.message

    @pytest.mark.parametrize(("raw", "error", "status"), [
        ("show/missing.wav", MediaNotFoundError, 422),
        ("show", UnprocessableError, 422),
        ("a\x00b.wav", BadRequestError, 400),
    ])
    def test_other_refusals(self, roots: list[Path], raw: str, error: type[AppError],
                            status: int) -> None:
        with pytest.raises(error) as exc:
            _resolve(raw, roots)
        assert exc.value.status_code == status

    def test_size_limit(self, roots: list[Path]) -> None:
        assert _resolve("show/a.wav", roots, max_size=10)
        with pytest.raises(FileTooLargeError) as exc:
            _resolve("show/a.wav", roots, max_size=9)
        assert exc.value.details["size"] == 10
