"""Sticky assignment of many units at once with numpy: the batch path of :mod:`workbench.abtesting.hashing`.

:func:`buckets` and :func:`assign_variants` return exactly what :func:`~workbench.abtesting.hashing.bucket`
and :func:`~workbench.abtesting.hashing.assign_variant` return id by id. Ids are hashed in chunks of
:data:`CHUNK_SIZE`: each chunk becomes one array of code points, and the FNV-1a rounds run column by
column over the whole chunk with uint32 arithmetic. Backfills and simulations of millions of ids use
this path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from workbench.abtesting.hashing import (
    BUCKET_COUNT,
    FNV_OFFSET_BASIS,
    FNV_PRIME,
    _bucket_from_state,
    _mix,
    _raise_invalid_unit_id,
    _seed_state,
    _seed_state_checked,
    bucket_ranges,
)
from workbench.errors import ValidationError

#: Ids per numpy chunk in :func:`buckets`, which bounds its memory for millions of ids.
CHUNK_SIZE = 100_000

#: :func:`buckets` hashes ids longer than this many characters one at a time. Each character position
#: is one numpy step over the whole chunk, so one long id would otherwise slow its whole chunk.
BATCH_MAX_LENGTH = 256


# Many ids --------------------------------------------------------------------------------------------


def _check_no_empty(lengths: np.ndarray) -> None:
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        _raise_invalid_unit_id("", f"unit_ids[{empty[0]}]")


def _id_column(unit_ids: Any) -> tuple[list[str] | np.ndarray, np.ndarray]:
    """Check a batch of ids and return them, as a list or a str array, with their lengths in code points."""
    if isinstance(unit_ids, (str, bytes)):
        raise ValidationError("unit_ids must be a sequence of ids, but received one str. Wrap it in a "
                              "list, or call bucket() for one id.", field="unit_ids")
    if isinstance(unit_ids, np.ndarray):
        if unit_ids.ndim != 1:
            raise ValidationError(f"unit_ids must be one-dimensional, but received an array of shape "
                                  f"{unit_ids.shape}.", field="unit_ids")
        if unit_ids.dtype.kind == "U":
            lengths = np.char.str_len(unit_ids).astype(np.int64)
            _check_no_empty(lengths)
            # The code points are read as native uint32, so the array is converted to native byte order.
            return np.ascontiguousarray(unit_ids, dtype=unit_ids.dtype.newbyteorder("=")), lengths
        if unit_ids.dtype.kind != "O":
            raise ValidationError(f"unit_ids must contain str, but received an array of dtype "
                                  f"{unit_ids.dtype}. Convert the ids to str first.", field="unit_ids")
        unit_ids = unit_ids.tolist()

    if isinstance(unit_ids, list):
        values = unit_ids
    else:
        try:
            values = list(unit_ids)
        except TypeError as exc:
            raise ValidationError(f"unit_ids must be a sequence of str, but received a value of type "
                                  f"{type(unit_ids).__name__}.", field="unit_ids") from exc
    if not set(map(type, values)) <= {str}:
        for index, value in enumerate(values):
            if not isinstance(value, str):
                _raise_invalid_unit_id(value, f"unit_ids[{index}]")
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    _check_no_empty(lengths)
    return values, lengths


def _code_point_columns(values: list[str] | np.ndarray, lengths: np.ndarray,
                        skipped: np.ndarray) -> tuple[Callable[[int], np.ndarray], np.ndarray]:
    """Return a function from a column index to the code points in that column, and the astral rows.

    A list of ids is joined into one UTF-32 buffer, so that column ``c`` is the code point at each id's
    offset plus ``c``. Ids in ``skipped`` are left out of the buffer. Past an id's end a column
    contains other code points, which the caller masks out. The astral rows are the ids with a code
    point above U+FFFF.
    """
    if isinstance(values, np.ndarray):
        table = values.view(np.uint32).reshape(len(values), -1)[:, :BATCH_MAX_LENGTH]
        return (lambda column: table[:, column]), table.max(axis=1, initial=0) > 0xFFFF

    if skipped.any():
        values = [value for value, skip in zip(values, skipped.tolist()) if not skip]
        lengths = np.where(skipped, 0, lengths)
    flat = np.frombuffer("".join(values).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    ends = np.cumsum(lengths)
    astral = np.zeros(len(lengths), dtype=bool)
    astral[np.searchsorted(ends, np.flatnonzero(flat > 0xFFFF), side="right")] = True

    if lengths.min() == lengths.max():
        table = flat.reshape(len(lengths), -1)
        return (lambda column: table[:, column]), astral
    if flat.size == 0:
        flat = np.zeros(1, dtype=np.uint32)
    offsets = ends - lengths
    last = flat.size - 1
    return (lambda column: flat[np.minimum(offsets + column, last)]), astral


def _first_round(seed_state: int, column_of: Callable[[int], np.ndarray], lengths: np.ndarray) -> np.ndarray:
    """Continue FNV-1a from ``seed_state`` over each row's first ``lengths[row]`` code points.

    uint32 products wrap modulo 2**32, as FNV requires. Rows of length 0 keep the seed state.
    """
    state = np.full(len(lengths), seed_state, dtype=np.uint32)
    prime = np.uint32(FNV_PRIME)
    shortest, longest = int(lengths.min()), int(lengths.max())
    for column in range(longest):
        units = column_of(column)
        if column < shortest:
            np.bitwise_xor(state, units, out=state)
            np.multiply(state, prime, out=state)
        else:
            np.copyto(state, (state ^ units) * prime, where=lengths > column)
    return state


def _second_round(first: np.ndarray) -> np.ndarray:
    """Hash the decimal digits of each first-round hash, most significant first, into buckets."""
    digit_counts = np.ones(len(first), dtype=np.int8)
    for power in range(1, 10):
        digit_counts += first >= np.uint32(10**power)
    fewest = int(digit_counts.min())

    # digits[p] is the digit of 10**p. A uint32 has at most 10 decimal digits.
    digits = np.empty((10, len(first)), dtype=np.uint32)
    remaining = first.copy()
    for place in range(10):
        np.divmod(remaining, np.uint32(10), out=(remaining, digits[place]))
    digits += np.uint32(ord("0"))

    state = np.full(len(first), FNV_OFFSET_BASIS, dtype=np.uint32)
    prime = np.uint32(FNV_PRIME)
    for place in range(9, -1, -1):
        if place < fewest:
            np.bitwise_xor(state, digits[place], out=state)
            np.multiply(state, prime, out=state)
        else:
            # A number with fewer digits starts at its own leading digit.
            np.copyto(state, (state ^ digits[place]) * prime, where=digit_counts > place)
    return (state % np.uint32(BUCKET_COUNT)).astype(np.float64) / BUCKET_COUNT


def _chunk_buckets(seed: str, values: list[str] | np.ndarray, lengths: np.ndarray) -> np.ndarray:
    # Ids longer than BATCH_MAX_LENGTH, or with a character above U+FFFF (two UTF-16 code units where
    # the columns hold one code point), go through the scalar path.
    long_rows = lengths > BATCH_MAX_LENGTH
    column_of, astral_rows = _code_point_columns(values, lengths, long_rows)
    scalar_rows = long_rows | astral_rows

    batch_lengths = np.where(scalar_rows, 0, lengths)
    result = _second_round(_first_round(_seed_state(seed), column_of, batch_lengths))
    for row in np.flatnonzero(scalar_rows).tolist():
        result[row] = _bucket_from_state(_mix(_seed_state(seed), str(values[row])))
    return result


def buckets(seed: str, unit_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Hash many unit ids into buckets with numpy, with the same values as :func:`bucket`.

    Parameters
    ----------
    seed : str
        The experiment's seed, usually its key.
    unit_ids : sequence of str or numpy.ndarray
        Non-empty str ids: a list, a tuple, a pandas Series or a 1-D array of dtype str or object. Not
        modified. numpy str arrays drop trailing NUL characters from their elements, so an id in such
        an array hashes as the array returns it.

    Returns
    -------
    numpy.ndarray
        float64 buckets in input order.

    Raises
    ------
    ValidationError
        If the seed or an id is invalid. The message gives the first bad id's position and type.

    Notes
    -----
    Ids are hashed ``CHUNK_SIZE`` at a time. The code points of a chunk are hashed one column at a
    time over all its ids with uint32 arithmetic, and the second round runs over the decimal digits of
    all first hashes at once. Ids with a character above U+FFFF, and ids longer than
    ``BATCH_MAX_LENGTH`` characters, are hashed one at a time by the scalar code.

    Examples
    --------
    >>> from workbench.abtesting.hashing import bucket
    >>> ids = ["user-00001", "user-00002"]
    >>> buckets("model-ab", ids).tolist() == [bucket("model-ab", unit_id) for unit_id in ids]
    True
    """
    _seed_state_checked(seed)
    values, lengths = _id_column(unit_ids)
    result = np.empty(len(lengths), dtype=np.float64)
    for start in range(0, len(lengths), CHUNK_SIZE):
        stop = start + CHUNK_SIZE
        result[start:stop] = _chunk_buckets(seed, values[start:stop], lengths[start:stop])
    return result


