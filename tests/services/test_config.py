"""Settings: list parsing and validators that fail at start-up with a clear message."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.config import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class TestSettings:
    def test_defaults(self) -> None:
        s = _settings()
        assert s.DATABASE_URL == "sqlite:///./data/sync_analyzer.db"
        assert s.ENABLED_METHODS == ["correlation", "mfcc", "onset", "spectral", "ai"]
        assert s.engine_methods == ["correlation", "mfcc", "onset", "spectral"]
        assert s.ai_method_enabled is True
        assert s.MAX_WORKERS >= 1 and s.DEFAULT_SAMPLE_RATE == 16000
        assert s.sqlite_path == Path("data/sync_analyzer.db")

    def test_comma_separated_lists_from_the_environment(self, monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
        monkeypatch.setenv("ENABLED_METHODS", "Correlation, onset")
        monkeypatch.setenv("ALLOWED_HOSTS", "a.example.com,b.example.com")
        monkeypatch.setenv("ALLOWED_ORIGINS", '["https://x.example.com"]')
        s = Settings(_env_file=None)  # type: ignore[call-arg]
        assert s.ENABLED_METHODS == ["correlation", "onset"]
        assert s.ALLOWED_HOSTS == ["a.example.com", "b.example.com"]
        assert s.ALLOWED_ORIGINS == ["https://x.example.com"]

    @pytest.mark.parametrize(("values", "message"), [
        ({"ENABLED_METHODS": "correlation,telepathy"}, "telepathy"),
        ({"ENABLED_METHODS": "ai"}, "the ai method runs beside them"),
        ({"MOUNT_PATH": "/definitely/not/here"}, "MOUNT_PATH='/definitely/not/here'"),
        ({"MAX_WORKERS": 0}, "MAX_WORKERS"),
        ({"PORT": 70000}, "PORT"),
        ({"DEFAULT_SAMPLE_RATE": 100}, "DEFAULT_SAMPLE_RATE"),
        ({"DEFAULT_CONFIDENCE_THRESHOLD": 2}, "DEFAULT_CONFIDENCE_THRESHOLD"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
        ({"HEARTBEAT_SECONDS": 10, "INSTANCE_STALE_SECONDS": 15}, "INSTANCE_STALE_SECONDS"),
    ])
    def test_bad_values_fail_with_the_setting_named(self, values: dict[str, object],
                                                    message: str) -> None:
        with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
            _settings(**values)

    def test_ai_in_enabled_methods(self) -> None:
        s = _settings(ENABLED_METHODS='["mfcc", "onset", "spectral", "correlation", "ai"]',
                      ENABLED_AI_MODELS='["wav2vec2", "yamnet", "spectral"]')
        assert s.engine_methods == ["mfcc", "onset", "spectral", "correlation"]
        assert s.ai_method_enabled and s.ENABLED_AI_MODELS == ["wav2vec2", "yamnet", "spectral"]
        off = _settings(ENABLED_METHODS="correlation,onset", ENABLED_AI_MODELS="spectral")
        assert not off.ai_method_enabled
        assert any("does not list \"ai\"" in note for note in off.warnings())

    def test_upload_dir_must_not_be_a_file(self, tmp_path: Path) -> None:
        f = tmp_path / "file"
        f.write_text("x")
        with pytest.raises(ValidationError, match="UPLOAD_DIR"):
            _settings(UPLOAD_DIR=f)

    def test_ensure_directories(self, tmp_path: Path) -> None:
        s = _settings(UPLOAD_DIR=tmp_path / "u" / "v", MOUNT_PATH=tmp_path,
                      DATABASE_URL=f"sqlite:///{tmp_path}/db/x.db",
                      LOG_FILE=tmp_path / "logs" / "app.log")
        s.ensure_directories()
        assert (tmp_path / "u" / "v").is_dir() and (tmp_path / "db").is_dir()
        assert (tmp_path / "logs").is_dir()
        assert _settings(DATABASE_URL="postgresql://u:p@h/db").sqlite_path is None


class TestEnvExample:
    def test_lists_every_setting_and_parses(self, tmp_path: Path) -> None:
        from tests.api.helpers import REPO

        text = (REPO / ".env.example").read_text()
        names = {line.lstrip("# ").split("=", 1)[0] for line in text.splitlines()
                 if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()}
        assert set(Settings.model_fields) - {"PROJECT_NAME"} <= names
        lines = text.splitlines()
        for name in set(Settings.model_fields) - {"PROJECT_NAME"}:
            i = next(i for i, line in enumerate(lines)
                     if line.startswith((f"{name}=", f"# {name}=")))
            while lines[i - 1] and not lines[i - 1].startswith("#"):  # a group of settings
                i -= 1
            assert lines[i - 1].startswith("# ") and "=" not in lines[i - 1].split()[1], name
        s = Settings(_env_file=REPO / ".env.example")  # type: ignore[call-arg]
        assert s.DEFAULT_WINDOW_SIZE is None and s.LOG_FILE is None
        assert s.ENABLED_AI_MODELS == [] and s.ALLOWED_HOSTS == ["*"]
