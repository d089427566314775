"""Tests for sticky variant assignment (workbench.abtesting.hashing and batch_hashing).

The reference for buckets and variants is the GrowthBook Python SDK (``growthbook.core`` in 4.0.0:
``gbhash``, ``getBucketRanges``, ``chooseVariation``). The tests that need it are skipped when it is
not installed. It is in the ``dev`` extra.
"""

from __future__ import annotations

import copy
import math
import random
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.abtesting import batch_hashing
from workbench.abtesting.batch_hashing import assign_variants, buckets
from workbench.abtesting.hashing import (
    assign_variant,
    bucket,
    bucket_ranges,
    choose_variant,
    fnv1a32,
    normalize_weights,
)
from workbench.errors import ValidationError

SEEDS = ("model-ab", "ct-triage-2026", "s", "مدل-الف")
USER_IDS = [f"user-{index:05d}" for index in range(10_000)]
# Persian (with Persian digits), accented Latin, CJK, Greek and Cyrillic ids, all in the Basic
# Multilingual Plane.
BMP_IDS = ["کاربر-۱", "کاربر-۲۳۴", "bíró-ñandú", "Zoë-Ångström", "患者-甲-001", "使用者-二", "ασθενής-7",
           "пациент-42", "é", "ß"]
# Characters above U+FFFF: an emoji, a musical symbol, an ideograph from CJK Extension B, Gothic.
ASTRAL_IDS = ["user-\U0001F600", "\U0001D11E-clef", "\U00020BB7", "\U00010348\U00010349", "a\U0001F4A9b"]


def _gb_core():
    return pytest.importorskip("growthbook.core", reason="the GrowthBook SDK (dev extra) is not installed")


def _fnv_over_utf16_units(text: str) -> int:
    """Byte-for-byte FNV-1a written from its definition, over little-endian UTF-16 code units."""
    data = text.encode("utf-16-le", "surrogatepass")
    state = 0x811C9DC5
    for index in range(0, len(data), 2):
        state ^= data[index] | (data[index + 1] << 8)
        state = (state * 0x01000193) % 2**32
    return state


def _fnv_over_code_points(text: str) -> int:
    state = 0x811C9DC5
    for character in text:
        state = ((state ^ ord(character)) * 0x01000193) % 2**32
    return state


def _mixed_ids(count: int, seed: int) -> list[str]:
    """Build seeded ids of 1 to 60 characters from ASCII, BMP and astral characters, a few with NUL."""
    rng = random.Random(seed)
    alphabet = ("abcdefghijklmnopqrstuvwxyz0123456789-_:" "éñüßÅ" "کاربر۱۲۳" "患者甲乙" "ασπ"
                "\U0001F600\U0001D11E\U00020BB7" "\x00\ud800")
    ids = []
    for _ in range(count):
        length = rng.randint(1, 60)
        ids.append("".join(rng.choice(alphabet) for _ in range(length)))
    return ids


# FNV-1a ----------------------------------------------------------------------------------------------

# Values from table fnv1a_32_vector of the FNV reference test suite test_fnv.c (Fowler, Noll, Vo),
# entries 0, 1, 8, 11 and 39, each recomputed with a byte loop over the ASCII bytes.
FNV_VECTORS = [("", 0x811C9DC5), ("a", 0xE40C292C), ("foo", 0xA9F37ED7), ("foobar", 0xBF9CF968),
               ("chongo was here!\n", 0xD49930D5)]


@pytest.mark.parametrize(("text", "expected"), FNV_VECTORS)
def test_fnv1a32_published_vectors(text, expected):
    assert fnv1a32(text) == expected


def test_fnv1a32_astral_is_two_code_units():
    text = "id-\U0001F600"
    assert len(text.encode("utf-16-le")) // 2 == len(text) + 1
    assert fnv1a32(text) == _fnv_over_utf16_units(text)
    assert fnv1a32(text) != _fnv_over_code_points(text)


@pytest.mark.parametrize("text", ASTRAL_IDS + ["lone-\ud800", "\udfff"])
def test_fnv1a32_matches_utf16_definition(text):
    assert fnv1a32(text) == _fnv_over_utf16_units(text)


def test_fnv1a32_rejects_bytes():
    with pytest.raises(ValidationError, match="text must be a str, but received a value of type bytes"):
        fnv1a32(b"foobar")


# Agreement with the GrowthBook SDK ----------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_matches_growthbook_ascii(seed):
    core = _gb_core()
    mismatches = [unit_id for unit_id in USER_IDS if bucket(seed, unit_id) != core.gbhash(seed, unit_id, 2)]
    assert mismatches == []


