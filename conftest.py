"""Names that the doctests in ``workbench`` use without importing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.monitoring import Monitor, compute_baseline


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace: dict) -> None:
    doctest_namespace["np"] = np
    doctest_namespace["pd"] = pd
    doctest_namespace["compute_baseline"] = compute_baseline
    doctest_namespace["Monitor"] = Monitor
