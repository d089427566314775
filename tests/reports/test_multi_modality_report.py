"""Run the multi-modality report notebook on pydicom's CT_small.dcm and on a NIfTI volume, and check its HTML."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import papermill
import pydicom
import pytest
from pydicom.data import get_testdata_file

from workbench.errors import NotebookExecutionError
from workbench.reports import run_report
from workbench.reports.transport import kernel_transport_config

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "multi_modality.ipynb"
SECTIONS = ("Image and de-identified metadata", "Geometry", "Intensity statistics", "Windowed views", "Montage",
            "Report beside the image", "Findings", "Features for monitoring")
SLIDER_HEADING = "Explore slices and windows"
WIDGET_MIME_TYPE = "application/vnd.jupyter.widget-view+json"
# Header values of CT_small.dcm that identify the patient or the site; none may reach a report output.
IDENTIFYING_KEYWORDS = ("PatientName", "PatientID", "InstitutionName", "StationName", "StudyInstanceUID")


def _ct_small() -> Path:
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None, "pydicom's wheel should contain CT_small.dcm"
    return Path(path)


def _write_nifti(path: Path) -> Path:
    """Write a (6, 5, 4) int16 volume with 0.8 x 0.8 x 2 mm voxels whose value rises by 10 per voxel."""
    volume = (np.arange(6 * 5 * 4, dtype=np.int16) * 10).reshape((6, 5, 4))
    nib.save(nib.Nifti1Image(volume, np.diag([0.8, 0.8, 2.0, 1.0])), path)
    return path


def _text_of(path: Path) -> str:
    """Return a report file's text without embedded PNGs, whose base64 could contain any short string."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("multi_modality")
    with pytest.MonkeyPatch.context() as patch:
        # The kernel inherits this environment, so settings of the developer's shell must not leak in.
        for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
            patch.delenv(name)
        # Outside the source tree data_samples/images/ is missing, so the notebook falls back to
        # pydicom's bundled CT_small.dcm, and report names resolve to the notebooks folder of the package.
        patch.chdir(folder)
        yield {"folder": folder, "nifti": _write_nifti(folder / "volume.nii.gz")}


