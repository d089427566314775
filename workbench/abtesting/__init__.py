"""A/B testing of models: experiments, sticky assignment, outcomes and their statistics.

:class:`Experiments` keeps experiments in a store and runs them: assignment by consistent hashing
(:mod:`~workbench.abtesting.hashing`, compatible with GrowthBook), exposures, outcomes, results and the
decision. The statistics live in modules of their own and take plain counts and arrays.
"""

from __future__ import annotations

import importlib
from typing import Any

# Names resolve on first use, so that `from workbench.abtesting import Experiments` does not import the
# statistics modules (scipy and statsmodels take about a second) for a command that only assigns units.
_MODULES = {
    "Assignment": "workbench.abtesting.experiments",
    "BayesianResult": "workbench.abtesting.bayes",
    "Decision": "workbench.abtesting.analysis",
    "Experiment": "workbench.abtesting.experiment",
    "ExperimentResults": "workbench.abtesting.analysis",
    "Experiments": "workbench.abtesting.experiments",
    "MeanComparison": "workbench.abtesting.means",
    "Metric": "workbench.abtesting.experiment",
    "Phase": "workbench.abtesting.experiment",
    "ProportionComparison": "workbench.abtesting.proportions",
    "SampleRatioCheck": "workbench.abtesting.srm",
    "SequentialSettings": "workbench.abtesting.sequential",
    "StopResult": "workbench.abtesting.experiments",
    "Variant": "workbench.abtesting.experiment",
    "VariantsComparison": "workbench.abtesting.multitest",
    "analyse": "workbench.abtesting.analysis",
    "assign_variant": "workbench.abtesting.hashing",
    "assign_variants": "workbench.abtesting.batch_hashing",
    "beta_binomial": "workbench.abtesting.bayes",
    "bucket": "workbench.abtesting.hashing",
    "buckets": "workbench.abtesting.batch_hashing",
    "compare_means": "workbench.abtesting.means",
    "compare_proportions": "workbench.abtesting.proportions",
    "compare_variants": "workbench.abtesting.multitest",
    "cumulative_lift": "workbench.abtesting.analysis",
    "holm": "workbench.abtesting.multitest",
    "power_proportions": "workbench.abtesting.power",
    "sample_ratio_mismatch": "workbench.abtesting.srm",
    "sample_size_proportions": "workbench.abtesting.power",
}

__all__ = [
    "Assignment",
    "BayesianResult",
    "Decision",
    "Experiment",
    "ExperimentResults",
    "Experiments",
    "MeanComparison",
    "Metric",
    "Phase",
    "ProportionComparison",
    "SampleRatioCheck",
    "SequentialSettings",
    "StopResult",
    "Variant",
    "VariantsComparison",
    "analyse",
    "assign_variant",
    "assign_variants",
    "beta_binomial",
    "bucket",
    "buckets",
    "compare_means",
    "compare_proportions",
    "compare_variants",
    "cumulative_lift",
    "holm",
    "power_proportions",
    "sample_ratio_mismatch",
    "sample_size_proportions",
]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_MODULES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
