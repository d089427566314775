"""An image with its report: header-against-report checks, identifier masking, features and the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from scipy.stats import chi2_contingency

from workbench.cli import main
from workbench.errors import ValidationError
from workbench.modality.deid import SALT_VARIABLE
from workbench.modality.record import ImageRecord
from workbench.modality.report import process_report
from workbench.modality.report_features import (
    finding_prevalence,
    report_feature_types,
    report_features,
    report_features_frame,
)
from workbench.modality.study import process_study, study_features
from workbench.monitoring import compute_baseline, detect_drift

# Invented identifiers for a test header. They are not a person's.
FAKE_NAME = "ZZTEST^QUOKKA"
FAKE_ID = "ZZ-000123"
FAKE_ACCESSION = "ACC987654"


@pytest.fixture(autouse=True)
def fixed_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SALT_VARIABLE, "study test salt, not a secret")


def image(modality: str | None = "CT", **metadata: str) -> ImageRecord:
    return ImageRecord(pixels=np.zeros((4, 4), dtype=np.int16), format="dicom", modality=modality,
                       metadata=metadata)


def checks(study) -> dict[str, str]:
    return {check.name: check.result for check in study.checks}


def dicom_file(tmp_path: Path, **elements: str) -> Path:
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.PatientName = FAKE_NAME
    ds.PatientID = FAKE_ID
    ds.AccessionNumber = FAKE_ACCESSION
    ds.PatientBirthDate = "19700214"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    path = tmp_path / "study.dcm"
    ds.save_as(path)
    return path


# Checks -------------------------------------------------------------------------------------------


def test_matching_header_and_report() -> None:
    study = process_study(image("CT", BodyPartExamined="CHEST"),
                          "CT CHEST WITH CONTRAST\nFindings: Small left pleural effusion. No pneumothorax.")

    assert checks(study) == {"modality": "match", "body_part": "match", "laterality": "not_checked"}
    assert study.mismatches == ()
    modality = study.checks[0]
    assert modality.header == "CT"
    assert modality.report == ("CT",)


def test_study_radiograph_report_on_head_ct() -> None:
    study = process_study(image("CT", BodyPartExamined="HEAD"),
                          "Chest radiograph, PA and lateral.\nFindings: No focal consolidation.")

    assert checks(study)["modality"] == "mismatch"
    assert checks(study)["body_part"] == "mismatch"
    assert [check.name for check in study.mismatches] == ["modality", "body_part"]
    message = study.checks[0].message
    assert "CT" in message
    assert "radiography" in message


@pytest.mark.parametrize("code", ["CR", "DX"])
def test_radiography_codes_agree_with_a_chest_radiograph(code: str) -> None:
    study = process_study(image(code, BodyPartExamined="CHEST"), "PORTABLE CHEST X-RAY\nNo pneumothorax.")

    assert checks(study)["modality"] == "match"
    assert checks(study)["body_part"] == "match"


def test_neighbouring_regions_do_not_mismatch() -> None:
    # An abdominal CT that mentions the lung bases names the chest too, and still shares the abdomen.
    report = ("CT ABDOMEN AND PELVIS\nFindings: The lung bases are clear. Small hiatal hernia. "
              "No hydronephrosis.")
    study = process_study(image("CT", BodyPartExamined="ABDOMEN"), report)

    assert checks(study)["body_part"] == "match"
    assert study.checks[1].report == ("abdomen", "pelvis")


def test_body_part_without_title_region() -> None:
    report = "Findings: The lung bases are clear. Small hiatal hernia. No hydronephrosis."
    study = process_study(image("CT", BodyPartExamined="ABDOMEN"), report)

    assert checks(study)["body_part"] == "match"
    assert {"abdomen", "chest"} <= set(study.checks[1].report)


def test_title_region_decides_over_an_upper_abdomen_paragraph() -> None:
    report = "CT CHEST\nFindings: Small left pleural effusion.\nUpper abdomen: Small hiatal hernia."
    study = process_study(image("CT", BodyPartExamined="ABDOMEN"), report)

    assert checks(study)["body_part"] == "mismatch"
    assert study.checks[1].report == ("chest",)


def test_study_report_path_as_string(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_text("CT chest. No pneumothorax.", encoding="utf-8")

    study = process_study(image("CT"), str(path))

    assert [f.name for f in study.report.findings] == ["pneumothorax"]


def test_findings_alone_name_the_region() -> None:
    # No region word: the findings pneumothorax and pleural effusion belong to the chest.
    study = process_study(image("CT", BodyPartExamined="KNEE"), "Findings: Pneumothorax. Pleural effusion.")

    assert checks(study)["body_part"] == "mismatch"
    assert study.checks[1].report == ("chest",)


def test_whole_body_and_unknown_codes() -> None:
    assert checks(process_study(image("PT", BodyPartExamined="WHOLE BODY"), "PET/CT. Mass in the liver."))[
        "body_part"] == "match"
    unknown = process_study(image("CT", BodyPartExamined="ZZZ"), "CT chest.")
    assert checks(unknown)["body_part"] == "not_checked"
    assert "'ZZZ'" in unknown.checks[1].message


def test_recommendations_and_comparisons_are_not_the_examination() -> None:
    report = ("CHEST RADIOGRAPH\nComparison: CT abdomen.\nFindings: Nodule in the right upper lobe.\n"
              "Impression: Nodule. CT is recommended for further evaluation.")
    study = process_study(image("CR", BodyPartExamined="CHEST"), report)

    assert checks(study)["modality"] == "match"
    assert study.checks[0].report == ("radiography",)


def test_modality_from_first_sentence_only() -> None:
    report = "Chest radiograph. No pneumothorax. MRI of the knee would help."
    study = process_study(image("CR"), report)

    assert checks(study)["modality"] == "match"
    assert study.checks[0].report == ("radiography",)


def test_modality_pronoun_us_is_not_ultrasound() -> None:
    study = process_study(image("CT"), "Clinical history: referred to us for cough.\nTechnique: CT of the chest.")

    assert study.checks[0].report == ("CT",)


@pytest.mark.parametrize(("header", "report", "expected"), [
    ("L", "Findings: Small right pleural effusion.", "mismatch"),
    ("L", "Findings: Small left pleural effusion.", "match"),
    ("R", "Findings: Bilateral pleural effusions.", "match"),
    # A negated finding on the other side does not name a side of this study.
    ("L", "Findings: No right pleural effusion.", "not_checked"),
    ("B", "Findings: Small right pleural effusion.", "not_checked"),
    # A historical finding on the other side does not show the side of this image.
    ("L", "Findings: History of right rib fracture.", "not_checked"),
])
def test_laterality(header: str, report: str, expected: str) -> None:
    study = process_study(image("MG", BodyPartExamined="CHEST", ImageLaterality=header), report)

    assert checks(study)["laterality"] == expected


def test_side_in_the_title_counts() -> None:
    study = process_study(image("CR", Laterality="R", BodyPartExamined="KNEE"), "LEFT KNEE RADIOGRAPH\nNo fracture.")

    assert checks(study)["laterality"] == "mismatch"
    assert checks(study)["body_part"] == "match"


def test_missing_header_values_are_not_checked() -> None:
    study = process_study(image(None), "CT chest. Small left pleural effusion.")

    assert set(checks(study).values()) == {"not_checked"}
    assert all(check.message.startswith("Not checked:") for check in study.checks)


# Inputs -------------------------------------------------------------------------------------------


def test_study_report_input_forms(tmp_path: Path) -> None:
    text = "CT chest. No pneumothorax, but there is a small left pleural effusion."
    path = tmp_path / "report.txt"
    path.write_text(text, encoding="utf-8")
    record = process_report(text)

    for report in (text, text.encode(), path, record):
        study = process_study(image("CT"), report)
        assert study.report.findings == record.findings


def test_bad_report_type_names_the_type() -> None:
    with pytest.raises(ValidationError, match="got int"):
        process_study(image("CT"), 42)  # type: ignore[arg-type]


def test_unreadable_report_file_names_the_base_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="missing-report.txt"):
        process_study(image("CT"), tmp_path / "missing-report.txt")


def test_invalid_utf8_report_is_rejected_or_replaced() -> None:
    data = b"CT chest. No pneumothorax \xff."
    with pytest.raises(ValidationError, match="position 26"):
        process_study(image("CT"), data)
    study = process_study(image("CT"), data, errors="replace")
    assert study.report.findings[0].status == "negated"


# Identifiers --------------------------------------------------------------------------------------


def test_header_identifiers_are_masked_in_the_report(tmp_path: Path) -> None:
    path = dicom_file(tmp_path, BodyPartExamined="CHEST")
    report = (f"Patient: Quokka ZZTEST (MRN {FAKE_ID}), accession {FAKE_ACCESSION}, born 14/02/1970.\n"
              "CT CHEST\nFindings: Small left pleural effusion.")
    study = process_study(path, report)

    assert study.identifiers_replaced == 5
    dumped = json.dumps(study.to_dict())
    for secret in ("Quokka", "ZZTEST", FAKE_ID, FAKE_ACCESSION, "14/02/1970"):
        assert secret.lower() not in dumped.lower()
    # Masks keep the length, so offsets still point into the text as given.
    finding = study.report.findings[0]
    assert report[finding.start:finding.end] == "pleural effusion"
    assert checks(study) == {"modality": "match", "body_part": "match", "laterality": "not_checked"}


def test_masking_dicom_bytes(tmp_path: Path) -> None:
    path = dicom_file(tmp_path)
    study = process_study(path.read_bytes(), b"Quokka. CT. No pneumothorax.")

    assert study.identifiers_replaced == 1
    assert study.report.sentences[0].text == "XXXXXX."
    assert study.report.findings[0].name == "pneumothorax"


def test_masking_needs_dicom_header() -> None:
    study = process_study(image("CT"), "CT chest.")

    assert study.identifiers_replaced is None
    assert "not searched" in study.notes[0]


# Features -----------------------------------------------------------------------------------------


def test_report_features_follow_the_chexpert_precedence() -> None:
    record = process_report("Possible right lower lobe pneumonia. No pneumonia on the left. "
                            "No pneumothorax. Small left pleural effusion. No pleural effusion on the right.")
    row = report_features(record, findings=["pneumonia", "pneumothorax", "pleural effusion", "nodule"])

    assert row == {"finding_pneumonia": "uncertain", "finding_pneumothorax": "negated",
                   "finding_pleural_effusion": "present", "finding_nodule": "not_mentioned"}


def test_report_features_default_to_every_vocabulary_finding() -> None:
    row = report_features(process_report("No pneumothorax."))

    assert row["finding_pneumothorax"] == "negated"
    assert row["finding_wall_thickening"] == "not_mentioned"
    assert len(row) > 30


def test_report_features_reject_a_single_string() -> None:
    with pytest.raises(ValidationError, match=r"findings=\['nodule'\]"):
        report_features(process_report("Nodule."), findings="nodule")


def test_study_features_join_image_report_and_checks() -> None:
    study = process_study(image("CT", BodyPartExamined="HEAD"), "CT chest. Small pleural effusion.")
    row = study_features(study, findings=["pleural effusion"])

    assert row["modality"] == "CT"
    assert row["body_part_examined"] == "HEAD"
    assert row["finding_pleural_effusion"] == "present"
    assert row["body_part_check"] == "mismatch"
    assert row["modality_check"] == "match"


def _reports(effusions: int, total: int) -> list[str]:
    return ["Small left pleural effusion. No pneumothorax." if index < effusions else "No pneumothorax."
            for index in range(total)]


def test_report_features_prevalence_drift() -> None:
    names = ["pleural effusion", "pneumothorax"]
    reference = report_features_frame((process_report(text) for text in _reports(40, 400)), findings=names)
    current = report_features_frame((process_report(text) for text in _reports(120, 400)), findings=names)

    baseline = compute_baseline(reference, feature_types=report_feature_types(reference.columns))
    report = detect_drift(baseline, current, correction="none")

    assert report.drifted_features == ["finding_pleural_effusion"]
    effusion = report["finding_pleural_effusion"]
    # Reference value: scipy.stats.chi2_contingency on the same 2 x 2 table, without Yates' correction.
    expected = chi2_contingency(np.array([[40, 360], [120, 280]]), correction=False)
    assert effusion.test == "chi2"
    assert effusion.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert effusion.pvalue == pytest.approx(expected.pvalue, rel=1e-9)
    assert report["finding_pneumothorax"].status == "no_drift"


def test_finding_prevalence_per_week() -> None:
    frame = report_features_frame((process_report(text) for text in
                                   ["Pleural effusion.", "No pleural effusion.", "Pleural effusion.", "Nodule."]),
                                  findings=["pleural effusion", "nodule"])
    times = ["2026-11-02T08:00", "2026-11-03T09:00", "2026-11-10T10:00", "2026-11-11T10:00"]
    prevalence = finding_prevalence(frame, times, freq="7D")

    assert list(prevalence["reports"]) == [2, 2]
    assert list(prevalence["pleural effusion"]) == [0.5, 0.5]
    assert list(prevalence["nodule"]) == [0.0, 0.5]


def test_finding_prevalence_checks_lengths_and_status() -> None:
    frame = report_features_frame([process_report("Nodule.")], findings=["nodule"])
    with pytest.raises(ValidationError, match="2 timestamps for 1 reports"):
        finding_prevalence(frame, ["2026-11-02", "2026-11-03"])
    with pytest.raises(ValidationError, match="'positive'"):
        finding_prevalence(frame, ["2026-11-02"], status="positive")
    with pytest.raises(ValidationError, match="freq='weekly'"):
        finding_prevalence(frame, ["2026-11-02"], freq="weekly")


# Command ------------------------------------------------------------------------------------------


def test_study_command_text_json_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = dicom_file(tmp_path, BodyPartExamined="HEAD")
    report = tmp_path / "report.txt"
    report.write_text(f"{FAKE_NAME.split('^')[1]}\nCT CHEST\nFindings: Small left pleural effusion.\n",
                      encoding="utf-8")

    assert main(["modality", "study", str(path), str(report)]) == 0
    out = capsys.readouterr().out
    assert "body_part: The header's BodyPartExamined is HEAD" in out
    assert "mismatches: body_part" in out
    assert "pleural effusion: present" in out

    assert main(["modality", "study", str(path), str(report), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mismatches"] == ["body_part"]
    assert data["identifiers_replaced"] == 1
    assert data["features"]["finding_pleural_effusion"] == "present"
    assert "QUOKKA" not in json.dumps(data).upper()

    assert main(["modality", "study", str(path), str(report), "--fail-on-mismatch"]) == 3
    assert "mismatch: body_part" in capsys.readouterr().err


# Views --------------------------------------------------------------------------------------------


def test_report_html_marks_and_escapes() -> None:
    from workbench.modality.report_view import STATUS_COLORS, report_html

    html_text = report_html(process_report("No pneumothorax <b>. Possible pneumonia. Small effusion & scarring."))

    assert "&lt;b&gt;" in html_text
    assert "<b>" not in html_text
    assert html_text.count('<mark class="entity"') == 3
    for status in ("NEGATED", "UNCERTAIN", "PRESENT"):
        assert STATUS_COLORS[status] in html_text


def test_study_html_shows_image_report_and_checks() -> None:
    from workbench.modality.report_view import study_html

    pixels = np.arange(64, dtype=np.int16).reshape(8, 8)
    study = process_study(ImageRecord(pixels=pixels, format="dicom", modality="MR"), "CT chest. No pneumothorax.")
    html_text = study_html(study)

    assert html_text.count("<img") == 1
    assert "mismatch</span> <b>modality</b>" in html_text
    assert "NEGATED" in html_text


# Folders of reports -------------------------------------------------------------------------------


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "reports"
    (folder / "week2").mkdir(parents=True)
    (folder / "a.txt").write_text("No pneumothorax. Small left pleural effusion.", encoding="utf-8")
    (folder / "week2" / "b.txt").write_text("Mild cardiomegaly but no pulmonary edema.", encoding="utf-8")
    (folder / "bad.txt").write_bytes(b"No pneumothorax \xff.")
    (folder / "notes.md").write_text("Pleural effusion.", encoding="utf-8")
    return folder


def test_report_folder_reads_matching_files_and_lists_failures(report_dir: Path) -> None:
    from workbench.modality.report_features import report_folder

    result = report_folder(report_dir, findings=["pneumothorax", "pleural effusion"], progress=False)

    assert list(result.features["path"]) == ["a.txt", "week2/b.txt"]
    assert list(result.features["finding_pneumothorax"]) == ["negated", "not_mentioned"]
    assert [path for path, _ in result.failures] == ["bad.txt"]
    assert "position 16" in result.failures[0][1]
    assert result.prevalence() == {"pneumothorax": 0.0, "pleural effusion": 0.5}


def test_report_folder_replaces_invalid_bytes_on_request(report_dir: Path) -> None:
    from workbench.modality.report_features import report_folder

    result = report_folder(report_dir, findings=["pneumothorax"], errors="replace", progress=False)

    assert result.failures == ()
    assert list(result.features["path"]) == ["a.txt", "bad.txt", "week2/b.txt"]


def test_report_folder_rejects_a_file_path(report_dir: Path) -> None:
    from workbench.modality.report_features import report_folder

    with pytest.raises(ValidationError, match="a.txt: not a folder"):
        report_folder(report_dir / "a.txt")


def test_reports_command_summary_json_and_table(report_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modality", "reports", str(report_dir)]) == 0
    out = capsys.readouterr().out
    assert "reports read: 2, failed: 1" in out
    assert "pleural effusion: 50.0%" in out
    assert "--replace-invalid" in out

    assert main(["modality", "reports", str(report_dir), "--findings", "pleural effusion", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prevalence"] == {"pleural effusion": 0.5}
    assert data["features"][0] == {"path": "a.txt", "finding_pleural_effusion": "present"}

    table = tmp_path / "findings.csv"
    assert main(["modality", "reports", str(report_dir), "--pattern", "*.md", "--output", str(table)]) == 0
    assert table.read_text(encoding="utf-8").splitlines()[1].startswith("notes.md,")


def test_plot_finding_prevalence_draws_one_line_per_finding() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.modality.report_features import plot_finding_prevalence

    frame = report_features_frame((process_report(text) for text in
                                   ["Pleural effusion.", "No pleural effusion.", "Nodule.", "Nodule."]),
                                  findings=["pleural effusion", "nodule"])
    prevalence = finding_prevalence(frame, ["2026-11-02", "2026-11-03", "2026-11-10", "2026-11-11"])
    figure = plot_finding_prevalence(prevalence)

    assert len(figure.axes[0].get_lines()) == 2
    with pytest.raises(ValidationError, match="'cyst'"):
        plot_finding_prevalence(prevalence, findings=["cyst"])
    plt.close("all")


def test_misspelt_finding_name_is_rejected_with_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"'pleural efusion' \(did you mean 'pleural effusion'\?\)"):
        report_features(process_report("No effusion."), findings=["pleural efusion"])


def test_study_missing_report_path_note() -> None:
    study = process_study(image("CT"), "reports/missing-0012.txt")

    assert study.report.findings == ()
    assert any("looks like a file name" in note for note in study.notes)


def test_report_folder_names_a_missing_folder(tmp_path: Path) -> None:
    from workbench.modality.report_features import report_folder

    with pytest.raises(ValidationError, match="nothere: no such folder"):
        report_folder(tmp_path / "nothere")


def test_report_features_with_user_vocabulary(tmp_path: Path) -> None:
    vocabulary = tmp_path / "extra.json"
    vocabulary.write_text(json.dumps({"findings": {"granuloma": ["granuloma", "granulomas"]}}), encoding="utf-8")
    records = [process_report("Calcified granuloma.", vocabulary=vocabulary), process_report("No nodule.")]

    frame = report_features_frame(records, findings=["granuloma", "nodule"], vocabulary=vocabulary)

    assert list(frame["finding_granuloma"]) == ["present", "not_mentioned"]
    assert list(frame["finding_nodule"]) == ["not_mentioned", "negated"]
