"""Drift reports of a current window against a baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from workbench.errors import ValidationError
from workbench.monitoring import compute_baseline, detect_drift

# Each statistic is scipy's own computation on the same arrays or table (see test_stattests.py), so
# only float rounding can differ.
RTOL = 1e-12


@pytest.fixture
def small_window_case():
    """Reference of 5,000 rows and a current window of 2 rows that is mostly missing."""
    reference = pd.DataFrame({"num": np.tile([1, 2, 3, 4, 5], 1000), "cat": np.tile([1, 0, 1, 0, 0], 1000)})
    baseline = compute_baseline(reference, feature_types={"cat": "categorical"})
    current = pd.DataFrame({"num": [np.nan, np.nan], "cat": [14, np.nan]})
    return baseline, current


def _several_features(seed: int = 21) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reference and current frames where some features shift and some do not."""
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame({
        "intensity": rng.normal(100, 15, 800),
        "volume": rng.normal(20, 4, 800),
        "modality": rng.choice(["CT", "MR", "US"], 800, p=[0.5, 0.3, 0.2]),
        "contrast": np.where(rng.random(800) < 0.05, np.nan, rng.normal(size=800)),
    })
    current = pd.DataFrame({
        "intensity": rng.normal(104, 15, 300),
        "volume": rng.normal(20, 4, 300),
        "modality": rng.choice(["CT", "MR", "US"], 300, p=[0.35, 0.35, 0.3]),
        "contrast": np.where(rng.random(300) < 0.15, np.nan, rng.normal(size=300)),
    })
    return reference, current


def _raw_pvalues(report) -> list[float]:
    """Distribution and missing-share p-values of a report in feature order, None left out."""
    values = []
    for result in report.features:
        values.extend(value for value in (result.pvalue, result.missing_pvalue) if value is not None)
    return values


def _adjusted_pvalues(report) -> list[float]:
    values = []
    for result in report.features:
        values.extend(value for value in (result.pvalue_adjusted, result.missing_pvalue_adjusted)
                      if value is not None)
    return values


def test_drift_linspace_with_missing_reference() -> None:
    reference = np.linspace(0, 1, 1000)
    reference[::10] = np.nan
    current = np.linspace(0, 1, 500)

    baseline = compute_baseline(pd.DataFrame({"x": reference}))
    result = detect_drift(baseline, pd.DataFrame({"x": current}))["x"]
    expected = stats.ks_2samp(reference[~np.isnan(reference)], current)

    assert baseline.features["x"].missing_share == pytest.approx(0.1, rel=RTOL)
    assert result.reference_size == 900
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    # scipy 1.17 gives D = 0.002 (one step of the current ECDF, 1/500) and p = 1.0 on these arrays.
    assert result.statistic == pytest.approx(0.002, rel=RTOL)
    assert result.pvalue == pytest.approx(1.0, rel=RTOL)
    assert result.status == "no_drift"
    assert result.drift is False


def test_drift_small_window_reports_every_column(small_window_case) -> None:
    baseline, current = small_window_case

    report = detect_drift(baseline, current)

    assert [result.feature for result in report.features] == ["num", "cat"]


def test_drift_small_window_no_valid_current(small_window_case) -> None:
    baseline, current = small_window_case

    result = detect_drift(baseline, current)["num"]

    assert result.status == "insufficient_data"
    assert result.reason == "no valid current values"
    assert result.statistic is None
    assert result.missing_share_current == 1.0


def test_drift_small_window_missing_share_drifts(small_window_case) -> None:
    baseline, current = small_window_case

    result = detect_drift(baseline, current)["num"]
    # None of the 5,000 reference values is missing and both current values are. The one-sided Fisher
    # test takes rows current, reference and columns missing, valid.
    expected = stats.fisher_exact([[2, 0], [0, 5000]], alternative="greater")

    assert result.missing_pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert result.missing_drift is True
    assert result.drift is True


def test_drift_small_window_unseen_category(small_window_case) -> None:
    baseline, current = small_window_case

    result = detect_drift(baseline, current)["cat"]

    assert result.unseen_categories == ("14",)
    assert result.status == "insufficient_data"
    assert result.reason == "1 valid current values; at least 30 are needed for a verdict"


def test_drift_small_window_does_not_mutate(small_window_case) -> None:
    baseline, current = small_window_case
    original = current.copy(deep=True)

    detect_drift(baseline, current)

    pd.testing.assert_frame_equal(current, original)


def test_drift_shifted_numeric_detected() -> None:
    rng = np.random.default_rng(1)
    baseline = compute_baseline(pd.DataFrame({"x": rng.normal(size=2000)}))

    result = detect_drift(baseline, pd.DataFrame({"x": rng.normal(0.5, size=400)}))["x"]

    assert result.status == "drift"
    assert result.test == "ks"
    assert result.effect_size_name == "psi"
    assert result.effect_size > 0.1


