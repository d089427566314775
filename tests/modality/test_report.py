"""Radiology report processing: sections, ConText status, anatomy, laterality and measurements.

Expected values are read off the report sentences by hand: each sentence states its findings, and sizes in
centimetres are multiplied by 10.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.errors import ValidationError
from workbench.modality.report import Finding, ReportRecord, process_report
from workbench.modality.report_measurements import BELOW_10_MM, find_measurements
from workbench.modality.report_pipeline import build_pipeline
from workbench.modality.report_vocabulary import VOCABULARY_VARIABLE


@pytest.fixture(autouse=True)
def default_vocabulary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VOCABULARY_VARIABLE, raising=False)


def by_name(record: ReportRecord) -> dict[str, Finding]:
    return {finding.name: finding for finding in record.findings}


# Cases every release must get right.

def test_clear_lungs_negate_all_three() -> None:
    record = process_report("The lungs are clear without evidence of focal consolidation. "
                            "There is no evidence of pneumothorax or large pleural effusion.")
    findings = by_name(record)
    assert findings["consolidation"].status == "negated"
    assert findings["pneumothorax"].status == "negated"
    assert findings["pleural effusion"].status == "negated"


def test_but_ends_negation_scope() -> None:
    findings = by_name(process_report("No pneumothorax, but there is a small left pleural effusion."))
    assert findings["pneumothorax"].status == "negated"
    assert findings["pleural effusion"].status == "present"
    assert findings["pleural effusion"].laterality == "left"
    assert findings["pleural effusion"].size_qualifier == "small"


def test_negated_finding_gets_no_laterality_across_but() -> None:
    findings = by_name(process_report("No pneumothorax, but there is a small left pleural effusion."))
    assert findings["pneumothorax"].laterality is None


def test_cardiomegaly_present_edema_negated() -> None:
    findings = by_name(process_report("Mild cardiomegaly but no pulmonary edema."))
    assert findings["cardiomegaly"].status == "present"
    assert findings["cardiomegaly"].size_qualifier == "mild"
    assert findings["pulmonary edema"].status == "negated"


def test_glued_list_number_negation() -> None:
    record = process_report("1.No evidence of pneumonia.")
    assert [(f.name, f.status) for f in record.findings] == [("pneumonia", "negated")]


def test_three_dimensions_in_right_upper_lobe() -> None:
    nodule = by_name(process_report("Right upper lobe nodule measuring 1.2 x 0.9 x 1.1cm."))["nodule"]
    assert [m.dimensions_mm for m in nodule.measurements] == [(12, 9, 11)]
    assert nodule.anatomy is not None
    assert nodule.anatomy.organ == "lung"
    assert nodule.anatomy.lobe == "right upper lobe"
    assert nodule.laterality == "right"


def test_glued_millimetres_in_left_lower_lobe() -> None:
    nodule = by_name(process_report("A 5mm nodule in the left lower lobe."))["nodule"]
    assert [m.dimensions_mm for m in nodule.measurements] == [(5,)]
    assert nodule.anatomy is not None
    assert nodule.anatomy.lobe == "left lower lobe"
    assert nodule.laterality == "left"


def test_prior_size_kept_separately() -> None:
    mass = by_name(process_report("Mass measures 3.2 x 1.5 cm (previously 2.8 x 1.4 cm)."))["mass"]
    assert [m.dimensions_mm for m in mass.measurements] == [(32, 15)]
    assert [m.dimensions_mm for m in mass.prior_measurements] == [(28, 14)]
    assert mass.prior_measurements[0].prior is True


def test_two_dimensions_in_millimetres() -> None:
    lesion = by_name(process_report("Lesion measures 12 x 8 mm."))["lesion"]
    assert [m.dimensions_mm for m in lesion.measurements] == [(12, 8)]


def test_subcentimeter_is_qualitative() -> None:
    nodes = by_name(process_report("Several sub-centimeter lymph nodes."))["lymph node"]
    assert len(nodes.measurements) == 1
    assert nodes.measurements[0].qualitative == BELOW_10_MM
    assert nodes.measurements[0].dimensions_mm == ()


def test_oesophageal_mass_and_wall_thickening() -> None:
    record = process_report("Findings: Mass in esophagus with wall thickening.")
    findings = by_name(record)
    assert findings["mass"].status == "present"
    assert findings["mass"].anatomy is not None
    assert findings["mass"].anatomy.organ == "oesophagus"
    assert findings["wall thickening"].status == "present"
    assert findings["mass"].section == "findings"


# ConText details.

def test_coordinated_list_all_negated() -> None:
    record = process_report("No focal consolidation, pleural effusion or pneumothorax.")
    assert [f.status for f in record.findings] == ["negated", "negated", "negated"]


@pytest.mark.parametrize(("sentence", "status"), [
    ("Possible right lower lobe pneumonia.", "uncertain"),
    ("Findings may represent atelectasis.", "uncertain"),
    ("Pneumonia cannot be excluded.", "uncertain"),
    ("Pneumothorax is not seen.", "negated"),
    ("Right lower lobe consolidation.", "present"),
    ("Blunting of the costophrenic angle may reflect a small effusion.", "uncertain"),
    ("Indication: evaluate for pneumonia.", "uncertain"),
    ("The rib fracture has healed.", "negated"),
    ("Bowel wall thickening has not resolved.", "present"),
])
def test_status_of_single_finding(sentence: str, status: str) -> None:
    record = process_report(sentence)
    assert len(record.findings) == 1
    assert record.findings[0].status == status


@pytest.mark.parametrize(("text", "expected"), [
    ("No pleural or pericardial effusion.", [("pleural effusion", "negated", "pleural"),
                                             ("pericardial effusion", "negated", "pericardial effusion")]),
    ("Small pleural and pericardial effusions.", [("pleural effusion", "present", "pleural"),
                                                  ("pericardial effusion", "present", "pericardial effusions")]),
    # "lung effusion" is no finding, so "lung" stays a modifier of nothing.
    ("No lung or pericardial effusion.", [("pericardial effusion", "negated", "pericardial effusion")]),
])
def test_head_noun_written_once(text: str, expected: list[tuple[str, str, str]]) -> None:
    record = process_report(text)
    assert [(f.name, f.status, f.text) for f in record.findings] == expected


@pytest.mark.parametrize(("sentence", "status"), [
    ("The nodule is likely benign.", "present"),
    ("Adrenal nodule, likely an adenoma.", "present"),
    ("Pneumonia is likely.", "uncertain"),
    ("Opacity, likely a pneumonia.", "uncertain"),
])
def test_likely_governs_what_follows(sentence: str, status: str) -> None:
    finding = next(f for f in process_report(sentence).findings if f.name in ("nodule", "pneumonia"))
    assert finding.status == status


def test_comparison_with_prior_study_is_not_history() -> None:
    mass = process_report("Compared to prior, the mass is larger.").findings[0]
    assert (mass.status, mass.historical) == ("present", False)
    fracture = process_report("Prior rib fracture.").findings[0]
    assert fracture.historical


def test_pericardial_effusion_is_not_pleural() -> None:
    record = process_report("Cardiomegaly with no pericardial effusion.")
    assert [(f.name, f.status) for f in record.findings] == [("cardiomegaly", "present"),
                                                             ("pericardial effusion", "negated")]


def test_pseudo_negation_no_change() -> None:
    nodule = process_report("No change in the right upper lobe nodule.").findings[0]
    assert nodule.status == "present"
    assert nodule.unchanged is True


def test_not_only_is_not_negation() -> None:
    record = process_report("There is not only a mass but also a fracture.")
    assert [f.status for f in record.findings] == ["present", "present"]


def test_history_of_sets_historical() -> None:
    fracture = process_report("History of rib fracture.").findings[0]
    assert fracture.historical is True
    assert fracture.status == "present"
    assert fracture.anatomy is not None
    assert fracture.anatomy.organ == "rib"


def test_stable_nodule_is_unchanged() -> None:
    nodule = process_report("Stable 4 mm nodule in the lingula.").findings[0]
    assert nodule.unchanged is True
    assert nodule.laterality == "left"


def test_nearer_cue_decides_status() -> None:
    findings = by_name(process_report("No evidence of pneumonia, possibly atelectasis."))
    assert findings["pneumonia"].status == "negated"
    assert findings["atelectasis"].status == "uncertain"


def test_bilateral_effusions() -> None:
    effusion = process_report("Moderate bilateral pleural effusions.").findings[0]
    assert effusion.laterality == "bilateral"
    assert effusion.size_qualifier == "moderate"


def test_finding_offsets_point_into_text() -> None:
    text = "IMPRESSION:\n1. Small hiatal hernia.\n2. No stricture."
    record = process_report(text)
    for finding in record.findings:
        assert text[finding.start:finding.end] == finding.text


# Sections and sentences.

def test_sections_with_usual_headers() -> None:
    text = ("CLINICAL HISTORY: Cough.\nTechnique: PA and lateral views.\nComparison: None.\n"
            "FINDINGS\nNo pneumothorax.\nImpression:\n1.No evidence of pneumonia.\n2.Mild cardiomegaly.")
    record = process_report(text)
    assert [s.name for s in record.sections] == ["indication", "technique", "comparison", "findings",
                                                 "impression"]
    assert record.sections[3].text == "No pneumothorax."


def test_numbered_impressions_split_into_sentences() -> None:
    text = "IMPRESSION\n1.No evidence of pneumonia.\n2.Mild cardiomegaly."
    record = process_report(text)
    impression = [s.text for s in record.sentences if s.section == "impression"]
    assert impression == ["1.No evidence of pneumonia.", "2.Mild cardiomegaly."]
    assert [(f.name, f.status, f.section) for f in record.findings] == [
        ("pneumonia", "negated", "impression"), ("cardiomegaly", "present", "impression")]


def test_capital_header_without_colon_on_same_line() -> None:
    record = process_report("IMPRESSION No acute fracture.")
    assert [s.name for s in record.sections] == ["impression"]
    assert record.findings[0].status == "negated"


def test_header_word_inside_sentence_is_not_header() -> None:
    record = process_report("Findings are consistent with a history of fracture.")
    assert record.sections == ()


def test_abbreviation_does_not_end_sentence() -> None:
    record = process_report("Nodule measures approx. 5 mm in the right upper lobe.")
    assert len(record.sentences) == 1
    assert record.findings[0].measurements[0].dimensions_mm == (5,)


def test_sentence_ending_in_capitalised_mass() -> None:
    record = process_report("Findings: Mass. No effusion.")
    statuses = [(f.name, f.status) for f in record.findings]
    assert statuses == [("mass", "present"), ("pleural effusion", "negated")]


def test_spacy_call_sets_finding_spans() -> None:
    doc = build_pipeline()("No pneumothorax. Small left pleural effusion.")
    assert [(span.text, span.label_) for span in doc.spans["report_findings"]] == [
        ("pneumothorax", "pneumothorax"), ("pleural effusion", "pleural effusion")]
    assert [result["status"] for result in doc.user_data["report_results"]] == ["negated", "present"]


# Text input.

def test_invalid_utf8_names_position() -> None:
    with pytest.raises(ValidationError, match=r"position 3 .*errors='replace'") as caught:
        process_report(b"No \xff pneumothorax.")
    assert caught.value.value == 3


def test_invalid_utf8_replaced_on_request() -> None:
    record = process_report(b"No \xff pneumothorax.", errors="replace")
    assert record.findings[0].status == "negated"
    assert any("U+FFFD" in note for note in record.notes)


def test_unknown_errors_mode_rejected() -> None:
    with pytest.raises(ValidationError, match="errors='ignore'"):
        process_report("No effusion.", errors="ignore")


def test_non_text_input_rejected() -> None:
    with pytest.raises(ValidationError, match="str, bytes or pathlib.Path, got int"):
        process_report(12)  # type: ignore[arg-type]


def test_persian_text_mixed_in() -> None:
    text = "یافته‌ها: بدون پنوموتوراکس. No pneumothorax. ریه‌ها سالم هستند. Small left pleural effusion."
    record = process_report(text.encode("utf-8"))
    assert [(f.name, f.status) for f in record.findings] == [("pneumothorax", "negated"),
                                                             ("pleural effusion", "present")]
    assert text[record.findings[1].start:record.findings[1].end] == "pleural effusion"


@pytest.mark.parametrize("text", ["", "   \n\t ", b"", b" \r\n"])
def test_empty_report_gives_empty_record(text: str | bytes) -> None:
    record = process_report(text)
    assert record.findings == ()
    assert record.sections == ()
    assert len(record.notes) == 1


def test_to_dict_is_json_ready() -> None:
    record = process_report("Mass measures 3.2 x 1.5 cm (previously 2.8 x 1.4 cm) in the liver.")
    data = json.loads(json.dumps(record.to_dict()))
    assert data["findings"][0]["measurements"][0]["dimensions_mm"] == [32, 15]
    assert data["findings"][0]["anatomy"]["organ"] == "liver"


# Vocabulary extended by a user file.

def user_vocabulary(tmp_path: Path) -> Path:
    path = tmp_path / "extra.json"
    path.write_text(json.dumps({
        "findings": {"bronchiectasis": ["bronchiectasis", "bronchiectatic change"],
                     "pleural effusion": ["pleural collection"]},
        "cues": {"negated": {"forward": ["no radiographic evidence of"]}},
    }), encoding="utf-8")
    return path


def test_user_vocabulary_adds_finding(tmp_path: Path) -> None:
    vocabulary = user_vocabulary(tmp_path)
    record = process_report("No radiographic evidence of bronchiectasis.", vocabulary=vocabulary)
    assert [(f.name, f.status) for f in record.findings] == [("bronchiectasis", "negated")]


def test_user_vocabulary_adds_synonym(tmp_path: Path) -> None:
    record = process_report("Small pleural collection.", vocabulary=user_vocabulary(tmp_path))
    assert [f.name for f in record.findings] == ["pleural effusion"]


def test_user_vocabulary_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VOCABULARY_VARIABLE, str(user_vocabulary(tmp_path)))
    assert [f.name for f in process_report("Mild bronchiectasis.").findings] == ["bronchiectasis"]


def test_default_vocabulary_lacks_user_finding() -> None:
    assert process_report("Mild bronchiectasis.").findings == ()


def test_user_vocabulary_unknown_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"finding": {}}), encoding="utf-8")
    with pytest.raises(ValidationError, match="unknown keys"):
        process_report("No effusion.", vocabulary=path)


# Measurement parsing.

@pytest.mark.parametrize(("text", "expected"), [
    ("5mm", (5,)),
    ("5 mm", (5,)),
    ("1.2 cm", (12,)),
    ("1.2cm", (12,)),
    (".5 cm", (5,)),
    ("3.2×1.5cm", (32, 15)),
    ("12x8 mm", (12, 8)),
    ("2 cm x 3 mm", (20, 3)),
    ("4 by 3 cm", (40, 30)),
    ("6 millimeters", (6,)),
    ("2 centimetres", (20,)),
    # A decimal comma, as written in many European and Persian reports.
    ("1,2 cm", (12,)),
    ("1,5 x 0,8 cm", (15, 8)),
    ("1,25cm", (12.5,)),
])
def test_measurement_forms(text: str, expected: tuple[float, ...]) -> None:
    found = find_measurements(text)
    assert len(found) == 1
    assert found[0].dimensions_mm == pytest.approx(expected)
    assert found[0].text == text


@pytest.mark.parametrize("text", ["grade 2 lesion", "3 x 4 lesion", "T12 vertebra", "level 4R node",
                                  "1,200 mm"])
def test_numbers_without_unit_are_not_measurements(text: str) -> None:
    assert find_measurements(text) == []


@pytest.mark.parametrize("text", ["subcentimeter", "sub-centimetre", "sub centimeter", "Subcentimetric"])
def test_qualitative_spellings(text: str) -> None:
    found = find_measurements(text)
    assert [m.qualitative for m in found] == [BELOW_10_MM]


def test_prior_word_in_earlier_clause() -> None:
    found = find_measurements("Compared with the prior study, the nodule measures 5 mm.")
    assert [m.prior for m in found] == [False]


def test_measurement_offsets() -> None:
    text = "Mass measures 3.2 x 1.5 cm."
    found = find_measurements(text)
    assert text[found[0].start:found[0].end] == "3.2 x 1.5 cm"


def test_path_input_is_read_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "report.txt"
    path.write_bytes(b"No pneumothorax.")
    assert process_report(path).findings[0].status == "negated"
    with pytest.raises(ValidationError, match="missing.txt"):
        process_report(tmp_path / "missing.txt")


def test_findings_equal_records_built_by_their_constructor() -> None:
    # process_report fills Finding and Sentence records without their __init__, for speed.
    import dataclasses

    record = process_report("FINDINGS: Small left pleural effusion measuring 2 cm (previously 3 cm).")
    for item in (*record.findings, *record.sentences):
        fields = {field.name: getattr(item, field.name) for field in dataclasses.fields(item)}
        assert set(vars(item)) == set(fields)
        assert item == type(item)(**fields)
