"""Reading tables of features from CSV or Parquet files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from workbench.errors import NotFoundError, ValidationError

SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet file into a DataFrame.

    Raises
    ------
    NotFoundError
        If the file does not exist.
    ValidationError
        If the suffix is not ``.csv``, ``.parquet`` or ``.pq``, or the file cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"Table {str(path)!r} does not exist; check the path.", kind="file", key=str(path))
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError(
            f"Table {str(path)!r} has suffix {suffix!r}; use a CSV (.csv) or Parquet (.parquet, .pq) file.",
            field="path", value=str(path),
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ValidationError(f"Table {str(path)!r} could not be read: {exc}", field="path", value=str(path)) from exc
