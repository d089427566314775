"""Report notebooks: run them with papermill, export them to HTML and record a manifest of each run.

:func:`run_report` executes a notebook with parameters and writes the executed notebook, an HTML page and
``manifest.json`` into a new output folder. A notebook cell calls :func:`record_report_facts` to add
facts, such as the data window it covered, to that manifest, and :func:`running_headless` to skip
interactive widgets during a report run.

The runner's names are imported on first use, because importing papermill and nbformat takes seconds
and a notebook that only records facts should not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench.reports.manifest import REPORT_DIR_VARIABLE, record_report_facts, running_headless

if TYPE_CHECKING:
    from workbench.reports.runner import (
        NOTEBOOKS_DIR_VARIABLE,
        ReportRun,
        check_parameters,
        find_notebooks_dir,
        list_reports,
        resolve_notebook,
        run_report,
    )

_RUNNER_NAMES = {
    "NOTEBOOKS_DIR_VARIABLE",
    "ReportRun",
    "check_parameters",
    "find_notebooks_dir",
    "list_reports",
    "resolve_notebook",
    "run_report",
}

__all__ = [
    "NOTEBOOKS_DIR_VARIABLE",
    "REPORT_DIR_VARIABLE",
    "ReportRun",
    "check_parameters",
    "find_notebooks_dir",
    "list_reports",
    "record_report_facts",
    "resolve_notebook",
    "run_report",
    "running_headless",
]


def __getattr__(name: str) -> Any:
    if name in _RUNNER_NAMES:
        runner = importlib.import_module("workbench.reports.runner")
        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
