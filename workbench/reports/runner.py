"""Run a report notebook with papermill and keep the executed notebook, an HTML export and a manifest.

A report is a Jupyter notebook whose defaults sit in a cell tagged ``parameters``. :func:`run_report`
checks the parameters given against that cell before anything runs, executes the notebook in a new
output folder and exports it to HTML, whether or not a cell fails.

The runner connects to the kernel over ZeroMQ's IPC transport, Unix domain sockets in a private
temporary folder, so no code or output crosses a TCP port. On Windows, or when the temporary folder's
path is too long for a socket path, it falls back to jupyter_client's default TCP transport. That
listens on the loopback address (127.0.0.1 in jupyter_client 8.10) without transport encryption, and
ipykernel then logs a warning about it. :mod:`workbench.reports.transport` has the details.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpec, KernelSpecManager, NoSuchKernel
from papermill.execute import ERROR_MARKER_TAG

from workbench.errors import NotebookExecutionError, ReportError
from workbench.reports.export import export_html
from workbench.reports.manifest import (
    FACTS_FILE,
    MANIFEST_FILE,
    REPORT_DIR_VARIABLE,
    build_manifest,
    write_manifest,
)
from workbench.reports.notebooks import resolve_notebook
from workbench.reports.parameters import PARAMETERS_TAG, check_parameters, declared_defaults
from workbench.reports.transport import kernel_transport_config
from workbench.timeutil import utc_now

logger = logging.getLogger(__name__)

# papermill tags the cell it inserts after the parameters cell with this tag.
INJECTED_PARAMETERS_TAG = "injected-parameters"

_RUN_DIR_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class ReportRun:
    """Outcome of a report run that succeeded.

    Attributes
    ----------
    output_dir : pathlib.Path
        Folder that contains every file of the run.
    notebook_path : pathlib.Path
        The executed notebook, with outputs.
    html_path : pathlib.Path
        HTML export of the executed notebook.
    manifest_path : pathlib.Path
        ``manifest.json`` of the run.
    manifest : dict
        Contents of ``manifest.json``.
    duration_seconds : float
        Wall-clock time of the notebook execution, in seconds.
    """

    output_dir: Path
    notebook_path: Path
    html_path: Path
    manifest_path: Path
    manifest: dict[str, Any]
    duration_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready values, with paths as strings."""
        return {
            "output_dir": str(self.output_dir),
            "notebook_path": str(self.notebook_path),
            "html_path": str(self.html_path),
            "manifest_path": str(self.manifest_path),
            "manifest": copy.deepcopy(self.manifest),
            "duration_seconds": self.duration_seconds,
        }


@dataclass(frozen=True)
class _Run:
    """Settings and output paths of one report run, shared by the steps of :func:`run_report`."""

    notebook: Path
    kernel_name: str
    language: str
    parameters: dict[str, Any]
    defaults: dict[str, Any]
    output_dir: Path
    show_code: bool
    progress: bool
    started_at: datetime

    @property
    def executed_path(self) -> Path:
        return self.output_dir / f"{self.notebook.stem}.ipynb"

    @property
    def html_path(self) -> Path:
        return self.output_dir / f"{self.notebook.stem}.html"

    @property
    def manifest_path(self) -> Path:
        return self.output_dir / MANIFEST_FILE


