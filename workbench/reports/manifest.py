"""The run manifest of a report and the facts that notebook cells record for it.

A report run writes ``manifest.json`` next to the executed notebook and its HTML export. The manifest
records what ran (notebook, parameters, kernel, package versions, git commit), when it ran,
whether it succeeded and which data it covered. Cells add facts of their own with
:func:`record_report_facts`, and the manifest copies them under ``"facts"``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.store.urls import mask_url

REPORT_DIR_VARIABLE = "WORKBENCH_REPORT_DIR"
FACTS_FILE = "facts.json"
MANIFEST_FILE = "manifest.json"

# Distributions whose versions decide what a report computes and how it looks.
VERSIONED_PACKAGES = (
    "workbench",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "matplotlib",
    "papermill",
    "nbconvert",
)

_GIT_TIMEOUT_SECONDS = 10


def record_report_facts(facts: Mapping[str, Any]) -> None:
    """Merge ``facts`` into the ``facts.json`` of the report that is running.

    Call it from a notebook cell. The report runner sets ``WORKBENCH_REPORT_DIR`` to the output folder
    while the notebook runs, and copies the facts into the run manifest. Outside a report run (the
    variable is unset, as in interactive use) the call does nothing.

    Parameters
    ----------
    facts : Mapping[str, Any]
        JSON-ready values. Datetimes and dates are stored as ISO 8601 strings, and NumPy scalars and
        arrays as Python numbers and lists. A key that is already recorded is replaced, so the merge
        is shallow. A key ``"data_window"`` is also shown as ``data_window`` at the top level of the
        manifest.

    Raises
    ------
    TypeError
        If a value cannot be stored as JSON. The file is then left unchanged.
    """
    directory = os.environ.get(REPORT_DIR_VARIABLE)
    if not directory:
        return

    merged = read_facts(Path(directory))
    merged.update(facts)
    text = json.dumps(merged, indent=2, default=to_json_value)

    _write_text_atomically(Path(directory) / FACTS_FILE, text)


def running_headless() -> bool:
    """Return True while :func:`~workbench.reports.run_report` executes the calling notebook.

    Cells use it to skip interactive widgets in a report run. It checks ``WORKBENCH_REPORT_DIR``, so a
    notebook run with papermill directly, outside :func:`~workbench.reports.run_report`, counts as
    interactive.
    """
    return bool(os.environ.get(REPORT_DIR_VARIABLE))


def read_facts(output_dir: Path) -> dict[str, Any]:
    """Return the facts recorded in ``output_dir``, or an empty dict when none were recorded."""
    path = output_dir / FACTS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def package_versions() -> dict[str, str | None]:
    """Return the Python version and the installed version of each of :data:`VERSIONED_PACKAGES`.

    The versions are those of the environment that runs the report runner. A package that is not
    installed maps to None.
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def git_state(directory: Path) -> dict[str, Any]:
    """Return the git commit of ``directory`` and whether tracked files have uncommitted changes.

    Returns
    -------
    dict
        ``git_commit``: the ``HEAD`` commit, or None outside a repository or before the first commit.
        ``git_dirty``: True when a tracked file differs from ``HEAD`` (untracked files, such as run
        outputs, do not count), or None when git cannot tell.
    """
    commit = _run_git(["rev-parse", "HEAD"], directory)
    status = _run_git(["status", "--porcelain", "--untracked-files=no"], directory)
    return {
        "git_commit": commit or None,
        "git_dirty": None if status is None else bool(status),
    }


def build_manifest(
    *,
    notebook: Path,
    kernel_name: str,
    parameters: Mapping[str, Any],
    overrides: Sequence[str],
    started_at: datetime,
    finished_at: datetime,
    duration_seconds: float,
    error: Mapping[str, Any] | None,
    output_dir: Path,
    outputs: Mapping[str, Path],
) -> dict[str, Any]:
    """Assemble the manifest of one report run.

    Parameters
    ----------
    notebook : pathlib.Path
        The input notebook.
    kernel_name : str
        The Jupyter kernel that ran it.
    parameters : Mapping[str, Any]
        Every parameter the notebook ran with: the defaults of its ``parameters`` cell overlaid with the
        values given, after conversion to the declared types. A default that is not a Python literal is
        its source text. A string that contains ``://``, such as a store URL, is stored with its password
        masked, also inside a list, tuple, set or dict.
    overrides : Sequence[str]
        Names of the parameters that were given, as opposed to left at their default.
    started_at, finished_at : datetime.datetime
        Aware UTC times of the run.
    duration_seconds : float
        Wall-clock time of the run, in seconds.
    error : Mapping[str, Any] or None
        None for a run that succeeded. For a failed run: ``cell_index``, ``cell_source`` (first line),
        ``exception`` (name) and ``value``.
    output_dir : pathlib.Path
        The output folder, where the facts are read from.
    outputs : Mapping[str, pathlib.Path]
        Files of the run by role (``"notebook"``, ``"html"``, …), inside ``output_dir``. The manifest
        stores them relative to ``output_dir``.
    """
    facts = read_facts(output_dir)

    manifest = {
        "report": notebook.stem,
        "notebook": str(notebook),
        "kernel_name": kernel_name,
        "parameters": {name: _mask_secret(value) for name, value in parameters.items()},
        "overrides": list(overrides),
        "started_at": _format_utc(started_at),
        "finished_at": _format_utc(finished_at),
        "duration_seconds": round(duration_seconds, 3),
        "status": "failed" if error else "succeeded",
        "error": dict(error) if error else None,
        "versions": package_versions(),
        # The commit of the repository that contains the notebook, which is the code the report ran.
        **git_state(notebook.resolve().parent),
        "data_window": facts.get("data_window"),
        "facts": facts,
        "outputs": {role: path.relative_to(output_dir).as_posix() for role, path in outputs.items()},
    }
    return manifest


def write_manifest(manifest: Mapping[str, Any], path: Path) -> None:
    """Write ``manifest`` as indented JSON to ``path``.

    A parameter value that JSON cannot store is written as its ``repr`` so that the record of a finished
    run is never lost to a serialization error.
    """
    text = json.dumps(manifest, indent=2, default=_to_json_value_or_repr)
    _write_text_atomically(path, text)


def to_json_value(value: Any) -> Any:
    """Convert a datetime, date, NumPy value or path to a JSON value, as a ``json.dumps`` default hook.

    Raises
    ------
    TypeError
        If ``value`` has none of these types.
    """
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(
        f"A value of type {type(value).__name__} cannot be stored as JSON; "
        "convert it to a str, number, bool, list or dict first."
    )


def _to_json_value_or_repr(value: Any) -> Any:
    try:
        return to_json_value(value)
    except TypeError:
        return repr(value)


def _mask_secret(value: Any) -> Any:
    """Mask the password of a URL-valued parameter, such as a store URL, also inside lists and dicts."""
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    if isinstance(value, Mapping):
        return {key: _mask_secret(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask_secret(item) for item in value]
    return value


def _format_utc(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _run_git(arguments: list[str], directory: Path) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            check=True,
            timeout=_GIT_TIMEOUT_SECONDS,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None
    return completed.stdout.strip()


def _write_text_atomically(path: Path, text: str) -> None:
    # Write to a temporary file first so that a reader never sees half a file.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
