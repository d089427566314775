"""Tests of the report runner against real papermill kernels, one tiny notebook per scenario."""

from __future__ import annotations

import copy
import json
import logging
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
import zmq

from workbench.errors import NotebookExecutionError, NotebookParameterError, NotFoundError, ReportError
from workbench.reports import (
    NOTEBOOKS_DIR_VARIABLE,
    REPORT_DIR_VARIABLE,
    check_parameters,
    list_reports,
    record_report_facts,
    run_report,
    runner,
    running_headless,
    transport,
)
from workbench.reports.export import export_html, missing_alt_text_filtered

PARAMETERS_SOURCE = 'alpha = 0.05  # significance level\nname = "x"'

FACTS_SOURCE = (
    "from workbench.reports import record_report_facts\n"
    'record_report_facts({"data_window": {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}})'
)

PYTHON_KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}

TRANSPORT_SOURCE = "from ipykernel.kernelapp import IPKernelApp\nprint(IPKernelApp.instance().transport)"

# A 1x1 transparent PNG, as base64.
PNG_PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

OUTPUT_PROMPT = re.compile(r"Out\[\d+\]")

needs_ipc = pytest.mark.skipif(
    sys.platform == "win32" or not zmq.has("ipc"), reason="the kernel can use IPC transport only on POSIX"
)


