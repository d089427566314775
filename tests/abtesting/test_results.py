"""Shared result types: JSON conversion and the decision rule."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from workbench.abtesting.bayes import beta_binomial
from workbench.abtesting.means import compare_means
from workbench.abtesting.multitest import compare_variants
from workbench.abtesting.power import power_proportions, sample_size_proportions
from workbench.abtesting.proportions import compare_proportions
from workbench.abtesting.results import Lift, decide_winner, json_number
from workbench.abtesting.sequential import SequentialSettings
from workbench.abtesting.srm import sample_ratio_mismatch
from workbench.errors import SmallSampleWarning

_RNG = np.random.default_rng(2)
# One result of every type, built the way a notebook would, including degraded ones.
RESULTS = {
    "proportions": lambda: compare_proportions((3, 1576), (0, 4), sequential=SequentialSettings(), weights=(1, 1)),
    "proportions_no_events": lambda: compare_proportions((0, 500), (0, 480)),
    "means": lambda: compare_means(_RNG.normal(size=50), _RNG.normal(size=40), sequential=SequentialSettings(),
                                   weights=(1, 1)),
    "means_too_few": lambda: compare_means([1.0], [2.0, 3.0]),
    "bayes": lambda: beta_binomial((150_000, 1_000_000), (151_000, 1_000_000)),
    "srm": lambda: sample_ratio_mismatch([0, 0], [1, 1]),
    "sample_size": lambda: sample_size_proportions(0.1, 0.02),
    "power": lambda: power_proportions(0.1, 0.02, 1000),
    "variants": lambda: compare_variants((100, 1000), {"b": (150, 1000), "c": (0, 0)}, weights=[1, 1, 1]),
}


def _leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_to_dict_plain_json_types(kind) -> None:
    # json.dumps accepts numpy floats, so the leaf types are checked too: a stored result must not
    # depend on numpy to be read back.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        data = RESULTS[kind]().to_dict()

    json.dumps(data, allow_nan=False)
    assert all(type(leaf) in (str, int, float, bool, type(None)) for leaf in _leaves(data))


def test_json_number_converts_numpy() -> None:
    value = json_number(np.float64(0.25))

    assert type(value) is float
    assert value == 0.25


def test_json_number_drops_nan_and_inf() -> None:
    assert json_number(float("nan")) is None
    assert json_number(np.inf) is None
    assert json_number(None) is None


def test_undefined_lift_to_dict() -> None:
    data = Lift.undefined("relative", 0.95, "the control's conversion rate is 0 %").to_dict()

    json.dumps(data, allow_nan=False)
    assert data["estimate"] is None
    assert data["reason"] == "the control's conversion rate is 0 %"


def test_winner_follows_direction() -> None:
    assert decide_winner(True, 0.02, "increase", False)[0] == "treatment"
    assert decide_winner(True, 0.02, "decrease", False)[0] == "control"
    assert decide_winner(True, -0.02, "decrease", False)[0] == "treatment"


def test_no_winner_without_significance() -> None:
    winner, reason = decide_winner(False, 0.02, "increase", False)

    assert winner is None
    assert reason == "the difference is not significant"


def test_srm_withholds_winner() -> None:
    winner, reason = decide_winner(True, 0.02, "increase", True)

    assert winner is None
    assert reason.startswith("sample ratio mismatch")
