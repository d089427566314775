"""A/B testing of models: experiments, sticky assignment, outcomes and their statistics.

:class:`Experiments` keeps experiments in a store and runs them: assignment by consistent hashing
(:mod:`~workbench.abtesting.hashing`, compatible with GrowthBook), exposures, outcomes, results and the
decision. The statistics live in modules of their own and take plain counts and arrays.
"""

from workbench.abtesting.analysis import Decision, ExperimentResults, analyse, cumulative_lift
from workbench.abtesting.batch_hashing import assign_variants, buckets
from workbench.abtesting.bayes import BayesianResult, beta_binomial
from workbench.abtesting.experiment import Experiment, Metric, Phase, Variant
from workbench.abtesting.experiments import Assignment, Experiments, StopResult
from workbench.abtesting.hashing import assign_variant, bucket
from workbench.abtesting.means import MeanComparison, compare_means
from workbench.abtesting.multitest import VariantsComparison, compare_variants, holm
from workbench.abtesting.power import power_proportions, sample_size_proportions
from workbench.abtesting.proportions import ProportionComparison, compare_proportions
from workbench.abtesting.sequential import SequentialSettings
from workbench.abtesting.srm import SampleRatioCheck, sample_ratio_mismatch

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
