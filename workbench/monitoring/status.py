"""Result objects of a monitoring check: the window that was read and the status of one model."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from workbench.monitoring.decay import DecayReport
from workbench.monitoring.drift import DriftReport
from workbench.monitoring.window import Window


@dataclass(frozen=True)
class WindowSummary:
    """The predictions a check read.

    Attributes
    ----------
    window : Window
        The window as requested.
    predictions, labelled : int
        Predictions in the window and how many of them have a label.
    first, last : datetime or None
        Timestamps of the oldest and newest prediction read.
    last_prediction_id : str or None
        Id of the newest prediction read.
    """

    window: Window
    predictions: int
    labelled: int
    first: datetime | None
    last: datetime | None
    last_prediction_id: str | None

    @classmethod
    def of(cls, window: Window, frame: pd.DataFrame) -> WindowSummary:
        """Summarise the window frame returned by :meth:`Monitor.load_window`."""
        empty = frame.empty
        return cls(
            window=window,
            predictions=len(frame),
            labelled=int(frame["label"].notna().sum()),
            first=None if empty else frame["timestamp"].iloc[0].to_pydatetime(),
            last=None if empty else frame["timestamp"].iloc[-1].to_pydatetime(),
            last_prediction_id=None if empty else str(frame["prediction_id"].iloc[-1]),
        )

    @property
    def key(self) -> str:
        """Identity of the window for alerts: a repeated check of unchanged data gives the same key.

        A closed time range is its own key. Any other window moves as predictions arrive, so its key
        adds the newest prediction id read.
        """
        if self.window.last is None and self.window.end is not None:
            return self.window.describe()
        return f"{self.window.describe()} ending {self.last_prediction_id}"

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "requested": self.window.to_dict(),
            "key": self.key,
            "predictions": self.predictions,
            "labelled": self.labelled,
            "first_timestamp": None if self.first is None else self.first.isoformat(),
            "last_timestamp": None if self.last is None else self.last.isoformat(),
        }


@dataclass(frozen=True)
class ModelStatus:
    """Drift and decay of one model over one window, with the alerts the check raised."""

    model_id: str
    stage: str
    window: WindowSummary
    drift: DriftReport
    decay: DecayReport
    alerts: tuple[dict[str, Any], ...]

    @property
    def alert(self) -> bool:
        """Whether drift or decay was found."""
        return self.drift.alert or self.decay.alert

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "model_id": self.model_id,
            "stage": self.stage,
            "alert": self.alert,
            "window": self.window.to_dict(),
            "drift": self.drift.to_dict(),
            "decay": self.decay.to_dict(),
            "alerts": [_alert_json(alert) for alert in self.alerts],
        }

    def summary(self) -> str:
        """Return a one-paragraph plain-text summary."""
        window = self.window
        span = f"{window.first:%Y-%m-%d %H:%M} to {window.last:%Y-%m-%d %H:%M} UTC" if window.first else "no data"
        drifted = self.drift.drifted_features
        header = (f"Model {self.model_id} ({self.stage}), window {window.window.describe()}: "
                  f"{window.predictions} predictions, {window.labelled} labelled, {span}.")
        tested = [result for result in self.drift.features if result.test is not None]
        if window.predictions == 0:
            drift_line = "Drift: not tested, the window has no predictions."
        elif not tested:
            drift_line = "Drift: not tested, too few valid values in every feature."
        else:
            drift_line = f"Drift: {len(drifted)} of {len(self.drift.features)} features{_listed(drifted)}"
        decay_line = f"Decay: {_DECAY_WORDS.get(self.decay.status, self.decay.status)}"
        return "\n".join([header, drift_line, decay_line + _listed(self.decay.decayed_metrics)])

    def _repr_html_(self) -> str:
        paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in self.summary().splitlines())
        return paragraphs + self.drift._repr_html_() + self.decay._repr_html_()


def _alert_json(alert: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in alert.items()}


_DECAY_WORDS = {
    "decay": "detected",
    "ok": "none",
    "insufficient_labels": "not tested, too few labelled predictions",
    "no_baseline_metrics": "not tested, the baseline has no metrics",
}


def _listed(names: list[str]) -> str:
    return f" ({', '.join(names)})." if names else "."
