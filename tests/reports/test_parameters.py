"""Tests of the defaults read from a notebook's parameters cell."""

from __future__ import annotations

import nbformat

from workbench.reports.parameters import declared_defaults

DEFAULTS_SOURCE = (
    'model_id = "breast-cancer-lr:1"  # registered model\n'
    "alpha = 0.05\n"
    "limit: Optional[int] = None\n"
    "enabled = True\n"
    "columns = ['a', 'b']\n"
    "weights = {'a': 1.5}\n"
    "start = datetime(2026, 1, 1)\n"
    "count = 2 * 3\n"
)


def _notebook(source: str, *tags: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = list(tags)
    nb.cells = [cell]
    return nb


def test_declared_defaults_literals():
    defaults = declared_defaults(_notebook(DEFAULTS_SOURCE, "parameters"), kernel_name="python3")

    assert defaults["model_id"] == "breast-cancer-lr:1"
    assert defaults["alpha"] == 0.05
    assert defaults["limit"] is None
    assert defaults["enabled"] is True
    assert defaults["columns"] == ["a", "b"]
    assert defaults["weights"] == {"a": 1.5}


def test_declared_defaults_keeps_expression_source():
    defaults = declared_defaults(_notebook(DEFAULTS_SOURCE, "parameters"), kernel_name="python3")

    assert defaults["start"] == "datetime(2026, 1, 1)"
    assert defaults["count"] == "2 * 3"


def test_declared_defaults_order():
    defaults = declared_defaults(_notebook(DEFAULTS_SOURCE, "parameters"), kernel_name="python3")

    assert list(defaults) == ["model_id", "alpha", "limit", "enabled", "columns", "weights", "start", "count"]


def test_declared_defaults_no_parameters_cell():
    assert declared_defaults(_notebook(DEFAULTS_SOURCE), kernel_name="python3") == {}
