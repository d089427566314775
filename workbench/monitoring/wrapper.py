"""A wrapper that records every prediction a model makes."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from workbench.monitoring.monitor import Monitor

logger = logging.getLogger(__name__)


class MonitoredModel:
    """Wrap a scikit-learn style classifier so that every ``predict`` call is recorded.

    Nothing is recorded while the monitor's settings have monitoring switched off
    (``MODEL_MONITORING_ENABLED=false``); predictions are still returned.

    Parameters
    ----------
    model : object
        Anything with ``predict(X)`` and, optionally, ``predict_proba(X)`` whose columns follow the
        registered model's classes.
    monitor : Monitor
        Where predictions are recorded.
    model_id : str
        The registered model id.

    Examples
    --------
    >>> wrapped = MonitoredModel(classifier, monitor, "breast-cancer-lr:1")  # doctest: +SKIP
    >>> wrapped.predict(frame)  # doctest: +SKIP
    """

    def __init__(self, model: Any, monitor: Monitor, model_id: str) -> None:
        self.model = model
        self.monitor = monitor
        self.model_id = model_id
        self._feature_names = monitor.registry.get(model_id).baseline.feature_names

    def predict(self, features: pd.DataFrame, *, prediction_ids: list[str] | None = None) -> np.ndarray:
        """Predict, record every prediction with its probabilities, and return the predictions."""
        frame = features[self._feature_names]
        predictions = np.asarray(self.model.predict(frame))
        probabilities = self.model.predict_proba(frame) if hasattr(self.model, "predict_proba") else None
        self._record(frame, predictions, probabilities, prediction_ids)
        return predictions

    def predict_proba(self, features: pd.DataFrame, *, prediction_ids: list[str] | None = None) -> np.ndarray:
        """Predict probabilities, record the predictions, and return the probabilities."""
        frame = features[self._feature_names]
        probabilities = np.asarray(self.model.predict_proba(frame))
        predictions = np.asarray(self.model.predict(frame))
        self._record(frame, predictions, probabilities, prediction_ids)
        return probabilities

    def _record(self, frame: pd.DataFrame, predictions: np.ndarray, probabilities: Any,
                prediction_ids: list[str] | None) -> None:
        if not self.monitor.settings.monitoring_enabled:
            logger.debug("not recording %d predictions of %s: MODEL_MONITORING_ENABLED is false",
                         len(frame), self.model_id)
            return
        self.monitor.record_batch(self.model_id, frame, predictions, probabilities, prediction_ids=prediction_ids)

    def __getattr__(self, name: str) -> Any:
        # Python calls this only for names the wrapper lacks. copy and pickle probe attributes of an
        # instance whose __init__ has not run, where delegating to the missing ``model`` would recurse.
        try:
            model = self.__dict__["model"]
        except KeyError:
            raise AttributeError(name) from None
        return getattr(model, name)
