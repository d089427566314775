"""Sticky assignment of units to experiment variants by consistent hashing.

A unit (a patient pseudonym, a study, a scanner) gets the same variant of an experiment every time, in
any process and on any machine, because its variant depends only on the experiment's seed and the
unit's id. No assignment needs to be stored. The hash and the bucket ranges are those of GrowthBook's
SDKs with hash version 2, so units split here as a GrowthBook SDK splits them for the same seed,
weights and coverage. The exceptions are stated in :func:`fnv1a32` (characters above U+FFFF) and
:func:`bucket_ranges` (weights that do not sum to 1).

:func:`bucket` and :func:`assign_variant` take one id. :func:`~workbench.abtesting.batch_hashing.buckets`
and :func:`~workbench.abtesting.batch_hashing.assign_variants` take many ids and compute with numpy, for
backfills and simulations, and return the same values.

References
----------
Noll, L. C. FNV hash reference test suite ``test_fnv.c``, table ``fnv1a_32_vector``.
GrowthBook Python SDK 4.0.0, ``growthbook/core.py``: ``fnv1a32``, ``gbhash``, ``getBucketRanges`` and
``chooseVariation``.
GrowthBook JavaScript SDK, ``packages/sdk-js/src/util.ts`` in github.com/growthbook/growthbook:
``hashFnv32a``, ``hash`` and ``getBucketRanges``.
"""

from __future__ import annotations

import math
import numbers
import reprlib
import sys
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from workbench.errors import ValidationError

#: FNV-1a 32-bit offset basis and prime.
FNV_OFFSET_BASIS = 0x811C9DC5
FNV_PRIME = 0x01000193
_MASK_32 = 0xFFFFFFFF

#: Hash version 2 keeps the second hash modulo 10,000, so buckets are multiples of 0.0001 from 0 to 0.9999.
BUCKET_COUNT = 10_000

#: Weights whose sum is this close to 1 are used as given. The gap is floating-point rounding, and
#: dividing by the sum would move range boundaries a few ulps away from GrowthBook's.
_ROUNDING_ONLY = 1e-12

# memoryview.cast("H") reads 16-bit code units in the machine's byte order.
_UTF16_NATIVE = "utf-16-le" if sys.byteorder == "little" else "utf-16-be"

_WEIGHTS_ALLOWED = "non-negative weights that sum to 1 within {tolerance:g}, e.g. [0.5, 0.5]"

_short_repr = reprlib.Repr()
_short_repr.maxlist = _short_repr.maxtuple = 8
_short_repr.maxstring = 60


# One id ----------------------------------------------------------------------------------------------


def _mix(state: int, text: str) -> int:
    """Continue an FNV-1a 32-bit hash from ``state`` over the UTF-16 code units of ``text``."""
    if text.isascii():
        # ASCII bytes are the UTF-16 code units, and iterating bytes yields ints without calling ord.
        units: Any = text.encode("ascii")
    elif max(text) <= "\uffff":
        units = map(ord, text)
    else:
        # A character above U+FFFF is two code units, a surrogate pair. "surrogatepass" keeps a lone
        # surrogate as one code unit, as JavaScript strings do.
        units = memoryview(text.encode(_UTF16_NATIVE, "surrogatepass")).cast("H")
    for unit in units:
        state = ((state ^ unit) * FNV_PRIME) & _MASK_32
    return state


