"""A wrapper that records the predictions a model makes."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ValidationError
from workbench.monitoring.monitor import Monitor

logger = logging.getLogger(__name__)


class MonitoredModel:
    """Wrap a scikit-learn style classifier so that its predictions are recorded.

    Each call of :meth:`predict` or :meth:`predict_proba` records one prediction per input row, with
    the class probabilities when the model has ``predict_proba``. Call one of the two per request:
    calling both on the same rows records them twice, under different random prediction ids unless
    ``prediction_ids`` is given. Nothing is recorded while the monitor's settings have monitoring
    switched off (``MODEL_MONITORING_ENABLED=false``); predictions are still returned.

    Parameters
    ----------
    model : object
        Anything with ``predict(X)`` and, optionally, ``predict_proba(X)`` whose columns follow the
        registered model's classes.
    monitor : Monitor
        Where predictions are recorded.
    model_id : str
        The registered model id.
    model_features : sequence of str, optional
        Columns the model takes, when they differ from the monitored baseline features (a baseline
        may also watch metadata such as the imaging site). By default the model's
        ``feature_names_in_`` when it has them, otherwise the baseline features.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from workbench.config import load_settings
    >>> from workbench.store import open_store
    >>> frame = pd.DataFrame({"size_mm": [4.0, 9.0, 15.0, 22.0], "site": ["A", "B", "A", "B"]})
    >>> labels = [0, 0, 1, 1]
    >>> classifier = LogisticRegression().fit(frame[["size_mm"]], labels)
    >>> monitor = Monitor(open_store("sqlite:///:memory:"), load_settings({}, dotenv_path=None))
    >>> record = monitor.registry.register("nodule", "1", baseline_statistics=compute_baseline(
    ...     frame, labels=labels, predictions=classifier.predict(frame[["size_mm"]]), classes=[0, 1]))
    >>> MonitoredModel(classifier, monitor, "nodule:1").predict(frame).tolist()
    [0, 0, 1, 1]
    >>> monitor.store.count_predictions("nodule:1")
    4
    """

    def __init__(self, model: Any, monitor: Monitor, model_id: str,
                 model_features: Sequence[str] | None = None) -> None:
        self.model = model
        self.monitor = monitor
        self.model_id = model_id
        self._feature_names = monitor.registry.get(model_id).baseline.feature_names
        default = getattr(model, "feature_names_in_", None)
        self._model_features = list(model_features if model_features is not None
                                    else default if default is not None else self._feature_names)

    def predict(self, features: pd.DataFrame, *, prediction_ids: list[str] | None = None) -> np.ndarray:
        """Predict, record every prediction with its probabilities, and return the predictions."""
        self._check_frame(features)
        inputs = features[self._model_features]
        predictions = np.asarray(self.model.predict(inputs))
        probabilities = self.model.predict_proba(inputs) if hasattr(self.model, "predict_proba") else None
        self._record(features[self._feature_names], predictions, probabilities, prediction_ids)
        return predictions

    def predict_proba(self, features: pd.DataFrame, *, prediction_ids: list[str] | None = None) -> np.ndarray:
        """Predict probabilities, record the predictions, and return the probabilities."""
        self._check_frame(features)
        inputs = features[self._model_features]
        probabilities = np.asarray(self.model.predict_proba(inputs))
        predictions = np.asarray(self.model.predict(inputs))
        self._record(features[self._feature_names], predictions, probabilities, prediction_ids)
        return probabilities

    def _check_frame(self, features: Any) -> None:
        needed = list(dict.fromkeys([*self._feature_names, *self._model_features]))
        if not isinstance(features, pd.DataFrame):
            raise ValidationError(
                f"MonitoredModel takes a DataFrame with the columns {needed}, got {type(features).__name__}; "
                "wrap arrays with pandas.DataFrame(values, columns=...).",
                field="features", value=type(features).__name__,
            )
        missing = [column for column in needed if column not in features.columns]
        if missing:
            raise ValidationError(f"The input lacks column(s) {missing}; it needs {needed}.",
                                  field="features", value=missing)

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