def _code_cell(source: str, *tags: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _write_notebook(path: Path, cells: list[nbformat.NotebookNode], *, kernelspec: bool = True) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = cells
    if kernelspec:
        nb.metadata["kernelspec"] = dict(PYTHON_KERNELSPEC)
    nbformat.write(nb, path)
    return path


def _read_manifest(output_dir: Path) -> dict:
    return json.loads((output_dir / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def ok_run(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("ok")
    notebook = _write_notebook(
        folder / "ok.ipynb",
        [
            _code_cell(PARAMETERS_SOURCE, "parameters"),
            _code_cell(FACTS_SOURCE),
            _code_cell('f"alpha doubled: {alpha * 2}"'),
            _code_cell("print(alpha)"),
        ],
    )
    return run_report(notebook, {"alpha": "0.01"}, runs_dir=folder / "runs")


def test_run_report_ok_writes_outputs(ok_run):
    assert ok_run.notebook_path.is_file()
    assert ok_run.html_path.is_file()
    assert ok_run.manifest_path.is_file()


def test_run_report_ok_output_folder(ok_run):
    assert ok_run.output_dir.parent.name == "ok"
    assert ok_run.output_dir.name.endswith("Z")
    assert ok_run.notebook_path.parent == ok_run.output_dir


def test_run_report_ok_manifest_on_disk(ok_run):
    assert _read_manifest(ok_run.output_dir) == ok_run.manifest


def test_run_report_ok_converts_parameter(ok_run):
    alpha = ok_run.manifest["parameters"]["alpha"]
    assert isinstance(alpha, float)
    assert alpha == 0.01


def test_run_report_ok_records_defaults(ok_run):
    assert ok_run.manifest["parameters"] == {"alpha": 0.01, "name": "x"}


def test_run_report_ok_records_overrides(ok_run):
    assert ok_run.manifest["overrides"] == ["alpha"]


def test_run_report_ok_status(ok_run):
    assert ok_run.manifest["status"] == "succeeded"
    assert ok_run.manifest["error"] is None


def test_run_report_ok_data_window(ok_run):
    assert ok_run.manifest["data_window"] == {"start": "2026-01-01T00:00:00Z", "end": "2026-01-08T00:00:00Z"}
    assert ok_run.manifest["facts"]["data_window"] == ok_run.manifest["data_window"]


def test_run_report_ok_relative_outputs(ok_run):
    assert ok_run.manifest["outputs"]["notebook"] == "ok.ipynb"
    assert ok_run.manifest["outputs"]["html"] == "ok.html"
    assert ok_run.manifest["outputs"]["facts"] == "facts.json"


def test_run_report_ok_versions(ok_run):
    versions = ok_run.manifest["versions"]
    assert versions["python"] == ".".join(str(part) for part in sys.version_info[:3])
    assert versions["papermill"] is not None
    assert set(versions) >= {"workbench", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn"}


def test_run_report_ok_injects_value(ok_run):
    executed = nbformat.read(ok_run.notebook_path, as_version=4)
    injected = [cell for cell in executed.cells if "injected-parameters" in cell.metadata.get("tags", [])]
    printed = executed.cells[-1].outputs[0]["text"]

    assert len(injected) == 1
    assert "alpha = 0.01" in injected[0].source
    assert printed.strip() == "0.01"


def test_run_report_ok_hides_code(ok_run):
    html = ok_run.html_path.read_text(encoding="utf-8")
    assert "record_report_facts" not in html


def test_run_report_ok_hides_prompts(ok_run):
    html = ok_run.html_path.read_text(encoding="utf-8")
    assert "alpha doubled: 0.02" in html
    assert OUTPUT_PROMPT.search(html) is None
    assert 'class="jp-OutputPrompt' not in html


def test_export_html_show_code(ok_run, tmp_path):
    html_path = tmp_path / "with_code.html"

    export_html(ok_run.notebook_path, html_path, show_code=True)

    html = html_path.read_text(encoding="utf-8")
    assert "record_report_facts" in html
    assert OUTPUT_PROMPT.search(html) is not None


def test_export_html_no_alt_text_warning(tmp_path, caplog):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("figure")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG_PIXEL})]
    nb.cells = [cell]
    nbformat.write(nb, tmp_path / "image.ipynb")
    traitlets_logger = logging.getLogger("traitlets")
    filters_before = list(traitlets_logger.filters)

    with caplog.at_level(logging.WARNING):
        export_html(tmp_path / "image.ipynb", tmp_path / "image.html", show_code=False)

    assert "Alternative text" not in caplog.text
    assert "<img" in (tmp_path / "image.html").read_text(encoding="utf-8")
    assert traitlets_logger.filters == filters_before


def test_export_html_keeps_other_warnings(caplog):
    # The filter drops only the missing-alt-text warning while it is installed.
    traitlets_logger = logging.getLogger("traitlets")

    with caplog.at_level(logging.WARNING), missing_alt_text_filtered(traitlets_logger):
        traitlets_logger.warning("Alternative text is missing on %s image(s).", 2)
        traitlets_logger.warning("Template not found")

    assert "Alternative text" not in caplog.text
    assert "Template not found" in caplog.text


@pytest.fixture
def socket_parent(monkeypatch):
    """A short, empty folder that the runner creates its kernel socket folder in.

    pytest's tmp_path can be too long for a Unix domain socket path, so the folder is made directly in
    the system temporary folder.
    """
    with tempfile.TemporaryDirectory(prefix="wbtest-") as folder:
        monkeypatch.setattr(tempfile, "tempdir", folder)
        yield Path(folder)


@needs_ipc
def test_run_report_kernel_uses_ipc(tmp_path, socket_parent, capfd):
    notebook = _write_notebook(tmp_path / "transport.ipynb", [_code_cell(TRANSPORT_SOURCE)])

    run = run_report(notebook, output_dir=tmp_path / "out")

    printed = nbformat.read(run.notebook_path, as_version=4).cells[0].outputs[0]["text"]
    assert printed.strip() == "ipc"
    assert "without encryption" not in capfd.readouterr().err
    assert list(socket_parent.iterdir()) == []


def test_run_report_kernel_tcp_fallback(tmp_path, monkeypatch):
    # A socket path limit that no folder meets makes the runner fall back to TCP.
    monkeypatch.setattr(transport, "MAX_SOCKET_PATH_BYTES", 1)
    notebook = _write_notebook(tmp_path / "transport.ipynb", [_code_cell(TRANSPORT_SOURCE)])

    run = run_report(notebook, output_dir=tmp_path / "out")

    printed = nbformat.read(run.notebook_path, as_version=4).cells[0].outputs[0]["text"]
    assert printed.strip() == "tcp"


def test_run_report_ok_to_dict(ok_run):
    data = ok_run.to_dict()
    assert data["html_path"] == str(ok_run.html_path)
    assert data["manifest"] == ok_run.manifest


def test_run_report_no_parameters_cell(tmp_path):
    notebook = _write_notebook(tmp_path / "plain.ipynb", [_code_cell(PARAMETERS_SOURCE)])
    runs_dir = tmp_path / "runs"

    with pytest.raises(NotebookParameterError, match='no cell tagged "parameters"') as caught:
        run_report(notebook, {"alpha": "0.01"}, runs_dir=runs_dir)

    assert "Property Inspector" in str(caught.value)
    assert caught.value.unknown == ["alpha"]
    assert not runs_dir.exists()


def test_run_report_no_parameters_output_dir(tmp_path):
    notebook = _write_notebook(tmp_path / "plain.ipynb", [_code_cell(PARAMETERS_SOURCE)])
    output_dir = tmp_path / "out"

    with pytest.raises(NotebookParameterError, match='no cell tagged "parameters"'):
        run_report(notebook, {"alpha": "0.01"}, output_dir=output_dir)

    assert not output_dir.exists()


def test_run_report_unknown_parameter(tmp_path):
    notebook = _write_notebook(tmp_path / "ok.ipynb", [_code_cell(PARAMETERS_SOURCE, "parameters")])

    with pytest.raises(NotebookParameterError, match="Declared parameters: alpha, name") as caught:
        run_report(notebook, {"alpha": "0.01", "bogus": "1"}, runs_dir=tmp_path / "runs")

    assert caught.value.unknown == ["bogus"]
    assert caught.value.declared == ["alpha", "name"]
    assert not (tmp_path / "runs").exists()


def test_run_report_bad_float_value(tmp_path):
    notebook = _write_notebook(tmp_path / "ok.ipynb", [_code_cell(PARAMETERS_SOURCE, "parameters")])

    with pytest.raises(NotebookParameterError, match="'alpha' .* expects float, got 'abc'") as caught:
        run_report(notebook, {"alpha": "abc"}, runs_dir=tmp_path / "runs")

    assert caught.value.unknown == []
    assert not (tmp_path / "runs").exists()


def test_run_report_failing_cell(tmp_path):
    # The parameters cell is given values, so papermill inserts a cell before the failing one. The error
    # must still name the failing cell by its index in the input notebook.
    notebook = _write_notebook(
        tmp_path / "broken.ipynb",
        [
            _code_cell(PARAMETERS_SOURCE, "parameters"),
            _code_cell("value = 1"),
            _code_cell('message = "boom"\nraise ValueError(message)'),
            _code_cell("print('not reached')"),
        ],
    )
    output_dir = tmp_path / "out"

    with pytest.raises(NotebookExecutionError, match="boom") as caught:
        run_report(notebook, {"alpha": "0.01"}, output_dir=output_dir)

    error = caught.value
    manifest = _read_manifest(output_dir)
    assert error.cell_index == 2
    assert error.cell_source == 'message = "boom"'
    assert 'message = "boom"' in str(error)
    assert "Cell 2 " in str(error)
    assert "ValueError" in str(error)
    assert error.output_path == str(output_dir / "broken.ipynb")
    assert isinstance(error.__cause__, Exception)
    assert manifest["status"] == "failed"
    assert manifest["error"]["cell_index"] == 2
    assert manifest["error"]["exception"] == "ValueError"
    assert manifest["error"]["value"] == "boom"
    assert (output_dir / "broken.html").is_file()
    assert (output_dir / "broken.ipynb").is_file()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("alpha=2.0 is invalid; use 0.05.", "ValueError: alpha=2.0 is invalid; use 0.05. The cell"),
        ("no period", "ValueError: no period. The cell"),
        ("", "ValueError. The cell"),
    ],
)
def test_run_report_failure_message_period(tmp_path, value, expected):
    notebook = _write_notebook(tmp_path / "broken.ipynb", [_code_cell(f"raise ValueError({value!r})")])

    with pytest.raises(NotebookExecutionError) as caught:
        run_report(notebook, output_dir=tmp_path / "out")

    assert expected in str(caught.value)
    assert ".." not in str(caught.value)
    assert _read_manifest(tmp_path / "out")["error"]["value"] == value


