"""Model registry: models with their stage, training metrics and baseline statistics.

A model is identified by ``name:version`` (for example ``breast-cancer-lr:1``), and each record keeps
the baseline statistics computed at training time, so monitoring always compares a model's production
data with the data that model was trained on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from workbench.errors import NotFoundError, ValidationError
from workbench.store.base import Store
from workbench.timeutil import utc_now

# workbench.monitoring imports this module, so its names are imported where they are used.
if TYPE_CHECKING:
    from workbench.monitoring.baseline import BaselineStatistics

logger = logging.getLogger(__name__)

STAGES = ("staging", "production", "archived")

#: Column names that a window of predictions uses besides the features, so no monitored feature may have them.
RESERVED_FEATURE_NAMES = ("prediction_id", "model_id", "timestamp", "features", "prediction", "probability",
                          "label", "label_timestamp")

# Matched with fullmatch, because "$" would also accept a trailing newline.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class ModelRecord:
    """A registered model.

    Attributes
    ----------
    model_id : str
        ``name:version``.
    name, version : str
        Model name and version.
    stage : str
        ``"staging"``, ``"production"`` or ``"archived"``.
    metrics : dict
        Training or validation metrics given at registration.
    baseline : BaselineStatistics or None
        Baseline statistics; monitoring needs them.
    classes : tuple
        Class labels in the order of the model's probability outputs.
    description : str
        Free text.
    created_at, updated_at : datetime
        UTC times of registration and of the last change.
    """

    model_id: str
    name: str
    version: str
    stage: str
    metrics: dict[str, Any] = field(default_factory=dict)
    baseline: BaselineStatistics | None = field(default=None, repr=False)
    classes: tuple[Any, ...] = ()
    description: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self, *, include_baseline: bool = False) -> dict[str, Any]:
        """Return JSON-ready values; the baseline is left out unless asked for, because it is large."""
        data = {
            "model_id": self.model_id,
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "metrics": dict(self.metrics),
            "classes": list(self.classes),
            "description": self.description,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "updated_at": None if self.updated_at is None else self.updated_at.isoformat(),
            "has_baseline": self.baseline is not None,
        }
        if include_baseline and self.baseline is not None:
            data["baseline"] = self.baseline.to_dict()
        return data

    @classmethod
    def from_store(cls, record: Mapping[str, Any]) -> ModelRecord:
        """Build a record from the dictionary the store keeps."""
        from workbench.monitoring.baseline import BaselineStatistics

        baseline = record.get("baseline")
        return cls(
            model_id=record["model_id"],
            name=record["name"],
            version=record["version"],
            stage=record["stage"],
            metrics=dict(record.get("metrics") or {}),
            baseline=None if baseline is None else BaselineStatistics.from_dict(baseline),
            classes=tuple(record.get("classes") or ()),
            description=record.get("description") or "",
            created_at=record.get("created_at"),
            updated_at=record.get("updated_at"),
        )


def model_id_for(name: str, version: str | int) -> str:
    """Return the model id of a name and version."""
    return f"{name}:{version}"


class Registry:
    """Register, fetch, list and stage models kept in a :class:`~workbench.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(
        self,
        name: str,
        version: str | int,
        *,
        stage: str = "staging",
        metrics: Mapping[str, Any] | None = None,
        baseline_statistics: BaselineStatistics | None = None,
        classes: Sequence[Any] | None = None,
        description: str = "",
    ) -> ModelRecord:
        """Register a model version.

        ``classes`` defaults to the baseline's classes. ``metrics`` defaults to the baseline's metrics.

        Raises
        ------
        ValidationError
            If the name, version or stage is invalid.
        ConflictError
            If the version is already registered.
        """
        from workbench.monitoring.metrics import plain_classes

        version = str(version)
        for label, value in (("name", name), ("version", version)):
            if not _NAME_PATTERN.fullmatch(value):
                raise ValidationError(
                    f"Model {label} {value!r} is invalid; use letters, digits, '.', '_' or '-' "
                    "(at most 128 characters, starting with a letter or digit).",
                    field=label, value=value,
                )
        _check_stage(stage)
        _check_feature_names(baseline_statistics)

        if metrics is None:
            metrics = baseline_statistics.metrics if baseline_statistics else {}
        if classes is None:
            classes = baseline_statistics.classes if baseline_statistics else ()

        now = utc_now()
        record = ModelRecord(
            model_id=model_id_for(name, version),
            name=name,
            version=version,
            stage=stage,
            metrics=dict(metrics),
            baseline=baseline_statistics,
            classes=plain_classes(classes),
            description=description,
            created_at=now,
            updated_at=now,
        )
        stored = record.to_dict(include_baseline=True)
        stored["created_at"], stored["updated_at"] = now, now
        stored.pop("has_baseline")
        self.store.insert_model(stored)
        logger.info("registered model %s at stage %s", record.model_id, stage)
        return record

    def get(self, model_id: str) -> ModelRecord:
        """Return a registered model.

        Raises
        ------
        NotFoundError
            If the model id is not registered; the message lists the registered ids.
        """
        record = self.store.get_model(model_id)
        if record is None:
            known = [item["model_id"] for item in self.store.list_models()]
            hint = f"registered: {', '.join(known)}" if known else "no model is registered yet"
            raise NotFoundError(
                f"Model {model_id!r} is not registered ({hint}). Model ids have the form name:version; "
                "register it with `workbench models register`.",
                kind="model", key=model_id,
            )
        return ModelRecord.from_store(record)

    def list(self, stage: str | None = None) -> list[ModelRecord]:
        """Return registered models, optionally only those at ``stage``."""
        if stage is not None:
            _check_stage(stage)
        records = [ModelRecord.from_store(item) for item in self.store.list_models()]
        return [record for record in records if stage is None or record.stage == stage]

    def set_stage(self, model_id: str, stage: str, *, archive_others: bool = True) -> ModelRecord:
        """Move a model to ``stage``.

        With ``archive_others``, moving a version to production archives the other production versions
        of the same name, so each name has at most one production version.
        """
        _check_stage(stage)
        record = self.get(model_id)
        if stage == "production" and archive_others:
            for other in self.list(stage="production"):
                if other.name == record.name and other.model_id != model_id:
                    self.store.update_model(other.model_id, {"stage": "archived", "updated_at": utc_now()})
                    logger.info("archived model %s because %s moved to production", other.model_id, model_id)
        updated = self.store.update_model(model_id, {"stage": stage, "updated_at": utc_now()})
        logger.info("model %s moved from %s to %s", model_id, record.stage, stage)
        return ModelRecord.from_store(updated)

    def to_frame(self) -> pd.DataFrame:
        """Return one row per registered model."""
        rows = [record.to_dict() for record in self.list()]
        return pd.DataFrame(rows, columns=["model_id", "name", "version", "stage", "metrics", "classes",
                                           "description", "created_at", "updated_at", "has_baseline"])


def _check_feature_names(baseline: BaselineStatistics | None) -> None:
    reserved = [name for name in (baseline.feature_names if baseline else []) if name in RESERVED_FEATURE_NAMES]
    if reserved:
        raise ValidationError(
            f"Baseline feature(s) {reserved} have names that monitoring keeps for its own fields "
            f"{list(RESERVED_FEATURE_NAMES)}. Pass labels, predictions and probabilities to compute_baseline as "
            "arguments (on the command line: --label-column, --prediction-column, --probability-columns, "
            "--exclude), and rename any feature with such a name.",
            field="baseline_statistics", value=reserved,
        )


def _check_stage(stage: str) -> None:
    if stage not in STAGES:
        raise ValidationError(f"Stage {stage!r} is invalid; use one of {', '.join(STAGES)}.",
                              field="stage", value=stage)
