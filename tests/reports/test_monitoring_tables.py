"""Tests of the tables that the model monitoring report shows."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from workbench.reports.monitoring_tables import ALERT_TIME_COLUMN, PERIOD_COLUMN, alerts_table, history_table

LONG_MESSAGE = "drift in 4 feature(s): mean_texture, texture_error, worst_texture, site"


def _alert(kind: str, window_key: str, created_at: datetime, message: str = LONG_MESSAGE) -> dict:
    return {
        "alert_id": f"{kind}-{window_key}",
        "model_id": "breast-cancer-lr:1",
        "window_key": window_key,
        "kind": kind,
        "created_at": created_at,
        "message": message,
        "features": ["site"],
    }


def _history() -> pd.DataFrame:
    return pd.DataFrame({
        "period_start": pd.to_datetime(["2026-09-07", "2026-09-14", "2026-09-21"], utc=True),
        "predictions": [280, 0, 265],
        "labelled": [179, 0, 144],
        "drifted_features": [0, None, 4],
        "decay_status": ["ok", "insufficient_labels", "decay"],
        "accuracy": [0.960894, np.nan, 0.958333],
        "roc_auc": [0.996261, np.nan, 0.987654],
    })


def test_alerts_table_columns():
    alerts = [_alert("drift", "last:600 ending pred-002400", datetime(2026, 12, 4, 20, 42, 55, 7574, tzinfo=UTC))]

    table = alerts_table(alerts)

    assert list(table.columns) == ["kind", "window_key", "message"]
    assert table.index.name == ALERT_TIME_COLUMN
    assert table.index.tolist() == ["2026-12-04 20:42:55"]


def test_alerts_table_keeps_message_and_order():
    newer = _alert("decay", "all ending pred-002400", datetime(2026, 12, 4, 21, 0, tzinfo=UTC), "decay of f1")
    older = _alert("drift", "last:600 ending pred-002400", datetime(2026, 12, 4, 20, 0, tzinfo=UTC))

    table = alerts_table([newer, older])

    assert table["kind"].tolist() == ["decay", "drift"]
    assert table["message"].tolist() == ["decay of f1", LONG_MESSAGE]


def test_alerts_table_converts_to_utc():
    created = datetime.fromisoformat("2026-12-04T22:42:55+02:00")

    table = alerts_table([_alert("drift", "all ending pred-1", created)])

    assert table.index.tolist() == ["2026-12-04 20:42:55"]


def test_alerts_table_empty():
    table = alerts_table([])

    assert table.empty
    assert list(table.columns) == ["kind", "window_key", "message"]


def test_history_table_index_dates():
    table = history_table(_history())

    assert table.index.name == PERIOD_COLUMN
    assert table.index.tolist() == ["2026-09-07", "2026-09-14", "2026-09-21"]


def test_history_table_hourly_periods_keep_time():
    history = _history()
    history["period_start"] = pd.to_datetime(["2026-09-07 00:00", "2026-09-07 06:00", "2026-09-07 12:00"], utc=True)

    table = history_table(history)

    assert table.index.tolist() == ["2026-09-07 00:00", "2026-09-07 06:00", "2026-09-07 12:00"]


def test_history_table_rounds_metrics():
    table = history_table(_history())

    assert table["accuracy"].iloc[0] == 0.961
    assert table["roc_auc"].iloc[2] == 0.988
    assert np.isnan(table["accuracy"].iloc[1])


def test_history_table_integer_counts():
    table = history_table(_history())

    assert str(table["drifted_features"].dtype) == "Int64"
    assert table["drifted_features"].tolist()[0] == 0
    assert table["drifted_features"].isna().tolist() == [False, True, False]
    assert table["predictions"].tolist() == [280, 0, 265]


def test_history_table_keeps_input():
    history = _history()
    before = copy.deepcopy(history)

    history_table(history)

    pd.testing.assert_frame_equal(history, before)


def test_history_table_empty():
    empty = pd.DataFrame(columns=["period_start", "predictions", "labelled", "drifted_features", "decay_status"])

    table = history_table(empty)

    assert table.empty
    assert list(table.columns) == ["predictions", "labelled", "drifted_features", "decay_status"]
