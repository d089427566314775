"""Settings read from environment variables and an optional ``.env`` file.

Nothing is read at import. :func:`load_settings` reads the environment when it is called, and an
environment variable wins over the same name in ``.env``. Besides the ``WORKBENCH_*`` names it accepts
the names that deployments of the earlier HTTP service already have in their ``.env``
(``MODEL_MONITORING_ENABLED``, ``AB_TESTING_ENABLED``, ``MULTI_MODALITY_ENABLED``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from workbench.errors import ConfigError

CORRECTIONS = ("bh", "bonferroni", "none")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Settings:
    """Resolved settings of one workbench process.

    Attributes
    ----------
    data_dir : pathlib.Path
        Folder for the embedded store and other local state (``WORKBENCH_DATA_DIR``, default
        ``./.workbench``).
    store_url : str
        Store location (``WORKBENCH_STORE_URL``, default ``sqlite:///<data_dir>/workbench.db``).
    queue_url : str
        Message queue (``WORKBENCH_QUEUE_URL``, default ``local:///<data_dir>/queue``). Without it,
        ``MESSAGE_QUEUE_TYPE`` (``rabbitmq`` or ``kafka``) with ``RABBITMQ_HOST``, ``RABBITMQ_PORT``
        or ``KAFKA_BOOTSTRAP_SERVERS`` builds the URL as the earlier service's ``.env`` describes it.
    drift_alpha : float
        Significance level of the drift tests after multiple-testing correction
        (``WORKBENCH_DRIFT_ALPHA``, default 0.05).
    drift_correction : str
        ``"bh"`` (Benjamini–Hochberg), ``"bonferroni"`` or ``"none"`` (``WORKBENCH_DRIFT_CORRECTION``).
    min_samples : int
        Minimum number of valid current values a drift test needs for a verdict (``WORKBENCH_MIN_SAMPLES``,
        default 30).
    reference_sample_size : int
        Maximum number of reference values kept per numeric feature for two-sample tests
        (``WORKBENCH_REFERENCE_SAMPLE_SIZE``, default 10,000).
    decay_tolerance : float
        Largest drop of a metric below its baseline that is not yet decay (``WORKBENCH_DECAY_TOLERANCE``,
        default 0.05, in metric units).
    min_labels : int
        Fewest labelled predictions a window needs for a decay verdict (``WORKBENCH_MIN_LABELS``,
        default 30).
    monitoring_enabled, ab_testing_enabled, multi_modality_enabled : bool
        Feature switches, read from ``MODEL_MONITORING_ENABLED``, ``AB_TESTING_ENABLED`` and
        ``MULTI_MODALITY_ENABLED`` (default true).
    """

    data_dir: Path
    store_url: str
    queue_url: str = "local:///.workbench/queue"
    drift_alpha: float = 0.05
    drift_correction: str = "bh"
    min_samples: int = 30
    reference_sample_size: int = 10_000
    decay_tolerance: float = 0.05
    min_labels: int = 30
    monitoring_enabled: bool = True
    ab_testing_enabled: bool = True
    multi_modality_enabled: bool = True

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with the given fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as JSON-ready values, with any password in the store URL masked."""
        from workbench.store.urls import mask_url

        values = asdict(self)
        values["data_dir"] = str(self.data_dir)
        values["store_url"] = mask_url(self.store_url)
        values["queue_url"] = mask_url(self.queue_url)
        return values


def load_settings(
    environ: Mapping[str, str] | None = None, dotenv_path: str | os.PathLike[str] | None = ".env"
) -> Settings:
    """Read settings from the environment and an optional ``.env`` file.

    Parameters
    ----------
    environ : mapping, optional
        Variables to read instead of ``os.environ``.
    dotenv_path : path-like or None
        The ``.env`` file; a missing file is skipped. ``None`` reads no file.

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        If a value cannot be parsed or is out of range; the message names the variable and value.
    """
    values: dict[str, str] = {}
    if dotenv_path is not None and Path(dotenv_path).is_file():
        values.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    data_dir = Path(values.get("WORKBENCH_DATA_DIR", ".workbench")).expanduser()
    store_url = values.get("WORKBENCH_STORE_URL") or f"sqlite:///{(data_dir / 'workbench.db').as_posix()}"

    correction = values.get("WORKBENCH_DRIFT_CORRECTION", "").strip().lower() or "bh"
    if correction not in CORRECTIONS:
        raise ConfigError(
            f"WORKBENCH_DRIFT_CORRECTION={correction!r} is invalid; use one of {', '.join(CORRECTIONS)}.",
            name="WORKBENCH_DRIFT_CORRECTION",
            value=correction,
        )

    return Settings(
        data_dir=data_dir,
        store_url=store_url,
        queue_url=_queue_url(values, data_dir),
        drift_alpha=_read_float(values, "WORKBENCH_DRIFT_ALPHA", 0.05, low=0.0, high=1.0),
        drift_correction=correction,
        min_samples=_read_int(values, "WORKBENCH_MIN_SAMPLES", 30, low=2),
        reference_sample_size=_read_int(values, "WORKBENCH_REFERENCE_SAMPLE_SIZE", 10_000, low=100),
        decay_tolerance=_read_float(values, "WORKBENCH_DECAY_TOLERANCE", 0.05, low=0.0, high=1.0),
        min_labels=_read_int(values, "WORKBENCH_MIN_LABELS", 30, low=1),
        monitoring_enabled=_read_bool(values, "MODEL_MONITORING_ENABLED", True),
        ab_testing_enabled=_read_bool(values, "AB_TESTING_ENABLED", True),
        multi_modality_enabled=_read_bool(values, "MULTI_MODALITY_ENABLED", True),
    )


def _queue_url(values: Mapping[str, str], data_dir: Path) -> str:
    """Return WORKBENCH_QUEUE_URL, or the URL the earlier service's MESSAGE_QUEUE_TYPE settings describe."""
    url = (values.get("WORKBENCH_QUEUE_URL") or "").strip()
    if url:
        return url
    kind = (values.get("MESSAGE_QUEUE_TYPE") or "").strip().lower()
    if kind in ("", "local"):
        return f"local:///{(data_dir / 'queue').as_posix()}"
    if kind == "rabbitmq":
        host = values.get("RABBITMQ_HOST") or "localhost"
        port = values.get("RABBITMQ_PORT") or "5672"
        return f"amqp://guest:guest@{host}:{port}/"
    if kind == "kafka":
        servers = values.get("KAFKA_BOOTSTRAP_SERVERS") or "localhost:9092"
        return f"kafka://{servers}"
    raise ConfigError(f"MESSAGE_QUEUE_TYPE={kind!r} is invalid; use local, rabbitmq or kafka, or set "
                      "WORKBENCH_QUEUE_URL.", name="MESSAGE_QUEUE_TYPE", value=kind)


def _read_float(values: Mapping[str, str], name: str, default: float, *, low: float, high: float) -> float:
    raw = values.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number; set it to a value in ({low}, {high}).",
                          name=name, value=raw) from None
    if not low < number < high:
        raise ConfigError(f"{name}={raw!r} is out of range; set it to a value in ({low}, {high}).",
                          name=name, value=raw)
    return number


def _read_int(values: Mapping[str, str], name: str, default: int, *, low: int) -> int:
    raw = values.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        number = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number; set it to an integer >= {low}.",
                          name=name, value=raw) from None
    if number < low:
        raise ConfigError(f"{name}={raw!r} is too small; set it to an integer >= {low}.", name=name, value=raw)
    return number


def _read_bool(values: Mapping[str, str], name: str, default: bool) -> bool:
    raw = values.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use true or false.", name=name, value=raw)
