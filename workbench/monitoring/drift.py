"""Data drift of a current window against a baseline, feature by feature.

Numeric features get a two-sample Kolmogorov–Smirnov test against the stored reference sample and the
population stability index as effect size. Categorical features get a chi-square test of homogeneity
over the union of reference and current categories, with Cramér's V as effect size. Every feature's
missing share gets a one-sided Fisher exact test of its own. All p-values of one report form one family
corrected for multiple testing (Benjamini–Hochberg by default), and a test alerts when its adjusted
p-value is below ``alpha``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from workbench.config import CORRECTIONS
from workbench.errors import ValidationError
from workbench.monitoring import stattests
from workbench.monitoring.baseline import BaselineStatistics, FeatureBaseline
from workbench.monitoring.features import CATEGORICAL, as_numeric, category_counts

DRIFT = "drift"
NO_DRIFT = "no_drift"
INSUFFICIENT_DATA = "insufficient_data"

#: Minimum number of valid values a sample needs before a distribution test gives a verdict. Below it the
#: Kolmogorov–Smirnov and chi-square tests have little power, so "no drift" would mostly mean "too
#: few values to tell".
DEFAULT_MIN_SAMPLES = 30

# Columns shown in a notebook, with their headers; to_frame() has them all.
_DISPLAY_COLUMNS = {
    "kind": "kind",
    "status": "status",
    "drift": "drift",
    "test": "test",
    "statistic": "statistic",
    "pvalue_adjusted": "adjusted p",
    "effect_size": "effect size",
    "missing_share_current": "missing share",
    "missing_drift": "missing drift",
    "unseen_categories": "unseen categories",
    "reason": "reason",
}

_STATSMODELS_METHOD = {"bh": "fdr_bh", "bonferroni": "bonferroni"}


@dataclass(frozen=True)
class FeatureDrift:
    """Drift result of one feature.

    Attributes
    ----------
    feature, kind : str
        Feature name and ``"numeric"`` or ``"categorical"``.
    status : str
        ``"drift"``, ``"no_drift"`` or ``"insufficient_data"`` for the distribution test.
    test : str or None
        ``"ks"`` or ``"chi2"``; None when there were too few values to test.
    method : str or None
        ``"exact"`` or ``"asymp"`` for the Kolmogorov–Smirnov test.
    statistic, pvalue, pvalue_adjusted : float or None
        Distribution test results; the adjusted p-value is after multiple-testing correction.
    effect_size : float or None
        Population stability index (numeric) or Cramér's V (categorical).
    effect_size_name : str
        ``"psi"`` or ``"cramers_v"``.
    threshold : float
        The ``alpha`` that adjusted p-values are compared with.
    reference_size, current_size : int
        Valid values in the reference sample and in the current window.
    reason : str or None
        Why there is no verdict, when status is ``"insufficient_data"``.
    missing_share_reference, missing_share_current : float
        Shares of missing values.
    missing_pvalue, missing_pvalue_adjusted : float or None
        One-sided Fisher exact test of a higher current missing share; None if nothing is missing.
    missing_drift : bool
        Whether the missing share rose significantly.
    unseen_categories : tuple of str
        Current categories that the reference never had (categorical only).
    """

    feature: str
    kind: str
    status: str
    test: str | None
    method: str | None
    statistic: float | None
    pvalue: float | None
    pvalue_adjusted: float | None
    effect_size: float | None
    effect_size_name: str
    threshold: float
    reference_size: int
    current_size: int
    reason: str | None
    missing_share_reference: float
    missing_share_current: float
    missing_pvalue: float | None
    missing_pvalue_adjusted: float | None
    missing_drift: bool
    unseen_categories: tuple[str, ...] = ()

    @property
    def drift(self) -> bool:
        """Whether the distribution or the missing share drifted."""
        return self.status == DRIFT or self.missing_drift

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values, with ``drift`` included."""
        data = asdict(self)
        data["unseen_categories"] = list(self.unseen_categories)
        data["drift"] = self.drift
        return data