def fnv1a32(text: str) -> int:
    """Compute the FNV-1a 32-bit hash of a string over its UTF-16 code units.

    Parameters
    ----------
    text : str
        Any string, including the empty string.

    Returns
    -------
    int
        The hash, from 0 to 2**32 - 1.

    Raises
    ------
    ValidationError
        If ``text`` is not a str.

    Notes
    -----
    Starting from the offset basis 0x811C9DC5, each code unit ``u`` updates the hash ``h`` as
    ``h = ((h XOR u) * 0x01000193) mod 2**32``. The code units are UTF-16's, as JavaScript's
    ``charCodeAt`` returns them. Up to U+FFFF a code unit is the code point, so ASCII text hashes as in
    the byte-wise FNV test suite. A character above U+FFFF, such as an emoji, is two surrogate code
    units.

    The GrowthBook Python SDK 4.0.0 hashes UTF-16 code units too, so it agrees with its JavaScript SDK
    and with this function on every string. Versions 2.2.1 and 3.2.2 of the Python SDK (the ones
    checked) hash one code point per character, so for an id with a character above U+FFFF they give
    a different bucket than the JavaScript SDK and this module.

    Examples
    --------
    >>> hex(fnv1a32("foobar"))
    '0xbf9cf968'
    """
    if not isinstance(text, str):
        raise ValidationError(f"text must be a str, but received a value of type {type(text).__name__}.",
                              field="text")
    return _mix(FNV_OFFSET_BASIS, text)


def _raise_invalid_seed(seed: Any) -> None:
    raise ValidationError(f"seed must be a non-empty str, such as the experiment key, but received "
                          f"{_short_repr.repr(seed)} of type {type(seed).__name__}.",
                          field="seed", value=seed)


@lru_cache(maxsize=1024)
def _seed_state(seed: str) -> int:
    # FNV-1a reads its input in order, so the hash of seed + unit_id continues from the seed's state.
    # Invalid seeds raise here and are not cached.
    if not isinstance(seed, str) or not seed:
        _raise_invalid_seed(seed)
    return _mix(FNV_OFFSET_BASIS, seed)


def _seed_state_checked(seed: Any) -> int:
    try:
        return _seed_state(seed)
    except TypeError:
        _raise_invalid_seed(seed)  # an unhashable seed, which lru_cache cannot look up
        raise


def _raise_invalid_unit_id(unit_id: Any, field: str) -> None:
    # Ids may be patient pseudonyms, so the message and the error give the type and never the value.
    problem = "an empty str" if isinstance(unit_id, str) else f"a value of type {type(unit_id).__name__}"
    raise ValidationError(f"{field} must be a non-empty str, but received {problem}. Pass ids as "
                          "non-empty str.", field=field)


def _bucket_from_state(state: int) -> float:
    second = FNV_OFFSET_BASIS
    for digit in b"%d" % state:
        second = ((second ^ digit) * FNV_PRIME) & _MASK_32
    return (second % BUCKET_COUNT) / BUCKET_COUNT


def bucket(seed: str, unit_id: str) -> float:
    """Hash a unit id into a bucket in [0, 1) with GrowthBook's hash version 2.

    Parameters
    ----------
    seed : str
        The experiment's seed, usually its key. Experiments with different seeds bucket independently.
    unit_id : str
        The unit's id, non-empty.

    Returns
    -------
    float
        ``fnv1a32(str(fnv1a32(seed + unit_id))) % 10000 / 10000``, a multiple of 0.0001 from 0 to 0.9999.

    Raises
    ------
    ValidationError
        If ``seed`` or ``unit_id`` is not a non-empty str. The message names the id's type, never its value.

    Notes
    -----
    Equal to ``gbhash(seed, unit_id, 2)`` of the GrowthBook Python SDK 4.0.0 for every id, and to the
    JavaScript SDK's hash version 2 (see :func:`fnv1a32` for characters above U+FFFF). The state after
    the seed is cached for 1,024 seeds, so a call hashes only the id and the first hash's digits.

    Examples
    --------
    >>> bucket("model-ab", "user-00001")
    0.7347
    """
    try:
        state = _seed_state(seed)
    except TypeError:
        _raise_invalid_seed(seed)  # an unhashable seed, which lru_cache cannot look up
        raise
    if not isinstance(unit_id, str) or not unit_id:
        _raise_invalid_unit_id(unit_id, "unit_id")

    # The ASCII loop is written out here because this is the per-request path.
    if unit_id.isascii():
        for unit in unit_id.encode("ascii"):
            state = ((state ^ unit) * FNV_PRIME) & _MASK_32
    else:
        state = _mix(state, unit_id)

    second = FNV_OFFSET_BASIS
    for digit in b"%d" % state:
        second = ((second ^ digit) * FNV_PRIME) & _MASK_32
    return (second % BUCKET_COUNT) / BUCKET_COUNT


