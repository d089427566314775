"""Report notebooks: run them with papermill, export them to HTML and record a manifest of each run.

:func:`run_report` executes a notebook with parameters and writes the executed notebook, an HTML page and
``manifest.json`` into a new output folder. A notebook cell calls :func:`record_report_facts` to add
facts, such as the data window it covered, to that manifest, and :func:`running_headless` to skip
interactive widgets during a report run.

Names from the runner, parameters and notebooks modules are imported on first use, because importing
papermill and nbformat takes seconds and a notebook that only records facts should not pay for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench.reports.manifest import REPORT_DIR_VARIABLE, record_report_facts, running_headless

if TYPE_CHECKING:
    from workbench.reports.notebooks import (
        NOTEBOOKS_DIR_VARIABLE,
        find_notebooks_dir,
        list_reports,
        resolve_notebook,
    )
    from workbench.reports.parameters import check_parameters
    from workbench.reports.runner import ReportRun, run_report

# Module that defines each name imported on first use.
_LAZY_MODULES = {
    "NOTEBOOKS_DIR_VARIABLE": "workbench.reports.notebooks",
    "ReportRun": "workbench.reports.runner",
    "check_parameters": "workbench.reports.parameters",
    "find_notebooks_dir": "workbench.reports.notebooks",
    "list_reports": "workbench.reports.notebooks",
    "resolve_notebook": "workbench.reports.notebooks",
    "run_report": "workbench.reports.runner",
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
    if name in _LAZY_MODULES:
        module = importlib.import_module(_LAZY_MODULES[name])
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
