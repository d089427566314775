"""Tables of the model monitoring report, formatted for reading: stored alerts and the metric history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

ALERT_COLUMNS = ("kind", "window_key", "message")
ALERT_TIME_COLUMN = "created_at (UTC)"
PERIOD_COLUMN = "period start (UTC)"

# Columns of Monitor.history that count predictions, features or periods rather than measure a metric.
_HISTORY_COUNT_COLUMNS = ("predictions", "labelled", "drifted_features")


def alerts_table(alerts: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Return stored alerts as a table indexed by creation time, in UTC to the second.

    Parameters
    ----------
    alerts : Iterable[Mapping[str, Any]]
        Alerts as :meth:`~workbench.monitoring.Monitor.alerts` returns them, each with ``created_at``
        (an aware datetime), ``kind``, ``window_key`` and ``message``. Other keys are left out.

    Returns
    -------
    pandas.DataFrame
        Columns ``kind``, ``window_key`` and ``message``, rows in the order given (newest first for
        ``Monitor.alerts``). Empty, with the same columns, when there are no alerts.
    """
    columns = ["created_at", *ALERT_COLUMNS]
    frame = pd.DataFrame([[alert[name] for name in columns] for alert in alerts], columns=columns)

    created = pd.to_datetime(frame["created_at"], utc=True)
    frame.index = pd.Index(created.dt.strftime("%Y-%m-%d %H:%M:%S"), name=ALERT_TIME_COLUMN)
    return frame.drop(columns="created_at")


def history_table(history: pd.DataFrame, *, decimals: int = 3) -> pd.DataFrame:
    """Return the metric history of a model indexed by the start of each period, with rounded metrics.

    Parameters
    ----------
    history : pandas.DataFrame
        A frame from :meth:`~workbench.monitoring.Monitor.history`. It is not modified.
    decimals : int
        Decimals kept for each metric.

    Returns
    -------
    pandas.DataFrame
        One row per period, indexed by its start as ``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM`` when a
        period starts after midnight. Counts are integers, shown as ``<NA>`` where a period has none
        (``drifted_features`` of a period without predictions).
    """
    table = history.copy()

    starts = pd.to_datetime(table.pop("period_start"), utc=True)
    whole_days = bool((starts == starts.dt.normalize()).all())
    date_format = "%Y-%m-%d" if whole_days else "%Y-%m-%d %H:%M"
    table.index = pd.Index(starts.dt.strftime(date_format), name=PERIOD_COLUMN)

    for column in table.columns:
        if column in _HISTORY_COUNT_COLUMNS:
            table[column] = table[column].astype("Int64")
        elif pd.api.types.is_float_dtype(table[column]):
            table[column] = table[column].round(decimals)
    return table