# Weights, coverage and ranges ------------------------------------------------------------------------


def _is_real_number(value: Any) -> bool:
    if type(value) is float or type(value) is int:
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _raise_invalid_weights(values: list[Any], problem: str, tolerance: float) -> None:
    allowed = _WEIGHTS_ALLOWED.format(tolerance=tolerance)
    raise ValidationError(f"weights {_short_repr.repr(values)} {problem}. Use {allowed}.",
                          field="weights", value=values)


def normalize_weights(weights: Sequence[float], *, tolerance: float = 0.01) -> tuple[float, ...]:
    """Check variant weights and scale them to sum to 1.

    Parameters
    ----------
    weights : sequence of float
        One weight per variant, in variant order, for at least two variants.
    tolerance : float
        How far from 1 the sum may be. GrowthBook's SDKs accept sums from 0.99 to 1.01, hence 0.01.

    Returns
    -------
    tuple of float
        The weights divided by their sum. Weights whose sum differs from 1 by floating-point rounding
        only (at most 1e-12) come back unchanged, so their ranges equal GrowthBook's to the last bit.

    Raises
    ------
    ValidationError
        If ``weights`` is not a sequence of at least two finite, non-negative numbers (bool excluded)
        whose sum is within ``tolerance`` of 1. The message names the weights and their sum.

    Examples
    --------
    >>> normalize_weights([0.25, 0.25])
    Traceback (most recent call last):
    ...
    workbench.errors.ValidationError: weights [0.25, 0.25] sum to 0.5. Use non-negative weights that sum \
to 1 within 0.01, e.g. [0.5, 0.5].
    """
    if not _is_real_number(tolerance) or not 0.0 <= tolerance < 1.0:
        raise ValidationError(f"tolerance must be a number from 0 to below 1, but received {tolerance!r}.",
                              field="tolerance", value=tolerance)
    if isinstance(weights, (str, bytes)) or not isinstance(weights, (Sequence, np.ndarray)):
        raise ValidationError(
            f"weights must be a sequence of numbers, one per variant, but received a value of type "
            f"{type(weights).__name__}. Use {_WEIGHTS_ALLOWED.format(tolerance=tolerance)}.",
            field="weights", value=weights)

    values = list(weights)
    if len(values) < 2:
        _raise_invalid_weights(values, f"give {len(values)} variant(s), but an experiment needs at least two",
                               tolerance)
    for weight in values:
        if not _is_real_number(weight):
            _raise_invalid_weights(values, f"contain {weight!r} of type {type(weight).__name__}, which is "
                                   "not a number", tolerance)
        if not 0.0 <= weight < math.inf:
            # NaN fails this comparison too.
            _raise_invalid_weights(values, f"contain {weight!r}", tolerance)

    try:
        total = math.fsum(values)
    except OverflowError:
        total = math.inf  # an int too large for a float
    if not abs(total - 1.0) <= tolerance:
        _raise_invalid_weights(values, f"sum to {total:.6g}", tolerance)
    if abs(total - 1.0) <= _ROUNDING_ONLY:
        return tuple(float(weight) for weight in values)
    return tuple(float(weight) / total for weight in values)


def check_coverage(coverage: Any) -> float:
    """Return ``coverage`` as a float from 0 to 1, or raise ValidationError naming the value."""
    if not _is_real_number(coverage) or not 0.0 <= coverage <= 1.0:
        # NaN and infinities fail the range comparison.
        raise ValidationError(
            f"coverage must be a number from 0 to 1, the share of units enrolled, but received "
            f"{coverage!r} of type {type(coverage).__name__}. Use 1 to enrol every unit.",
            field="coverage", value=coverage)
    return float(coverage)