@dataclass(frozen=True)
class DriftReport:
    """Drift results of all features of one window.

    Attributes
    ----------
    features : tuple of FeatureDrift
        One result per baseline feature, in baseline order.
    alpha : float
        Significance level after correction.
    correction : str
        ``"bh"``, ``"bonferroni"`` or ``"none"``.
    ignored_columns : tuple of str
        Current columns that the baseline does not have.
    """

    features: tuple[FeatureDrift, ...]
    alpha: float
    correction: str
    ignored_columns: tuple[str, ...] = field(default=())

    @property
    def drifted_features(self) -> list[str]:
        """Names of the features whose distribution or missing share drifted."""
        return [result.feature for result in self.features if result.drift]

    @property
    def alert(self) -> bool:
        """Whether any feature drifted."""
        return bool(self.drifted_features)

    def __getitem__(self, feature: str) -> FeatureDrift:
        for result in self.features:
            if result.feature == feature:
                return result
        raise KeyError(feature)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "alpha": self.alpha,
            "correction": self.correction,
            "alert": self.alert,
            "drifted_features": self.drifted_features,
            "ignored_columns": list(self.ignored_columns),
            "features": [result.to_dict() for result in self.features],
        }

    def to_frame(self) -> pd.DataFrame:
        """Return one row per feature, indexed by feature name."""
        columns = ["feature", "kind", "status", "drift", "test", "statistic", "pvalue", "pvalue_adjusted",
                   "effect_size", "effect_size_name", "reference_size", "current_size",
                   "missing_share_reference", "missing_share_current", "missing_pvalue_adjusted",
                   "missing_drift", "unseen_categories", "reason"]
        rows = [result.to_dict() for result in self.features]
        return pd.DataFrame(rows, columns=columns).set_index("feature")

    def _repr_html_(self) -> str:
        caption = (f"Drift: {len(self.drifted_features)} of {len(self.features)} features drifted "
                   f"(alpha {self.alpha}, correction {self.correction})")
        frame = self.to_frame()[list(_DISPLAY_COLUMNS)].rename(columns=_DISPLAY_COLUMNS)
        frame["unseen categories"] = frame["unseen categories"].map(", ".join)
        styled = (frame.style.format(precision=4, na_rep="–")
                  .format(_format_pvalue, subset=["adjusted p"], na_rep="–")
                  .set_caption(html.escape(caption)))
        return styled.apply(_highlight_drift, axis=1).to_html()


def detect_drift(
    baseline: BaselineStatistics,
    current: pd.DataFrame,
    *,
    alpha: float = 0.05,
    correction: str = "bh",
    min_samples: int = DEFAULT_MIN_SAMPLES,
    method: str = "auto",
) -> DriftReport:
    """Test every baseline feature of the ``current`` window for drift.

    Parameters
    ----------
    baseline : BaselineStatistics
        Reference statistics from :func:`~workbench.monitoring.compute_baseline`.
    current : pandas.DataFrame
        Current window; it must hold every baseline feature. Extra columns are ignored and listed in
        the report. The frame is not modified.
    alpha : float
        Significance level of the adjusted p-values, in (0, 1).
    correction : {'bh', 'bonferroni', 'none'}
        Multiple-testing correction over all p-values of the report, via
        :func:`statsmodels.stats.multitest.multipletests`.
    min_samples : int
        Minimum number of valid values, in the window and in the reference, for a verdict; below it the status is
        ``"insufficient_data"`` with the reason.
    method : {'auto', 'exact', 'asymp'}
        Kolmogorov–Smirnov p-value mode, as in :func:`scipy.stats.ks_2samp`.

    Returns
    -------
    DriftReport

    Raises
    ------
    ValidationError
        If a baseline feature is missing from ``current``, a numeric column contains non-numbers, or
        ``alpha``, ``correction`` or ``min_samples`` is out of range.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> baseline = compute_baseline(pd.DataFrame({"x": rng.normal(size=2000)}))
    >>> report = detect_drift(baseline, pd.DataFrame({"x": rng.normal(1.0, size=500)}))
    >>> report.drifted_features
    ['x']
    """
    _check_options(alpha, correction, min_samples)
    missing_columns = [name for name in baseline.features if name not in current.columns]
    if missing_columns:
        raise ValidationError(
            f"The current data lacks baseline feature(s) {missing_columns}; add them, or compute the "
            f"baseline without them. Current columns: {list(current.columns)}.",
            field="current", value=missing_columns,
        )

    raw = [_test_feature(feature, current[feature.name], min_samples, method)
           for feature in baseline.features.values()]
    adjusted = _adjust([value for item in raw for value in (item["pvalue"], item["missing_pvalue"])],
                       correction)

    results = []
    for index, item in enumerate(raw):
        results.append(_decide(item, adjusted[2 * index], adjusted[2 * index + 1], alpha))
    ignored = tuple(str(column) for column in current.columns if column not in baseline.features)
    return DriftReport(features=tuple(results), alpha=alpha, correction=correction, ignored_columns=ignored)


def _check_options(alpha: float, correction: str, min_samples: int) -> None:
    if not 0 < alpha < 1:
        raise ValidationError(f"alpha={alpha!r} is invalid; use a value between 0 and 1, such as 0.05.",
                              field="alpha", value=alpha)
    if correction not in CORRECTIONS:
        raise ValidationError(f"correction={correction!r} is invalid; use one of {CORRECTIONS}.",
                              field="correction", value=correction)
    if min_samples < 1:
        raise ValidationError(f"min_samples={min_samples!r} is invalid; use a whole number of at least 1.",
                              field="min_samples", value=min_samples)


