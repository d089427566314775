"""The monitor: records predictions and labels, and checks windows of them for drift and decay.

An alert is stored once per model, window and kind (drift or decay) and logged at WARNING with the
model id, the window and the features or metrics involved.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from workbench.config import Settings, load_settings
from workbench.errors import ValidationError
from workbench.monitoring import validation
from workbench.monitoring.decay import DecayReport, evaluate_decay
from workbench.monitoring.drift import detect_drift
from workbench.monitoring.status import ModelStatus, WindowSummary
from workbench.monitoring.window import Window
from workbench.registry import ModelRecord, Registry
from workbench.store import Store, open_store
from workbench.store.urls import mask_url
from workbench.timeutil import to_utc, utc_now

logger = logging.getLogger(__name__)


class Monitor:
    """Record predictions of registered models and check them against their baselines.

    Parameters
    ----------
    store : Store, optional
        Where predictions, labels and alerts live; by default the store at ``settings.store_url``.
    settings : Settings, optional
        Thresholds and the store URL; by default :func:`~workbench.config.load_settings`.
    alert_sinks : sequence of callables, optional
        Called with each newly stored alert (a dict), for example to publish it on a queue. A sink that
        raises is logged at ERROR and does not stop the check, because the alert is already stored.
    """

    def __init__(self, store: Store | None = None, settings: Settings | None = None,
                 alert_sinks: Sequence[Callable[[dict[str, Any]], None]] = ()) -> None:
        self.settings = settings or load_settings()
        self.store = store or open_store(self.settings.store_url)
        self.registry = Registry(self.store)
        self.alert_sinks = list(alert_sinks)
        # Registered versions never change their baseline or classes, so recording can reuse them
        # instead of reading and decoding the (large) model record on every call.
        self._recording_models: dict[str, ModelRecord] = {}
        logger.debug("monitor uses store %s", mask_url(self.store.url))

    # Recording ---------------------------------------------------------------------------------------

    def record(
        self,
        model_id: str,
        features: Mapping[str, Any],
        prediction: Any,
        probability: Sequence[float] | Mapping[Any, float] | None = None,
        *,
        label: Any = None,
        prediction_id: str | None = None,
        timestamp: datetime | str | None = None,
    ) -> str:
        """Record one prediction, and its label if known; return its prediction id.

        A prediction id that is already stored is not stored again. A label of None, NaN or
        ``pd.NA`` means the label is not known yet.

        Raises
        ------
        NotFoundError
            If the model is not registered.
        ValidationError
            If features, prediction, probabilities, label or timestamp do not fit the model.
        """
        model = self._recording_model(model_id)
        row = validation.prepare_prediction(
            model_id, model.baseline, model.classes, features, prediction, probability,
            prediction_id=prediction_id, timestamp=timestamp,
        )
        label_rows = []
        if not _is_missing(label):
            label_rows.append(self._label_row(model, row["prediction_id"], label, row["timestamp"]))

        self.store.insert_predictions([row])
        if label_rows:
            self.store.insert_labels(label_rows)
        return row["prediction_id"]

    def record_batch(
        self,
        model_id: str,
        features: pd.DataFrame | Sequence[Mapping[str, Any]],
        predictions: Sequence[Any] | np.ndarray | pd.Series,
        probabilities: np.ndarray | pd.DataFrame | Sequence[Sequence[float]] | None = None,
        *,
        labels: Sequence[Any] | np.ndarray | pd.Series | None = None,
        prediction_ids: Sequence[str] | pd.Series | None = None,
        timestamps: Sequence[datetime | str] | pd.Series | None = None,
    ) -> int:
        """Record many predictions at once; return how many were new.

        Every row is checked before anything is stored, so one bad row stores nothing; the error
        names the row. Labels may contain None for rows whose label is not known yet.
        """
        model = self._recording_model(model_id)
        records = features.to_dict("records") if isinstance(features, pd.DataFrame) else list(features)
        count = len(records)
        columns = {
            "predictions": _as_list(predictions, count, "predictions"),
            "probabilities": None if probabilities is None else _as_list(probabilities, count, "probabilities"),
            "labels": None if labels is None else _as_list(labels, count, "labels"),
            "prediction_ids": None if prediction_ids is None else _as_list(prediction_ids, count, "prediction_ids"),
            "timestamps": None if timestamps is None else _as_list(timestamps, count, "timestamps"),
        }
        rows, label_rows = self._prepare_batch(model, records, columns)

        stored = self.store.insert_predictions(rows)
        if label_rows:
            self.store.insert_labels(label_rows)
        logger.info("recorded %d predictions of model %s (%d new)", count, model_id, stored)
        return stored

    def record_label(
        self, model_id: str, prediction_id: str, label: Any, *, timestamp: datetime | str | None = None
    ) -> None:
        """Record the true class of an earlier prediction; the label may also arrive first."""
        self.record_labels(model_id, [prediction_id], [label], timestamps=None if timestamp is None else [timestamp])

    def record_labels(
        self,
        model_id: str,
        prediction_ids: Sequence[str] | pd.Series,
        labels: Sequence[Any] | pd.Series,
        *,
        timestamps: Sequence[datetime | str] | pd.Series | None = None,
    ) -> int:
        """Record the true classes of earlier predictions; return how many labels were written."""
        model = self._recording_model(model_id)
        ids = _as_list(prediction_ids, len(prediction_ids), "prediction_ids")
        values = _as_list(labels, len(ids), "labels")
        times = [None] * len(ids) if timestamps is None else _as_list(timestamps, len(ids), "timestamps")
        rows = []
        for index, (prediction_id, label, timestamp) in enumerate(zip(ids, values, times, strict=True)):
            where = f"row {index}: " if len(ids) > 1 else ""
            when = utc_now() if timestamp is None else to_utc(timestamp, field=f"{where}timestamp")
            checked_id = validation.check_prediction_id(prediction_id, where)
            rows.append(self._label_row(model, checked_id, label, when, where))
        return self.store.insert_labels(rows)

    # Reading -----------------------------------------------------------------------------------------

    def load_window(self, model_id: str, window: Window | str | None = None) -> pd.DataFrame:
        """Return the predictions of a window with one column per feature.

        The columns are ``prediction_id``, ``timestamp``, the features, ``prediction``, ``probability``,
        ``label`` and ``label_timestamp``, oldest first.
        """
        return self._window_frame(self.registry.get(model_id), Window.parse(window))

    def _window_frame(self, model: ModelRecord, window: Window) -> pd.DataFrame:
        """Build the frame of :meth:`load_window` for a model record the caller already read."""
        raw = self.store.fetch_predictions(model.model_id, start=window.start, end=window.end, last=window.last)
        names = model.baseline.feature_names if model.baseline else []
        features = pd.DataFrame.from_records(raw["features"].tolist(), columns=names, index=raw.index)
        meta = raw.drop(columns=["features", "model_id"])
        return pd.concat([meta[["prediction_id", "timestamp"]], features,
                          meta[["prediction", "probability", "label", "label_timestamp"]]], axis=1)

    def alerts(self, model_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Return stored alerts, newest first."""
        return self.store.list_alerts(model_id, limit)

    # Checking ----------------------------------------------------------------------------------------

    def status(self, model_id: str, window: Window | str | None = None, *, store_alerts: bool = True) -> ModelStatus:
        """Check one window of a model for drift and decay and store an alert for each finding.

        Parameters
        ----------
        model_id : str
            A registered model with baseline statistics.
        window : Window or str, optional
            The last N predictions or a UTC range; by default the last 1,000 predictions.
        store_alerts : bool
            Store and log alerts; False only computes.
        """
        model = self._monitored_model(model_id)
        window = Window.parse(window)
        frame = self._window_frame(model, window)
        summary = WindowSummary.of(window, frame)

        drift = detect_drift(
            model.baseline, frame[model.baseline.feature_names],
            alpha=self.settings.drift_alpha, correction=self.settings.drift_correction,
            min_samples=self.settings.min_samples,
        )
        decay = self._decay(model, frame)
        alerts = self._raise_alerts(model, summary, drift.drifted_features, decay) if store_alerts else []
        return ModelStatus(model_id=model_id, stage=model.stage, window=summary, drift=drift, decay=decay,
                           alerts=tuple(alerts))

    def status_all(self, window: Window | str | None = None, *, store_alerts: bool = True) -> list[ModelStatus]:
        """Check every registered model that has a baseline and is not archived."""
        models = [record for record in self.registry.list() if record.baseline is not None
                  and record.stage != "archived"]
        return [self.status(record.model_id, window, store_alerts=store_alerts) for record in models]

    def history(self, model_id: str, every: str = "7D", *, window: Window | str = "all") -> pd.DataFrame:
        """Return drift and decay per consecutive period, such as each week of the stream.

        Each row is one period of length ``every`` (a pandas offset such as ``"1D"`` or ``"7D"``) with
        the prediction and label counts, the number of drifted features and each metric. The first
        period starts at midnight UTC of the day of the window's first prediction. A period without
        predictions has a row with zero counts and no drift count. No alert is stored.
        """
        model = self._monitored_model(model_id)
        frame = self._window_frame(model, Window.parse(window))
        columns = ["period_start", "predictions", "labelled", "drifted_features", "decay_status"]
        if frame.empty:
            return pd.DataFrame(columns=columns)

        grouper = pd.Grouper(key="timestamp", freq=every, origin="start_day")
        rows = []
        for period_start, period in frame.groupby(grouper, sort=True):
            decay = self._decay(model, period)
            drifted = None
            if len(period):
                drift = detect_drift(model.baseline, period[model.baseline.feature_names],
                                     alpha=self.settings.drift_alpha, correction=self.settings.drift_correction,
                                     min_samples=self.settings.min_samples)
                drifted = len(drift.drifted_features)
            row = {"period_start": period_start, "predictions": len(period), "labelled": decay.labelled,
                   "drifted_features": drifted, "decay_status": decay.status}
            row.update({item.metric: item.current for item in decay.metrics})
            rows.append(row)
        return pd.DataFrame(rows)

    # Helpers -----------------------------------------------------------------------------------------

    def _recording_model(self, model_id: str) -> ModelRecord:
        if not isinstance(model_id, str):
            raise ValidationError(f"Model id {model_id!r} is invalid; use a string such as 'name:version'.",
                                  field="model_id", value=model_id)
        model = self._recording_models.get(model_id)
        if model is None:
            model = self._recording_models[model_id] = self._monitored_model(model_id)
        return model

    def _monitored_model(self, model_id: str) -> ModelRecord:
        model = self.registry.get(model_id)
        if model.baseline is None:
            raise ValidationError(
                f"Model {model_id!r} has no baseline statistics, so it cannot be monitored; register a "
                "version with baseline_statistics=compute_baseline(reference, ...).",
                field="model_id", value=model_id,
            )
        return model

    def _prepare_batch(
        self, model: ModelRecord, records: list[Mapping[str, Any]], columns: dict[str, list[Any] | None]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        rows, label_rows, seen = [], [], set()
        for index, features in enumerate(records):
            where = f"row {index}: "
            row = validation.prepare_prediction(
                model.model_id, model.baseline, model.classes, features, columns["predictions"][index],
                None if columns["probabilities"] is None else columns["probabilities"][index],
                prediction_id=None if columns["prediction_ids"] is None else columns["prediction_ids"][index],
                timestamp=None if columns["timestamps"] is None else columns["timestamps"][index],
                where=where,
            )
            if row["prediction_id"] in seen:
                continue
            seen.add(row["prediction_id"])
            rows.append(row)
            label = None if columns["labels"] is None else columns["labels"][index]
            if not _is_missing(label):
                label_rows.append(self._label_row(model, row["prediction_id"], label, row["timestamp"], where))
        return rows, label_rows

    def _label_row(self, model: ModelRecord, prediction_id: str, label: Any, timestamp: datetime,
                   where: str = "") -> dict[str, Any]:
        value = validation.check_class(label, model.classes, "label", where)
        return {"prediction_id": prediction_id, "model_id": model.model_id, "label": value, "timestamp": timestamp}

    def _send_to_sinks(self, alert: dict[str, Any]) -> None:
        for sink in self.alert_sinks:
            _send_alert(sink, alert)

    def _decay(self, model: ModelRecord, frame: pd.DataFrame) -> DecayReport:
        labelled = frame[frame["label"].notna()]
        probabilities = None
        if len(labelled) and labelled["probability"].notna().all():
            probabilities = np.asarray(labelled["probability"].tolist(), dtype="float64")
        return evaluate_decay(
            model.baseline.metrics,
            np.asarray(labelled["label"].tolist()),
            np.asarray(labelled["prediction"].tolist()),
            probabilities,
            model.classes,
            tolerance=self.settings.decay_tolerance,
            min_labels=self.settings.min_labels,
        )

    def _raise_alerts(self, model: ModelRecord, summary: WindowSummary, drifted: list[str],
                      decay: DecayReport) -> list[dict[str, Any]]:
        findings = []
        if drifted:
            findings.append(("drift", {"features": drifted},
                             f"drift in {len(drifted)} feature(s): {', '.join(drifted)}"))
        if decay.alert:
            findings.append(("decay", {"metrics": decay.decayed_metrics},
                             f"decay of {', '.join(decay.decayed_metrics)} beyond {decay.tolerance}"))

        alerts = []
        for kind, details, message in findings:
            alert = {
                "alert_id": hashlib.sha256(f"{model.model_id}|{summary.key}|{kind}".encode()).hexdigest()[:32],
                "model_id": model.model_id,
                "window_key": summary.key,
                "kind": kind,
                "created_at": utc_now(),
                "message": message,
                "window": summary.to_dict(),
                **details,
            }
            if self.store.insert_alert(alert):
                logger.warning("%s alert for model %s, window %s: %s", kind, model.model_id, summary.key, message)
                self._send_to_sinks(alert)
            alerts.append(alert)
        return alerts


def _send_alert(sink: Callable[[dict[str, Any]], None], alert: dict[str, Any]) -> None:
    try:
        sink(alert)
    except Exception:  # the alert is stored; a failing sink must not stop monitoring
        logger.exception("alert sink %r failed for alert %s of model %s", sink, alert["alert_id"], alert["model_id"])


def _as_list(values: Any, count: int, name: str) -> list[Any]:
    if isinstance(values, pd.DataFrame | pd.Series | np.ndarray):
        items = values.to_numpy().tolist() if not isinstance(values, np.ndarray) else values.tolist()
    else:
        items = list(values)
    if len(items) != count:
        raise ValidationError(
            f"{name} has {len(items)} entries but there are {count} rows of features; pass one per row.",
            field=name, value=len(items),
        )
    return items


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