@pytest.fixture(scope="module")
def ct_report(environment):
    run = run_report("multi_modality", output_dir=environment["folder"] / "ct")
    return {"run": run, "html": run.html_path.read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def nifti_report(environment):
    parameters = {"image_path": str(environment["nifti"]), "presets": "auto", "window_level": "300",
                  "window_width": "400", "tiles": "4"}
    run = run_report(NOTEBOOK, parameters, output_dir=environment["folder"] / "nifti")
    return {"run": run, "html": run.html_path.read_text(encoding="utf-8")}


def test_ct_report_succeeds(ct_report):
    assert ct_report["run"].manifest["status"] == "succeeded"


def test_ct_report_found_by_name(ct_report):
    assert ct_report["run"].manifest["notebook"] == str(NOTEBOOK)


def test_ct_report_sections(ct_report):
    for heading in SECTIONS:
        assert f">{heading}<" in ct_report["html"], heading


def test_ct_report_draws_four_images(ct_report):
    # The histogram, the windowed views, the montage and the thumbnail beside the report.
    assert ct_report["html"].count("<img") == 4


def test_ct_report_highlights_sample_report_findings(ct_report):
    html = ct_report["html"]

    for status in ("PRESENT", "NEGATED", "UNCERTAIN"):
        assert f">{status}</span>" in html, status
    assert "<td>pleural effusion</td>" in html
    assert "agrees with the report" in html


def test_ct_report_manifest_counts_findings(ct_report):
    facts = ct_report["run"].manifest["facts"]

    assert facts["findings"] == 15
    assert facts["mismatches"] == []


def test_ct_report_uses_bundled_sample(ct_report):
    assert "the copy of <code>CT_small.dcm</code> that pydicom installs" in ct_report["html"]


def test_ct_report_lists_default_windows(ct_report):
    html = ct_report["html"]

    for name in ("lung", "mediastinum", "bone"):
        assert f"<th>{name}</th>" in html, name
    assert "<th>brain</th>" not in html


def test_ct_report_shows_features(ct_report):
    assert "<th>convolution_kernel</th>" in ct_report["html"]
    assert "<th>finding_pleural_effusion</th>" in ct_report["html"]
    assert "<th>modality_check</th>" in ct_report["html"]


def test_ct_report_leaves_out_widget(ct_report):
    assert SLIDER_HEADING not in ct_report["html"]
    assert WIDGET_MIME_TYPE not in ct_report["html"]
    assert WIDGET_MIME_TYPE not in ct_report["run"].notebook_path.read_text(encoding="utf-8")


def test_ct_report_manifest_facts(ct_report):
    facts = ct_report["run"].manifest["facts"]

    assert facts["format"] == "dicom"
    assert facts["modality"] == "CT"
    assert facts["shape"] == [128, 128]


def test_ct_report_manifest_parameters(ct_report):
    parameters = ct_report["run"].manifest["parameters"]

    assert parameters["presets"] == ""
    assert parameters["tiles"] == 16
    assert parameters["window_width"] == 0.0


def test_ct_report_leaks_no_identifier(ct_report):
    original = pydicom.dcmread(_ct_small())
    outputs = [ct_report["run"].html_path, ct_report["run"].notebook_path, ct_report["run"].manifest_path]

    for keyword in IDENTIFYING_KEYWORDS:
        value = str(original.data_element(keyword).value)
        for output in outputs:
            assert value not in _text_of(output), f"{keyword} found in {output.name}"


def test_ct_report_names_no_full_path(ct_report):
    assert str(_ct_small().parent) not in _text_of(ct_report["run"].html_path)


def test_nifti_report_succeeds(nifti_report):
    assert nifti_report["run"].manifest["status"] == "succeeded"


def test_nifti_report_sections(nifti_report):
    for heading in SECTIONS:
        assert f">{heading}<" in nifti_report["html"], heading


def test_nifti_report_draws_four_images(nifti_report):
    assert nifti_report["html"].count("<img") == 4


def test_nifti_report_windows(nifti_report):
    html = nifti_report["html"]

    assert "<th>auto</th>" in html
    assert "<th>custom</th>" in html
    assert "<th>lung</th>" not in html


def test_nifti_report_geometry(nifti_report):
    assert "<td>RAS</td>" in nifti_report["html"]


def test_nifti_report_manifest_facts(nifti_report):
    facts = nifti_report["run"].manifest["facts"]

    assert facts["format"] == "nifti"
    assert facts["modality"] is None
    assert facts["shape"] == [6, 5, 4]


def test_nifti_report_converts_parameters(nifti_report):
    parameters = nifti_report["run"].manifest["parameters"]

    assert parameters["window_level"] == 300.0
    assert parameters["window_width"] == 400.0
    assert parameters["tiles"] == 4


def test_nifti_report_leaves_out_widget(nifti_report):
    assert SLIDER_HEADING not in nifti_report["html"]


def test_unknown_preset_fails_run(environment):
    output_dir = environment["folder"] / "unknown-preset"

    with pytest.raises(NotebookExecutionError, match="unknown window preset 'liver' in 'lung,liver'; use a "
                                                     "comma-separated list of lung, mediastinum, bone, brain, auto"):
        run_report(NOTEBOOK, {"presets": "lung,liver"}, output_dir=output_dir)

    manifest = json.loads((output_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "failed"
    assert manifest["error"]["exception"] == "ValidationError"


def test_ct_preset_on_nifti_fails_run(environment):
    parameters = {"image_path": str(environment["nifti"]), "presets": "lung"}

    with pytest.raises(NotebookExecutionError, match=re.escape("window preset 'lung' is for CT values in Hounsfield "
                                                               "units (HU), but volume.nii.gz has units not declared")):
        run_report(NOTEBOOK, parameters, output_dir=environment["folder"] / "ct-preset-on-nifti")


def test_nifti_default_windows_auto(environment):
    run = run_report(NOTEBOOK, {"image_path": str(environment["nifti"])},
                     output_dir=environment["folder"] / "nifti-default")

    # The CT presets would reject this image, which is not in HU, so the run succeeding shows that the
    # default chose the auto window.
    html = run.html_path.read_text(encoding="utf-8")
    assert "auto" in html


def test_slider_shown_when_interactive(environment):
    # Run with papermill directly, outside run_report, as a notebook runs in JupyterLab: the slider
    # cell then displays the widget.
    output = environment["folder"] / "interactive.ipynb"
    with kernel_transport_config() as transport:
        papermill.execute_notebook(str(NOTEBOOK), str(output), parameters={"image_path": str(_ct_small())},
                                   kernel_name="python3", language="python", progress_bar=False, **transport)

    executed = output.read_text(encoding="utf-8")
    assert SLIDER_HEADING in executed
    assert WIDGET_MIME_TYPE in executed


def test_ct_report_loads_nothing_from_the_web(ct_report):
    # A shared report is opened anywhere; the page must not fetch scripts from a CDN.
    html = ct_report["html"]

    assert "cdnjs" not in html
    assert re.search(r"<script[^>]+src=", html) is None
