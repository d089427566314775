"""Settings from environment variables and a ``.env`` file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from workbench.config import Settings, load_settings
from workbench.errors import ConfigError


def _write_env(folder: Path, text: str) -> Path:
    path = folder / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_environment() -> None:
    settings = load_settings(environ={}, dotenv_path=None)

    assert settings.data_dir == Path(".workbench")
    assert settings.store_url == "sqlite:///.workbench/workbench.db"
    assert settings.drift_alpha == 0.05
    assert settings.drift_correction == "bh"
    assert settings.min_samples == 30
    assert settings.reference_sample_size == 10_000
    assert settings.decay_tolerance == 0.05
    assert settings.min_labels == 30
    assert settings.monitoring_enabled is True


def test_store_url_follows_data_dir() -> None:
    settings = load_settings(environ={"WORKBENCH_DATA_DIR": "/srv/workbench"}, dotenv_path=None)

    assert settings.store_url == "sqlite:////srv/workbench/workbench.db"


def test_environment_beats_dotenv(tmp_path: Path) -> None:
    dotenv = _write_env(tmp_path, "WORKBENCH_DRIFT_ALPHA=0.01\nWORKBENCH_MIN_LABELS=50\n")

    settings = load_settings(environ={"WORKBENCH_DRIFT_ALPHA": "0.02"}, dotenv_path=dotenv)

    assert settings.drift_alpha == 0.02
    assert settings.min_labels == 50


def test_process_environment_read_when_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_MIN_SAMPLES", "40")

    assert load_settings().min_samples == 40


def test_dotenv_in_working_folder_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_DRIFT_CORRECTION", raising=False)
    _write_env(tmp_path, 'WORKBENCH_DRIFT_CORRECTION="bonferroni"\n')

    assert load_settings().drift_correction == "bonferroni"


def test_missing_dotenv_skipped(tmp_path: Path) -> None:
    settings = load_settings(environ={}, dotenv_path=tmp_path / "absent.env")

    assert settings.drift_alpha == 0.05


def test_empty_value_means_default() -> None:
    environ = {"WORKBENCH_DRIFT_ALPHA": "", "WORKBENCH_MIN_SAMPLES": " ", "WORKBENCH_DRIFT_CORRECTION": ""}

    settings = load_settings(environ=environ, dotenv_path=None)

    assert settings.drift_alpha == 0.05
    assert settings.min_samples == 30
    assert settings.drift_correction == "bh"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("WORKBENCH_DRIFT_ALPHA", "five percent", "is not a number"),
        ("WORKBENCH_DRIFT_ALPHA", "1.5", "is out of range"),
        ("WORKBENCH_DRIFT_ALPHA", "nan", "is out of range"),
        ("WORKBENCH_DECAY_TOLERANCE", "-0.1", "is out of range"),
        ("WORKBENCH_MIN_SAMPLES", "30.5", "is not a whole number"),
        ("WORKBENCH_MIN_SAMPLES", "1", "is too small"),
        ("WORKBENCH_REFERENCE_SAMPLE_SIZE", "50", "is too small"),
        ("WORKBENCH_MIN_LABELS", "0", "is too small"),
        ("WORKBENCH_DRIFT_CORRECTION", "holm", "is invalid; use one of bh, bonferroni, none"),
        ("MODEL_MONITORING_ENABLED", "maybe", "is not a boolean; use true or false"),
    ],
)
def test_bad_value_names_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{name}=.*{message}") as excinfo:
        load_settings(environ={name: value}, dotenv_path=None)

    assert excinfo.value.name == name


def test_bad_value_in_dotenv_names_variable(tmp_path: Path) -> None:
    dotenv = _write_env(tmp_path, "WORKBENCH_MIN_LABELS=many\n")

    with pytest.raises(ConfigError, match="WORKBENCH_MIN_LABELS='many' is not a whole number"):
        load_settings(environ={}, dotenv_path=dotenv)


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("MODEL_MONITORING_ENABLED", "monitoring_enabled"),
        ("AB_TESTING_ENABLED", "ab_testing_enabled"),
        ("MULTI_MODALITY_ENABLED", "multi_modality_enabled"),
    ],
)
@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("No", False), ("on", True)])
def test_legacy_switch_read(name: str, field: str, value: str, expected: bool) -> None:
    settings = load_settings(environ={name: value}, dotenv_path=None)

    assert getattr(settings, field) is expected


def test_legacy_switch_read_from_dotenv(tmp_path: Path) -> None:
    dotenv = _write_env(tmp_path, "MODEL_MONITORING_ENABLED=false\nAB_TESTING_ENABLED=true\n")

    settings = load_settings(environ={}, dotenv_path=dotenv)

    assert settings.monitoring_enabled is False
    assert settings.ab_testing_enabled is True


def test_to_dict_masks_store_password() -> None:
    settings = load_settings(environ={"WORKBENCH_STORE_URL": "mongodb://reader:s3cret@127.0.0.1:27017/wb"},
                             dotenv_path=None)

    assert settings.to_dict()["store_url"] == "mongodb://reader:***@127.0.0.1:27017/wb"


def test_replace_returns_changed_copy() -> None:
    settings = Settings(data_dir=Path("data"), store_url="sqlite:///:memory:")

    changed = settings.replace(min_labels=5)

    assert changed.min_labels == 5
    assert settings.min_labels == 30


def test_import_reads_no_dotenv(tmp_path: Path) -> None:
    _write_env(tmp_path, "WORKBENCH_DRIFT_ALPHA=not-a-number\n")
    command = [sys.executable, "-c", "import workbench, workbench.monitoring, workbench.store, workbench.registry"]

    imported = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert imported.returncode == 0, imported.stderr


def test_load_settings_reads_bad_dotenv(tmp_path: Path) -> None:
    # Counterpart of the import check: the same .env does fail once settings are loaded.
    _write_env(tmp_path, "WORKBENCH_DRIFT_ALPHA=not-a-number\n")
    command = [sys.executable, "-c", "from workbench.config import load_settings; load_settings()"]

    loaded = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PATH": "/usr/bin:/bin"})

    assert loaded.returncode == 1
    assert "WORKBENCH_DRIFT_ALPHA='not-a-number' is not a number" in loaded.stderr