def test_drift_ks_matches_scipy_on_report() -> None:
    rng = np.random.default_rng(2)
    reference, current = rng.normal(size=600), rng.normal(0.2, size=250)

    result = detect_drift(compute_baseline(pd.DataFrame({"x": reference})), pd.DataFrame({"x": current}))["x"]
    expected = stats.ks_2samp(reference, current)

    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_drift_asymp_method_matches_scipy() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=600), rng.normal(0.2, size=250)

    result = detect_drift(compute_baseline(pd.DataFrame({"x": reference})), pd.DataFrame({"x": current}),
                          method="asymp")["x"]
    expected = stats.ks_2samp(reference, current, method="asymp")

    assert result.method == "asymp"
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_drift_chi2_matches_scipy_on_report() -> None:
    reference = pd.DataFrame({"modality": ["CT"] * 120 + ["MR"] * 60 + ["US"] * 20})
    current = pd.DataFrame({"modality": ["CT"] * 30 + ["MR"] * 45 + ["US"] * 25 + ["PET"] * 5})
    # Rows are reference and current, and columns are the categories in sorted order CT, MR, PET, US.
    table = np.array([[120, 60, 0, 20],
                      [30, 45, 5, 25]])

    result = detect_drift(compute_baseline(reference), current)["modality"]
    expected = stats.chi2_contingency(table, correction=False)

    assert result.test == "chi2"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert result.unseen_categories == ("PET",)


def test_drift_cramers_v_matches_scipy_on_report() -> None:
    reference = pd.DataFrame({"modality": ["CT"] * 120 + ["MR"] * 60 + ["US"] * 20})
    current = pd.DataFrame({"modality": ["CT"] * 30 + ["MR"] * 45 + ["US"] * 25})
    table = np.array([[120, 60, 20],
                      [30, 45, 25]])

    result = detect_drift(compute_baseline(reference), current)["modality"]
    expected = stats.contingency.association(table, method="cramer", correction=False)

    assert result.effect_size_name == "cramers_v"
    assert result.effect_size == pytest.approx(expected, rel=RTOL)


def test_drift_bh_matches_statsmodels() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current, correction="bh")
    expected = multipletests(_raw_pvalues(report), method="fdr_bh")[1]

    np.testing.assert_allclose(_adjusted_pvalues(report), expected, rtol=RTOL, atol=0)


def test_drift_bonferroni_matches_statsmodels() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current, correction="bonferroni")
    expected = multipletests(_raw_pvalues(report), method="bonferroni")[1]

    np.testing.assert_allclose(_adjusted_pvalues(report), expected, rtol=RTOL, atol=0)


def test_drift_bh_family_has_every_pvalue() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current)

    # Four distribution tests and the missing-share test of "contrast", the only feature with NaN.
    assert len(_raw_pvalues(report)) == 5


def test_drift_correction_none_keeps_raw() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current, correction="none")

    assert _adjusted_pvalues(report) == _raw_pvalues(report)


def test_drift_verdict_uses_adjusted_pvalue() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current, alpha=0.05)

    for result in report.features:
        assert (result.status == "drift") == (result.pvalue_adjusted < 0.05), result.feature


def test_drift_does_not_mutate_current() -> None:
    reference, current = _several_features()
    original = current.copy(deep=True)

    detect_drift(compute_baseline(reference), current)

    pd.testing.assert_frame_equal(current, original)


def test_drift_rejects_missing_feature() -> None:
    reference, current = _several_features()

    with pytest.raises(ValidationError, match=r"lacks baseline feature\(s\) \['volume'\]"):
        detect_drift(compute_baseline(reference), current.drop(columns=["volume"]))


def test_drift_lists_ignored_columns() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current.assign(site_code="A"))

    assert report.ignored_columns == ("site_code",)
    assert "site_code" not in report.to_frame().index


def test_drift_rejects_non_numeric_current() -> None:
    baseline = compute_baseline(pd.DataFrame({"x": np.arange(50.0)}))

    with pytest.raises(ValidationError, match="'x' is numeric but contains 'n/a'"):
        detect_drift(baseline, pd.DataFrame({"x": ["1.0"] * 40 + ["n/a"]}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alpha": 0.0}, "alpha=0.0 is invalid"),
        ({"alpha": 1.5}, "alpha=1.5 is invalid"),
        ({"correction": "holm"}, "correction='holm' is invalid"),
        ({"min_samples": 0}, "min_samples=0 is invalid"),
    ],
)
def test_drift_rejects_bad_options(options: dict, message: str) -> None:
    baseline = compute_baseline(pd.DataFrame({"x": np.arange(50.0)}))

    with pytest.raises(ValidationError, match=message):
        detect_drift(baseline, pd.DataFrame({"x": np.arange(50.0)}), **options)


def test_drift_too_small_reference() -> None:
    baseline = compute_baseline(pd.DataFrame({"x": np.arange(10.0)}))

    result = detect_drift(baseline, pd.DataFrame({"x": np.arange(100.0)}))["x"]

    assert result.status == "insufficient_data"
    assert result.reason == "10 valid reference values; at least 30 are needed for a verdict"


def test_drift_report_frame_and_dict() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current)
    frame = report.to_frame()
    data = report.to_dict()

    assert list(frame.index) == ["intensity", "volume", "modality", "contrast"]
    assert data["drifted_features"] == report.drifted_features
    assert data["alert"] == report.alert


def test_drift_unknown_feature_lookup_raises() -> None:
    reference, current = _several_features()

    report = detect_drift(compute_baseline(reference), current)

    with pytest.raises(KeyError):
        report["site_code"]