def _test_feature(feature: FeatureBaseline, column: pd.Series, min_samples: int, method: str) -> dict[str, Any]:
    """Run the distribution and missing-share tests of one feature, before correction."""
    current_missing = int(column.isna().sum())
    current_count = int(column.shape[0])
    item: dict[str, Any] = {
        "feature": feature.name,
        "kind": feature.kind,
        "test": None,
        "method": None,
        "statistic": None,
        "pvalue": None,
        "effect_size": None,
        "effect_size_name": "cramers_v" if feature.kind == CATEGORICAL else "psi",
        "reason": None,
        "unseen_categories": (),
        "missing_share_reference": feature.missing_share,
        "missing_share_current": current_missing / current_count if current_count else 0.0,
        "current_size": current_count - current_missing,
    }

    missing = stattests.missing_share_test(feature.missing, feature.count, current_missing, current_count)
    item["missing_pvalue"] = None if missing is None else missing.pvalue

    if feature.kind == CATEGORICAL:
        item.update(_test_categorical(feature, column, min_samples))
    else:
        item.update(_test_numeric(feature, column, min_samples, method))
    return item


def _test_numeric(feature: FeatureBaseline, column: pd.Series, min_samples: int, method: str) -> dict[str, Any]:
    values = as_numeric(column, feature.name)
    valid = values[~np.isnan(values)]
    reference = feature.sample if feature.sample is not None else np.empty(0)
    result: dict[str, Any] = {"reference_size": int(reference.size)}

    reason = _insufficient_reason(int(reference.size), int(valid.size), min_samples)
    if reason:
        return {**result, "reason": reason}
    if not np.isfinite(valid).all():
        raise ValidationError(
            f"Column {feature.name!r} contains infinite values; replace them with NaN or finite numbers.",
            field=feature.name, value=float(valid[~np.isfinite(valid)][0]),
        )

    current_sorted = np.sort(valid)
    test = stattests.ks_2samp_sorted(reference, current_sorted, method=method, current_is_sorted=True)
    psi = stattests.population_stability_index(np.asarray(feature.bin_edges), np.asarray(feature.bin_shares),
                                               current_sorted)
    return {**result, "test": "ks", "method": test.method, "statistic": test.statistic,
            "pvalue": test.pvalue, "effect_size": psi}


def _test_categorical(feature: FeatureBaseline, column: pd.Series, min_samples: int) -> dict[str, Any]:
    current_counts = category_counts(column)
    unseen = tuple(sorted(key for key in current_counts if key not in feature.frequencies))
    reference_size = sum(feature.frequencies.values())
    current_size = sum(current_counts.values())
    result: dict[str, Any] = {"reference_size": reference_size, "unseen_categories": unseen}

    reason = _insufficient_reason(reference_size, current_size, min_samples)
    if reason:
        return {**result, "reason": reason}

    categories = sorted(set(feature.frequencies) | set(current_counts))
    table = np.array([[feature.frequencies.get(key, 0) for key in categories],
                      [current_counts.get(key, 0) for key in categories]])
    test = stattests.chi2_homogeneity(table)
    return {**result, "test": "chi2", "statistic": test.statistic, "pvalue": test.pvalue,
            "effect_size": stattests.cramers_v(table)}


def _insufficient_reason(reference_size: int, current_size: int, min_samples: int) -> str | None:
    if current_size == 0:
        return "no valid current values"
    if current_size < min_samples:
        return f"{current_size} valid current values; at least {min_samples} are needed for a verdict"
    if reference_size < min_samples:
        return f"{reference_size} valid reference values; at least {min_samples} are needed for a verdict"
    return None


def _adjust(pvalues: list[float | None], correction: str) -> list[float | None]:
    """Correct the non-missing p-values as one family; None stays None."""
    present = [index for index, value in enumerate(pvalues) if value is not None]
    adjusted: list[float | None] = [None] * len(pvalues)
    if not present:
        return adjusted
    values = np.array([pvalues[index] for index in present], dtype="float64")
    if correction != "none":
        values = multipletests(values, method=_STATSMODELS_METHOD[correction])[1]
    for index, value in zip(present, values, strict=True):
        adjusted[index] = float(value)
    return adjusted


def _decide(item: Mapping[str, Any], pvalue_adjusted: float | None, missing_adjusted: float | None,
            alpha: float) -> FeatureDrift:
    if item["test"] is None:
        status = INSUFFICIENT_DATA
    else:
        status = DRIFT if pvalue_adjusted is not None and pvalue_adjusted < alpha else NO_DRIFT
    return FeatureDrift(
        status=status,
        pvalue_adjusted=pvalue_adjusted,
        threshold=alpha,
        missing_pvalue_adjusted=missing_adjusted,
        missing_drift=missing_adjusted is not None and missing_adjusted < alpha,
        **item,
    )


def _format_pvalue(value: float) -> str:
    """Show a p-value with four decimals, or in scientific notation below 0.0001 so it never reads as 0."""
    return f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}"


def _highlight_drift(row: pd.Series) -> list[str]:
    colour = "background-color: #fde2e1" if row["drift"] else ""
    return [colour] * len(row)