def run_report(
    notebook: str | Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    output_dir: Path | None = None,
    runs_dir: Path = Path("papermill_runs"),
    kernel_name: str | None = None,
    show_code: bool = False,
    progress: bool = False,
) -> ReportRun:
    """Execute a report notebook and write the executed notebook, its HTML export and a manifest.

    The kernel starts in the current working directory, so relative paths in cells are read from there.
    The manifest records every parameter the notebook ran with: the defaults of its ``parameters`` cell
    overlaid with the values given, whose names it lists under ``"overrides"``.

    Parameters
    ----------
    notebook : str or pathlib.Path
        Path of a ``.ipynb`` file, or the name of a report in the notebooks folder (see
        :func:`find_notebooks_dir`).
    parameters : Mapping[str, Any], optional
        Values for names that the notebook's ``parameters`` cell declares. String values, as given on a
        command line, are converted to the declared type (see :func:`check_parameters`).
    output_dir : pathlib.Path, optional
        Folder for the outputs. By default a new folder ``<runs_dir>/<notebook name>/<UTC start time>``.
    runs_dir : pathlib.Path
        Parent of the default output folders.
    kernel_name : str, optional
        Jupyter kernel to run. By default the notebook's kernelspec, or ``python3`` when the notebook
        has none.
    show_code : bool
        Keep code cells in the HTML export. By default only outputs are shown.
    progress : bool
        Show papermill's progress bar.

    Returns
    -------
    ReportRun
        Paths of the outputs and the manifest. The output folder also contains ``facts.json`` when a
        cell called :func:`~workbench.reports.record_report_facts`.

    Raises
    ------
    NotFoundError
        If the notebook file or the report name does not exist.
    NotebookParameterError
        If parameters are given and the notebook has no ``parameters`` cell, a name is not declared, or
        a value cannot be converted. Nothing is written then.
    NotebookExecutionError
        If a cell raises. The executed notebook, the HTML export and a manifest with status
        ``"failed"`` are written first.
    ReportError
        If the notebook cannot be read, the kernel is not installed, or the kernel stopped or could not
        start during the run. In the last case the manifest, with status ``"failed"``, is written first.
    """
    notebook_path = resolve_notebook(notebook)
    source = _read_notebook(notebook_path)

    kernel_name, language = _resolve_kernel(source, kernel_name)
    values = check_parameters(
        source, parameters or {}, notebook=notebook_path, kernel_name=kernel_name, language=language
    )
    defaults = _read_defaults(source, notebook_path, kernel_name, language)

    output_dir = _prepare_output_dir(output_dir, runs_dir, notebook_path.stem)
    run = _Run(
        notebook=notebook_path,
        kernel_name=kernel_name,
        language=language,
        parameters=values,
        defaults=defaults,
        output_dir=output_dir,
        show_code=show_code,
        progress=progress,
        started_at=utc_now(),
    )
    logger.info("Running report %s into %s", notebook_path, output_dir)

    clock_start = time.perf_counter()
    try:
        _execute(run)
    except papermill.PapermillExecutionError as error:
        cell_index = _source_cell_index(source, error.cell_index, injected=bool(values))
        failure = _describe_failure(error, cell_index)
        _finish_failed_run(run, time.perf_counter() - clock_start, failure)
        raise _execution_error(run, failure) from error
    except Exception as error:
        # The kernel died, timed out or could not start. Keep a record of the run before raising.
        failure = _describe_crash(error)
        _finish_failed_run(run, time.perf_counter() - clock_start, failure)
        raise ReportError(
            f"Notebook {str(run.notebook)!r} stopped before it finished: {failure['exception']}"
            f"{_as_clause(failure['value'])}. The output folder {run.output_dir} contains what was written."
        ) from error
    duration = time.perf_counter() - clock_start
    finished_at = utc_now()

    export_html(run.executed_path, run.html_path, show_code=show_code)

    manifest = _write_run_manifest(run, finished_at, duration, failure=None)
    logger.info("Report %s finished in %.1f s; HTML at %s", notebook_path.stem, duration, run.html_path)

    return ReportRun(
        output_dir=output_dir,
        notebook_path=run.executed_path,
        html_path=run.html_path,
        manifest_path=run.manifest_path,
        manifest=manifest,
        duration_seconds=duration,
    )


def _read_notebook(path: Path) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError) as error:
        # nbformat raises a ValueError subclass for JSON it cannot read as a notebook.
        raise ReportError(f"Notebook {str(path)!r} cannot be read as a Jupyter notebook: {error}") from error


def _resolve_kernel(nb: nbformat.NotebookNode, kernel_name: str | None) -> tuple[str, str]:
    """Return the kernel name and language that papermill will run the notebook with.

    papermill 2.7 raises ValueError for a notebook without kernelspec metadata unless a kernel name and
    a language are passed, so both are always resolved here.
    """
    name = kernel_name or nb.metadata.get("kernelspec", {}).get("name") or NATIVE_KERNEL_NAME
    spec = _find_kernel_spec(name)

    language = spec.language or nb.metadata.get("language_info", {}).get("name") or "python"
    return name, language


def _find_kernel_spec(name: str) -> KernelSpec:
    # NOTE: "python3" resolves to the first python3 kernelspec on Jupyter's search path. In a virtualenv
    # with ipykernel installed that is the environment's own spec, whose "python" command jupyter_client
    # 8 replaces with sys.executable, so the kernel runs this interpreter.
    manager = KernelSpecManager()
    try:
        return manager.get_kernel_spec(name)
    except NoSuchKernel:
        installed = ", ".join(sorted(manager.find_kernel_specs())) or "none"
        raise ReportError(
            f"Jupyter kernel {name!r} is not installed. Installed kernels: {installed}. Pass one of them "
            f"as kernel_name, or install it with `python -m ipykernel install --user --name {name}` from "
            "the environment it should use."
        ) from None


def _prepare_output_dir(output_dir: Path | None, runs_dir: Path, stem: str) -> Path:
    if output_dir is None:
        return _new_run_dir(runs_dir / stem)

    output_dir.mkdir(parents=True, exist_ok=True)
    # Facts left by an earlier run into the same folder would otherwise be merged into this run's.
    (output_dir / FACTS_FILE).unlink(missing_ok=True)
    return output_dir


def _new_run_dir(parent: Path) -> Path:
    name = utc_now().strftime(_RUN_DIR_FORMAT)
    candidate = parent / name
    suffix = 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = parent / f"{name}-{suffix}"


def _read_defaults(nb: nbformat.NotebookNode, notebook: Path, kernel_name: str, language: str) -> dict[str, Any]:
    try:
        return declared_defaults(nb, kernel_name=kernel_name, language=language)
    except ReportError:
        # papermill can inject values for some kernels whose parameters cell it cannot read. Such a run
        # goes ahead, and its manifest lists only the values given.
        logger.warning(
            "papermill cannot read the parameters cell of %s for kernel %r (%s), so the manifest records "
            "only the parameters given, not the defaults",
            notebook,
            kernel_name,
            language,
        )
        return {}