def assign_variants(seed: str, unit_ids: Sequence[str] | np.ndarray, weights: Sequence[float],
                    coverage: float = 1.0) -> np.ndarray:
    """Assign many units to variants with numpy, with the same values as :func:`assign_variant`.

    Parameters
    ----------
    seed : str
        The experiment's seed, usually its key.
    unit_ids : sequence of str or numpy.ndarray
        Non-empty str ids, as for :func:`buckets`. Not modified.
    weights : sequence of float
        One weight per variant, see :func:`normalize_weights`.
    coverage : float
        Share of units enrolled, from 0 to 1.

    Returns
    -------
    numpy.ndarray
        int64 variant indices in input order, -1 for the units not enrolled.

    Raises
    ------
    ValidationError
        If an argument is invalid.

    Examples
    --------
    >>> assign_variants("model-ab", ["user-00001", "user-00002"], [0.5, 0.5], coverage=0).tolist()
    [-1, -1]
    """
    ranges = bucket_ranges(weights, coverage)
    values = buckets(seed, unit_ids)
    variants = np.full(len(values), -1, dtype=np.int64)
    # Going from the last range to the first lets the first range that contains a bucket win, as in
    # choose_variant.
    for index in range(len(ranges) - 1, -1, -1):
        start, end = ranges[index]
        variants[(values >= start) & (values < end)] = index
    return variants