@pytest.mark.parametrize("seed", SEEDS)
def test_bucket_matches_growthbook_bmp(seed):
    core = _gb_core()
    for unit_id in BMP_IDS:
        assert bucket(seed, unit_id) == core.gbhash(seed, unit_id, 2), unit_id


def test_growthbook_4_hashes_astral_as_utf16():
    # growthbook 4.0.0's fnv1a32 encodes non-ASCII text to UTF-16, like the JavaScript SDK's charCodeAt
    # loop. Versions 2.2.1 and 3.2.2 hashed code points, so the dev extra requires growthbook>=4.0.
    core = _gb_core()
    for unit_id in ASTRAL_IDS:
        assert core.fnv1a32(unit_id) == _fnv_over_utf16_units(unit_id), unit_id
        assert bucket("model-ab", unit_id) == core.gbhash("model-ab", unit_id, 2), unit_id


def test_variants_match_growthbook_at_50_50():
    core = _gb_core()
    ranges = core.getBucketRanges(2, 1, [0.5, 0.5])
    expected = [core.chooseVariation(core.gbhash("model-ab", unit_id, 2), ranges) for unit_id in USER_IDS]
    ours = [assign_variant("model-ab", unit_id, [0.5, 0.5]) for unit_id in USER_IDS]
    assert ours == expected
    assert assign_variants("model-ab", USER_IDS, [0.5, 0.5]).tolist() == expected


@pytest.mark.parametrize(("weights", "coverage"), [([0.2, 0.3, 0.5], 1.0), ([0.1, 0.2, 0.7], 0.4),
                                                   ([0.25, 0.25, 0.25, 0.25], 0.75)])
def test_ranges_match_growthbook(weights, coverage):
    core = _gb_core()
    assert bucket_ranges(weights, coverage) == core.getBucketRanges(len(weights), coverage, weights)


def test_thirds_of_0_333_enrol_everyone():
    weights = [0.333, 0.333, 0.333]
    variants = assign_variants("model-ab", USER_IDS, weights)
    assert not (variants == -1).any()
    assert set(variants.tolist()) == {0, 1, 2}


def test_growthbook_leaves_out_top_of_0_333():
    # The difference from the SDK that bucket_ranges documents: raw weights summing to 0.999 leave the
    # buckets from 0.999 up out of the experiment.
    core = _gb_core()
    ranges = core.getBucketRanges(3, 1, [0.333, 0.333, 0.333])
    assert core.chooseVariation(0.9995, ranges) == -1
    assert choose_variant(0.9995, bucket_ranges([0.333, 0.333, 0.333], 1)) == 2


def test_bucket_ranges_layout():
    ranges = bucket_ranges([0.2, 0.3, 0.5], 0.5)
    # The ranges start at the cumulative weights 0, 0.2 and 0.5 and are 0.5 * weight long.
    bounds = [bound for pair in ranges for bound in pair]
    assert bounds == pytest.approx([0.0, 0.1, 0.2, 0.35, 0.5, 0.75], abs=1e-15)


def test_choose_variant_half_open():
    ranges = [(0.0, 0.5), (0.5, 1.0)]
    assert choose_variant(0.0, ranges) == 0
    assert choose_variant(0.4999, ranges) == 0
    assert choose_variant(0.5, ranges) == 1
    assert choose_variant(1.0, ranges) == -1


# Batch equals scalar ---------------------------------------------------------------------------------


MIXED_IDS = _mixed_ids(20_000, seed=7)


def test_mixed_ids_cover_hard_cases():
    assert any(max(unit_id) > "\uffff" for unit_id in MIXED_IDS)
    assert any(unit_id.endswith("\x00") for unit_id in MIXED_IDS)
    assert min(map(len, MIXED_IDS)) == 1
    assert max(map(len, MIXED_IDS)) == 60


@pytest.mark.parametrize("seed", SEEDS)
def test_buckets_equal_scalar(seed):
    expected = np.array([bucket(seed, unit_id) for unit_id in MIXED_IDS])
    assert np.array_equal(buckets(seed, MIXED_IDS), expected)