def _execute(run: _Run) -> None:
    with _report_dir_variable(run.output_dir), kernel_transport_config() as transport_config:
        papermill.execute_notebook(
            str(run.notebook),
            str(run.executed_path),
            parameters=run.parameters or None,
            kernel_name=run.kernel_name,
            language=run.language,
            progress_bar=run.progress,
            **transport_config,
        )


@contextlib.contextmanager
def _report_dir_variable(output_dir: Path) -> Iterator[None]:
    """Set WORKBENCH_REPORT_DIR for the kernel, which inherits this process's environment."""
    previous = os.environ.get(REPORT_DIR_VARIABLE)
    os.environ[REPORT_DIR_VARIABLE] = str(output_dir.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(REPORT_DIR_VARIABLE, None)
        else:
            os.environ[REPORT_DIR_VARIABLE] = previous


def _source_cell_index(nb: nbformat.NotebookNode, executed_index: int, *, injected: bool) -> int | None:
    """Map papermill's index of the failing cell to the index of that cell in the input notebook.

    papermill 2.7 counts cells after it has dropped error-marker cells of an earlier run and inserted
    its injected-parameters cell, but before it adds the error banner and anchor to the executed file.
    Returns None when the failing cell is the injected-parameters cell itself.
    """
    positions: list[int | None] = [
        index for index, cell in enumerate(nb.cells) if ERROR_MARKER_TAG not in cell.metadata.get("tags", [])
    ]

    # papermill replaces an existing injected-parameters cell in place, and otherwise inserts one right
    # after the parameters cell.
    has_injected_cell = any(INJECTED_PARAMETERS_TAG in cell.metadata.get("tags", []) for cell in nb.cells)
    if injected and not has_injected_cell:
        parameters_index = next(
            index for index, cell in enumerate(nb.cells) if PARAMETERS_TAG in cell.metadata.get("tags", [])
        )
        positions.insert(positions.index(parameters_index) + 1, None)

    if executed_index >= len(positions):
        return None
    return positions[executed_index]


def _describe_failure(error: papermill.PapermillExecutionError, cell_index: int | None) -> dict[str, Any]:
    lines = [line.strip() for line in error.source.splitlines() if line.strip()]
    return {
        "cell_index": cell_index,
        "cell_source": lines[0] if lines else "",
        "exception": error.ename,
        "value": error.evalue,
    }


def _describe_crash(error: Exception) -> dict[str, Any]:
    return {"cell_index": None, "cell_source": "", "exception": type(error).__name__, "value": str(error)}


def _execution_error(run: _Run, failure: Mapping[str, Any]) -> NotebookExecutionError:
    if failure["cell_index"] is None:
        where = "The parameters cell that papermill injected"
    else:
        where = f"Cell {failure['cell_index']} (counting from 0)"

    message = (
        f"{where} of notebook {str(run.notebook)!r} raised {failure['exception']}"
        f"{_as_clause(failure['value'])}. The cell starts with: {failure['cell_source']!r}. "
        f"The executed notebook with the traceback is {run.executed_path}"
        f"{_executed_index_clause(run, failure['cell_index'])}."
    )
    return NotebookExecutionError(
        message,
        cell_index=failure["cell_index"],
        cell_source=failure["cell_source"],
        output_path=str(run.executed_path),
    )


def _executed_index_clause(run: _Run, cell_index: int | None) -> str:
    """Name the failed cell's index in the executed notebook, which differs after an injected parameters cell."""
    if cell_index is None or not run.parameters:
        return ""
    return f", where it is cell {cell_index + 1} after the injected parameters cell"


def _as_clause(value: str) -> str:
    """Return ``": <value>"`` for an exception value, or "" when the value is blank.

    The final period of the value is dropped, because the messages here end the sentence themselves.
    """
    text = value.strip().removesuffix(".")
    return f": {text}" if text else ""


def _finish_failed_run(run: _Run, duration: float, failure: Mapping[str, Any]) -> None:
    finished_at = utc_now()

    # papermill writes the executed notebook before it raises, unless the kernel never started.
    if run.executed_path.is_file():
        export_html(run.executed_path, run.html_path, show_code=run.show_code)

    _write_run_manifest(run, finished_at, duration, failure=failure)


def _write_run_manifest(
    run: _Run, finished_at: datetime, duration: float, *, failure: Mapping[str, Any] | None
) -> dict[str, Any]:
    outputs = {
        "notebook": run.executed_path,
        "html": run.html_path,
        "manifest": run.manifest_path,
        "facts": run.output_dir / FACTS_FILE,
    }
    written = {role: path for role, path in outputs.items() if role == "manifest" or path.exists()}

    manifest = build_manifest(
        notebook=run.notebook.resolve(),
        kernel_name=run.kernel_name,
        parameters={**run.defaults, **run.parameters},
        overrides=list(run.parameters),
        started_at=run.started_at,
        finished_at=finished_at,
        duration_seconds=duration,
        error=failure,
        output_dir=run.output_dir,
        outputs=written,
    )

    write_manifest(manifest, run.manifest_path)
    return manifest