def test_run_report_dead_kernel(tmp_path):
    notebook = _write_notebook(tmp_path / "crash.ipynb", [_code_cell("import os\nos._exit(1)")])
    output_dir = tmp_path / "out"

    with pytest.raises(ReportError, match="stopped before it finished: DeadKernelError"):
        run_report(notebook, output_dir=output_dir)

    manifest = _read_manifest(output_dir)
    assert manifest["status"] == "failed"
    assert manifest["error"]["exception"] == "DeadKernelError"
    assert manifest["error"]["cell_index"] is None


def test_run_report_no_kernelspec(tmp_path):
    notebook = _write_notebook(
        tmp_path / "bare.ipynb", [_code_cell("import sys\nprint(sys.executable)")], kernelspec=False
    )

    run = run_report(notebook, output_dir=tmp_path / "out")

    printed = nbformat.read(run.notebook_path, as_version=4).cells[0].outputs[0]["text"]
    assert run.manifest["status"] == "succeeded"
    assert run.manifest["kernel_name"] == "python3"
    assert printed.strip() == sys.executable


def test_running_headless_in_report(tmp_path):
    notebook = _write_notebook(
        tmp_path / "headless.ipynb",
        [_code_cell("from workbench.reports import running_headless\nprint(running_headless())")],
    )

    run = run_report(notebook, output_dir=tmp_path / "out")

    printed = nbformat.read(run.notebook_path, as_version=4).cells[0].outputs[0]["text"]
    assert printed.strip() == "True"