@pytest.mark.parametrize(("weights", "coverage"), [
    ([0.5, 0.5], 1.0), ([0.5, 0.5], 0.5), ([0.2, 0.3, 0.5], 0.9), ([0.333, 0.333, 0.333], 1), ([1, 0], 0.25),
    ([0.5, 0.5], 0),
])
def test_assign_variants_equal_scalar(weights, coverage):
    expected = np.array([assign_variant("ct-triage-2026", unit_id, weights, coverage)
                         for unit_id in MIXED_IDS])
    result = assign_variants("ct-triage-2026", MIXED_IDS, weights, coverage)
    assert result.dtype == np.int64
    assert np.array_equal(result, expected)


def test_buckets_accept_arrays_and_tuples():
    ids = [unit_id for unit_id in MIXED_IDS[:2000] if not unit_id.endswith("\x00")]
    expected = np.array([bucket("model-ab", unit_id) for unit_id in ids])
    assert np.array_equal(buckets("model-ab", tuple(ids)), expected)
    assert np.array_equal(buckets("model-ab", np.array(ids, dtype=object)), expected)
    assert np.array_equal(buckets("model-ab", np.array(ids, dtype=str)), expected)
    assert np.array_equal(buckets("model-ab", np.array(ids, dtype=str).astype(">U60")), expected)
    assert np.array_equal(buckets("model-ab", iter(ids)), expected)

    # pandas 3 stores str with pyarrow, which rejects lone surrogates, so the Series leaves those ids out.
    encodable = [unit_id for unit_id in ids if "\ud800" not in unit_id]
    series = pd.Series(encodable, index=range(5, 5 + len(encodable)))
    expected_series = np.array([bucket("model-ab", unit_id) for unit_id in encodable])
    assert np.array_equal(buckets("model-ab", series), expected_series)


def test_buckets_equal_across_chunks_and_long_ids(monkeypatch):
    # Small chunks and a small length limit send long ids through the scalar path and split the ids
    # over many chunks, so both boundaries are exercised on a small input.
    monkeypatch.setattr(batch_hashing, "CHUNK_SIZE", 7)
    monkeypatch.setattr(batch_hashing, "BATCH_MAX_LENGTH", 12)
    ids = MIXED_IDS[:500] + ["x" * 300]
    expected = np.array([bucket("model-ab", unit_id) for unit_id in ids])
    assert np.array_equal(buckets("model-ab", ids), expected)
    array = np.array([unit_id for unit_id in ids if not unit_id.endswith("\x00")], dtype=str)
    expected_array = np.array([bucket("model-ab", str(unit_id)) for unit_id in array])
    assert np.array_equal(buckets("model-ab", array), expected_array)


def test_buckets_of_no_ids():
    result = buckets("model-ab", [])
    assert result.shape == (0,)
    assert result.dtype == np.float64


# Coverage and weights --------------------------------------------------------------------------------


@pytest.mark.parametrize("coverage", [0.0, 0])
def test_coverage_zero_enrols_nobody(coverage):
    assert (assign_variants("model-ab", USER_IDS, [0.5, 0.5], coverage) == -1).all()
    assert assign_variant("model-ab", USER_IDS[0], [0.5, 0.5], coverage) == -1


def test_lower_coverage_keeps_variants():
    full = assign_variants("model-ab", USER_IDS, [0.2, 0.3, 0.5], 1.0)
    half = assign_variants("model-ab", USER_IDS, [0.2, 0.3, 0.5], 0.5)
    enrolled = half != -1
    assert np.array_equal(half[enrolled], full[enrolled])
    # Half of the units, within 5 standard errors of a binomial share (5 * 0.005 = 0.025).
    assert abs(enrolled.mean() - 0.5) < 0.025


def test_shares_follow_weights():
    weights = (0.2, 0.3, 0.5)
    ids = [f"patient-{index:06d}" for index in range(100_000)]
    counts = np.bincount(assign_variants("model-ab", ids, weights), minlength=3)
    for variant, weight in enumerate(weights):
        # Each share is binomial: 5 standard errors are 5 * sqrt(w * (1 - w) / n), at most 0.008.
        tolerance = 5 * math.sqrt(weight * (1 - weight) / len(ids))
        assert abs(counts[variant] / len(ids) - weight) < tolerance, variant


def test_seeds_assign_independently():
    # Deterministic: the ids and seeds are fixed, so the p-value is the same on every run.
    ids = [f"user-{index:05d}" for index in range(20_000)]
    first = assign_variants("experiment-a", ids, [0.5, 0.5])
    second = assign_variants("experiment-b", ids, [0.5, 0.5])
    table = np.array([[np.sum((first == a) & (second == b)) for b in (0, 1)] for a in (0, 1)])
    assert stats.chi2_contingency(table, correction=False).pvalue > 0.001


