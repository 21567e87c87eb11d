"""Settings precedence: explicit flags > AIAAS_* env > TOML config file > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiaas.config import load_settings


def test_defaults_put_sqlite_in_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIAAS_DATABASE_URL", raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'aiaas.db'}"
    assert settings.port == 8000


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.toml").write_text('port = 9001\nmax_queue = 7\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("AIAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIAAS_MAX_QUEUE", "9")
    settings = load_settings()
    assert (settings.port, settings.max_queue, settings.host) == (9001, 9, "0.0.0.0")
    assert load_settings(port=9100).port == 9100


def test_explicit_config_file_and_unknown_keys(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aiaas.toml"
    config.write_text("max_inputs = 12\npreload = ['all-minilm-l6-v2']\n")
    monkeypatch.setenv("AIAAS_CONFIG", str(config))
    settings = load_settings(data_dir=tmp_path)
    assert settings.max_inputs == 12 and settings.preload == ["all-minilm-l6-v2"]
    config.write_text("max_inptus = 12\n")
    with pytest.raises(ValueError, match="max_inptus"):
        load_settings(data_dir=tmp_path)


def test_preload_from_env_is_a_comma_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIAAS_PRELOAD", "a, b")
    assert load_settings(data_dir=tmp_path).preload == ["a", "b"]