def test_running_headless_interactive(monkeypatch):
    monkeypatch.delenv(REPORT_DIR_VARIABLE, raising=False)

    assert running_headless() is False


def test_run_report_by_name(tmp_path, monkeypatch):
    notebooks_dir = tmp_path / "notebooks"
    notebooks_dir.mkdir()
    _write_notebook(notebooks_dir / "tiny.ipynb", [_code_cell(PARAMETERS_SOURCE, "parameters")])
    monkeypatch.setenv(NOTEBOOKS_DIR_VARIABLE, str(notebooks_dir))

    run = run_report("tiny", {"name": "y"}, runs_dir=tmp_path / "runs")

    assert run.manifest["report"] == "tiny"
    assert run.manifest["notebook"] == str((notebooks_dir / "tiny.ipynb").resolve())
    assert run.manifest["parameters"] == {"alpha": 0.05, "name": "y"}
    assert run.manifest["overrides"] == ["name"]


def test_run_report_masks_default_url(tmp_path):
    source = 'store_url = "mongodb://reader:s3cret@127.0.0.1:27017/workbench"\nlabel = "x"'
    notebook = _write_notebook(tmp_path / "url.ipynb", [_code_cell(source, "parameters")])

    run = run_report(notebook, {"label": "y"}, output_dir=tmp_path / "out")

    manifest_text = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert run.manifest["parameters"]["store_url"] == "mongodb://reader:***@127.0.0.1:27017/workbench"
    assert "s3cret" not in manifest_text


def test_list_reports_from_variable(tmp_path, monkeypatch):
    _write_notebook(tmp_path / "drift.ipynb", [])
    _write_notebook(tmp_path / "ab_test.ipynb", [])
    monkeypatch.setenv(NOTEBOOKS_DIR_VARIABLE, str(tmp_path))

    assert list_reports() == ["ab_test", "drift"]


def test_run_report_unknown_name(tmp_path, monkeypatch):
    _write_notebook(tmp_path / "drift.ipynb", [])
    _write_notebook(tmp_path / "ab_test.ipynb", [])
    monkeypatch.setenv(NOTEBOOKS_DIR_VARIABLE, str(tmp_path))

    with pytest.raises(NotFoundError, match="Available reports: ab_test, drift") as caught:
        run_report("monitoring", runs_dir=tmp_path / "runs")

    assert caught.value.key == "monitoring"
    assert caught.value.kind == "notebook"