def bucket_ranges(weights: Sequence[float], coverage: float) -> list[tuple[float, float]]:
    """Lay out each variant's range of buckets, as GrowthBook does.

    Parameters
    ----------
    weights : sequence of float
        One weight per variant, checked and scaled by :func:`normalize_weights`.
    coverage : float
        Share of units enrolled, from 0 to 1. At 0 no unit is enrolled. bool is rejected.

    Returns
    -------
    list of (float, float)
        ``(start, end)`` per variant. A bucket ``b`` is in a range when ``start <= b < end``.

    Raises
    ------
    ValidationError
        If the weights or the coverage are invalid.

    Notes
    -----
    Variant ``i`` starts at the sum of the weights before it and is ``coverage * weights[i]`` long. A
    change of coverage therefore only adds or drops units at the end of each range, and never moves a
    unit from one variant to another.

    ``getBucketRanges`` of the GrowthBook Python SDK 4.0.0 gives the same ranges for weights that sum
    to 1 and a coverage from 0 to 1. It differs in three ways. First, it uses weights that sum to
    0.99–1.01 as they are, where this function scales them to sum to 1. With weights 0.333/0.333/0.333
    the SDK's ranges end at 0.999, so it leaves the units with buckets from 0.999 to 0.9999 out of the
    experiment, and here those units get the last variant. Second, it replaces invalid weights with
    equal weights, and third, it clamps coverage into [0, 1]. This function raises in both cases.

    Examples
    --------
    >>> bucket_ranges([0.5, 0.5], 0.5)
    [(0.0, 0.25), (0.5, 0.75)]
    """
    normalized = normalize_weights(weights)
    coverage = check_coverage(coverage)
    ranges = []
    start = 0.0
    for weight in normalized:
        ranges.append((start, start + coverage * weight))
        start += weight
    return ranges


def choose_variant(bucket_value: float, ranges: Sequence[tuple[float, float]]) -> int:
    """Return the index of the first range that contains the bucket, or -1 when none does.

    -1 means that the unit is not enrolled. Neither argument is checked, as in GrowthBook's
    ``chooseVariation``.
    """
    for index, (start, end) in enumerate(ranges):
        if start <= bucket_value < end:
            return index
    return -1


@lru_cache(maxsize=256, typed=True)
def _cached_ranges(weights: tuple[Any, ...], coverage: Any) -> tuple[tuple[float, float], ...]:
    return tuple(bucket_ranges(weights, coverage))


def _ranges_for(weights: Sequence[float], coverage: float) -> Sequence[tuple[float, float]]:
    """Return :func:`bucket_ranges`, from a cache when the weights can be a cache key.

    The cache compares keys with ``==``, and ``True == 1`` and ``False == 0``, so weights that compare
    equal to a bool skip the cache, which keeps bool weights rejected.
    """
    if type(weights) is tuple or type(weights) is list:
        key = tuple(weights)
        try:
            if True not in key and False not in key:
                return _cached_ranges(key, coverage)
        except TypeError:
            pass  # an unhashable weight, which bucket_ranges rejects below
    return bucket_ranges(weights, coverage)


def assign_variant(seed: str, unit_id: str, weights: Sequence[float], coverage: float = 1.0) -> int:
    """Assign one unit to a variant of an experiment.

    Parameters
    ----------
    seed : str
        The experiment's seed, usually its key.
    unit_id : str
        The unit's id, non-empty.
    weights : sequence of float
        One weight per variant, see :func:`normalize_weights`.
    coverage : float
        Share of units enrolled, from 0 to 1.

    Returns
    -------
    int
        The variant's index, or -1 when the unit is not enrolled.

    Raises
    ------
    ValidationError
        If an argument is invalid, see :func:`bucket` and :func:`bucket_ranges`.

    Examples
    --------
    >>> assign_variant("model-ab", "user-00001", [0.5, 0.5])
    1
    >>> assign_variant("model-ab", "user-00001", [0.5, 0.5], coverage=0)
    -1
    """
    ranges = _ranges_for(weights, coverage)
    return choose_variant(bucket(seed, unit_id), ranges)