def test_normalize_weights_rescales():
    assert normalize_weights([0.333, 0.333, 0.333]) == pytest.approx((1 / 3, 1 / 3, 1 / 3), abs=1e-15)
    assert math.fsum(normalize_weights([0.333, 0.333, 0.333])) == pytest.approx(1.0, abs=1e-15)
    assert normalize_weights([0.1, 0.2, 0.7]) == (0.1, 0.2, 0.7)
    assert normalize_weights(np.array([0.25, 0.75])) == (0.25, 0.75)


@pytest.mark.parametrize(("weights", "shown"), [
    ([0.5, -0.5, 1.0], "[0.5, -0.5, 1.0]"),
    ([0.5, float("nan")], "[0.5, nan]"),
    ([0.4, 0.4], "sum to 0.8"),
    ([1.0], "[1.0]"),
    ([True, False], "True"),
    ([0.5, "0.5"], "'0.5'"),
    ([0.5, float("inf")], "inf"),
    ([10**400, 0], "sum to inf"),
])
def test_invalid_weights_raise(weights, shown):
    with pytest.raises(ValidationError, match=re.escape(shown)) as raised:
        bucket_ranges(weights, 1.0)
    assert "sum to 1 within 0.01, e.g. [0.5, 0.5]" in str(raised.value)
    assert raised.value.field == "weights"


@pytest.mark.parametrize("weights", ["0.5,0.5", 0.5, {0: 0.5, 1: 0.5}])
def test_weights_not_a_sequence_raise(weights):
    with pytest.raises(ValidationError, match="weights must be a sequence of numbers"):
        normalize_weights(weights)


@pytest.mark.parametrize(("coverage", "shown"), [(1.5, "1.5"), (-0.1, "-0.1"), (True, "True"),
                                                 ("0.5", "'0.5'"), (float("nan"), "nan")])
def test_invalid_coverage_raises(coverage, shown):
    with pytest.raises(ValidationError, match=f"received {re.escape(shown)} of type") as raised:
        bucket_ranges([0.5, 0.5], coverage)
    assert raised.value.field == "coverage"
    with pytest.raises(ValidationError, match="coverage must be a number from 0 to 1"):
        assign_variant("model-ab", "user-00001", [0.5, 0.5], coverage)


def test_bool_weights_rejected_after_cached_ints():
    assert assign_variant("model-ab", "user-00001", [1, 0]) == 0
    with pytest.raises(ValidationError, match="True"):
        assign_variant("model-ab", "user-00001", [True, False])


# Ids and seeds ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit_id", "problem"), [
    (None, "a value of type NoneType"), ("", "an empty str"), (20_250_917, "a value of type int"),
    (b"id", "a value of type bytes"),
])
def test_invalid_unit_id_raises(unit_id, problem):
    with pytest.raises(ValidationError, match=f"unit_id must be a non-empty str, but received {problem}"):
        bucket("model-ab", unit_id)


def test_invalid_unit_id_message_hides_value():
    with pytest.raises(ValidationError) as raised:
        bucket("model-ab", 20_250_917)
    assert "20250917" not in str(raised.value)
    assert raised.value.value is None


@pytest.mark.parametrize(("unit_ids", "message"), [
    (["user-1", None], r"unit_ids\[1\] must be a non-empty str, but received a value of type NoneType"),
    (["user-1", "user-2", ""], r"unit_ids\[2\] must be a non-empty str, but received an empty str"),
    (np.array(["user-1", ""]), r"unit_ids\[1\] must be a non-empty str"),
    (np.array([1, 2]), "received an array of dtype int64"),
    (np.array([["a"]]), "must be one-dimensional"),
    ("user-1", "received one str"),
    (5, "received a value of type int"),
])
def test_invalid_unit_ids_raise(unit_ids, message):
    with pytest.raises(ValidationError, match=message):
        buckets("model-ab", unit_ids)


@pytest.mark.parametrize("seed", ["", None, 3, ["model-ab"]])
def test_invalid_seed_raises(seed):
    with pytest.raises(ValidationError, match="seed must be a non-empty str"):
        bucket(seed, "user-00001")
    with pytest.raises(ValidationError, match="seed must be a non-empty str"):
        buckets(seed, ["user-00001"])


def test_inputs_not_mutated():
    ids = MIXED_IDS[:1000]
    weights = [0.2, 0.3, 0.5]
    ids_before, weights_before = copy.deepcopy(ids), copy.deepcopy(weights)
    assign_variants("model-ab", ids, weights, 0.5)
    assert ids == ids_before
    assert weights == weights_before