def test_run_report_missing_path(tmp_path):
    with pytest.raises(NotFoundError, match="does not exist"):
        run_report(tmp_path / "missing.ipynb", runs_dir=tmp_path / "runs")


TYPED_PARAMETERS_SOURCE = (
    "count = 3\n"
    "enabled = False  # turn the check on\n"
    "threshold: float = 1\n"
    "label = None\n"
    "limit: Optional[int] = None\n"
    "columns = ['a', 'b']\n"
)


@pytest.mark.parametrize(
    ("name", "raw_value", "expected"),
    [
        ("count", "10", 10),
        ("enabled", "true", True),
        ("enabled", "No", False),
        ("threshold", "2", 2.0),
        ("label", "null", None),
        ("label", "site A", "site A"),
        ("limit", "None", None),
        ("limit", "5", 5),
        ("columns", "['c']", "['c']"),
        ("count", 7, 7),
    ],
)
def test_check_parameters_conversion(name, raw_value, expected):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell(TYPED_PARAMETERS_SOURCE, "parameters")]

    values = check_parameters(nb, {name: raw_value}, notebook=Path("typed.ipynb"), kernel_name="python3")

    assert values[name] == expected
    assert type(values[name]) is type(expected)


@pytest.mark.parametrize(("name", "raw_value"), [("count", "1.5"), ("enabled", "maybe"), ("limit", "many")])
def test_check_parameters_invalid_value(name, raw_value):
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell(TYPED_PARAMETERS_SOURCE, "parameters")]

    with pytest.raises(NotebookParameterError, match=f"'{name}' .* got '{raw_value}'"):
        check_parameters(nb, {name: raw_value}, notebook=Path("typed.ipynb"), kernel_name="python3")


def test_check_parameters_union_annotation():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell("site: str | None = None", "parameters")]

    with pytest.raises(NotebookParameterError, match="papermill cannot read that line") as caught:
        check_parameters(nb, {"site": "A"}, notebook=Path("union.ipynb"), kernel_name="python3")

    assert caught.value.unknown == ["site"]


def test_check_parameters_keeps_input():
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell(TYPED_PARAMETERS_SOURCE, "parameters")]
    parameters = {"count": "10", "enabled": "true"}
    before = copy.deepcopy(parameters)

    check_parameters(nb, parameters, notebook=Path("typed.ipynb"), kernel_name="python3")

    assert parameters == before


def test_record_report_facts_merges(tmp_path, monkeypatch):
    monkeypatch.setenv(REPORT_DIR_VARIABLE, str(tmp_path))

    record_report_facts({"rows": 10, "data_window": {"start": "2026-01-01"}})
    record_report_facts({"rows": 12})

    facts = json.loads((tmp_path / "facts.json").read_text(encoding="utf-8"))
    assert facts == {"rows": 12, "data_window": {"start": "2026-01-01"}}


def test_record_report_facts_unset_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(REPORT_DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)

    record_report_facts({"rows": 10})

    assert list(tmp_path.iterdir()) == []


def test_record_report_facts_rejects_object(tmp_path, monkeypatch):
    monkeypatch.setenv(REPORT_DIR_VARIABLE, str(tmp_path))
    record_report_facts({"rows": 10})

    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        record_report_facts({"model": object()})

    facts = json.loads((tmp_path / "facts.json").read_text(encoding="utf-8"))
    assert facts == {"rows": 10}


def test_read_defaults_unreadable_cell(monkeypatch, caplog):
    # papermill reads parameters cells only for some kernels; a run on another kernel still goes ahead.
    def reject(*args, **kwargs):
        raise ReportError("papermill cannot read the parameters cell")

    monkeypatch.setattr(runner, "declared_defaults", reject)
    nb = nbformat.v4.new_notebook()
    nb.cells = [_code_cell(PARAMETERS_SOURCE, "parameters")]

    with caplog.at_level(logging.WARNING, logger="workbench.reports.runner"):
        defaults = runner._read_defaults(nb, Path("other.ipynb"), "ir", "R")

    assert defaults == {}
    assert "records only the parameters given" in caplog.text
