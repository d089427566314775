"""De-identification: nothing identifying leaves, pseudonyms stay consistent, the input stays intact."""

from __future__ import annotations

import copy
import datetime
import io
import json
import logging
import traceback
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.datadict import keyword_dict
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

from workbench.errors import ImageError, ValidationError
from workbench.modality import deid
from workbench.modality.deid import (
    DATE_SHIFT_RANGE_DAYS,
    EMPTIED_KEYWORDS,
    IDENTIFYING_KEYWORDS,
    METADATA_KEYS,
    REMOVED_KEYWORDS,
    SALT_VARIABLE,
    Deidentifier,
    burned_in_annotation,
    date_shift_days,
)

SALT = "test salt, not a secret"
STUDY_UID = "1.2.826.0.1.3680043.8.498.10001"
SERIES_A_UID = "1.2.826.0.1.3680043.8.498.10002"
SERIES_B_UID = "1.2.826.0.1.3680043.8.498.10003"
PRIVATE_VALUE = "ANON0001-in-a-private-tag"
OVERLAY_COMMENT = "Overlay drawn for Test^Alpha"

# Every value is made up. Each is long and distinctive enough that finding it in an output cannot be
# a coincidence of pseudonym letters or digits.
FAKE_IDENTIFIERS = {
    "PatientName": "Test^Alpha",
    "PatientID": "ANON0001",
    "PatientBirthDate": "19710304",
    "PatientBirthTime": "041500",
    "PatientAddress": "12 Fake Street, Testtown",
    "PatientTelephoneNumbers": "555-0100-77",
    "PatientMotherBirthName": "Mother^Gamma",
    "OtherPatientIDs": ["OTHERID5", "OTHERID6"],
    "OtherPatientNames": "Alias^Beta",
    "IssuerOfPatientID": "FAKE-ISSUER",
    "AccessionNumber": "ACC7731",
    "StudyID": "STUDY42",
    "InstitutionName": "Fake General Hospital",
    "InstitutionAddress": "1 Hospital Way, Testtown",
    "InstitutionalDepartmentName": "Fake Radiology Dept",
    "ReferringPhysicianName": "Doe^Referring",
    "PerformingPhysicianName": "Roe^Performing",
    "NameOfPhysiciansReadingStudy": "Poe^Reading",
    "OperatorsName": "Moe^Operator",
    "StationName": "SCANNERCT7",
    "DeviceSerialNumber": "SERIAL998877",
    "StudyDescription": "Chest for Test Alpha",
    "SeriesDescription": "Axial recon of Alpha",
    "ProtocolName": "Protocol of Doe",
    "ImageComments": "Patient Alpha moved",
    "PatientComments": "Allergic, see ANON0001",
    "AdditionalPatientHistory": "History of Alpha",
    "StudyDate": "20240115",
    "SeriesDate": "20240115",
    "AcquisitionDate": "20240115",
    "ContentDate": "20240115",
    "AcquisitionDateTime": "20240115231500.000000",
    "StudyInstanceUID": STUDY_UID,
    "FrameOfReferenceUID": "1.2.826.0.1.3680043.8.498.10004",
}


def _fake_dataset(series_uid: str = SERIES_A_UID, instance: int = 1, *, file_meta: bool = True) -> Dataset:
    """Return a 2×2 CT image whose header is full of made-up identifiers."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    for keyword, value in FAKE_IDENTIFIERS.items():
        setattr(ds, keyword, value)
    ds.SeriesInstanceUID = series_uid
    ds.SOPInstanceUID = f"{series_uid}.{instance}"
    ds.SOPClassUID = CTImageStorage
    ds.StudyTime = "231500"
    ds.PatientSex = "F"
    ds.PatientAge = "053Y"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.ManufacturerModelName = "Model 9"
    ds.KVP = "120"
    ds.SliceThickness = "1.25"
    ds.PixelSpacing = [0.7, 0.8]
    ds.ConvolutionKernel = "STANDARD"
    ds.ContrastBolusAgent = "Iodine for Test^Alpha"
    ds.BodyPartExamined = "CHEST"
    ds.BurnedInAnnotation = "NO"
    ds.InstanceNumber = instance

    requested = Dataset()
    requested.RequestingPhysician = "Zoe^Requesting"
    requested.AccessionNumber = FAKE_IDENTIFIERS["AccessionNumber"]
    ds.RequestAttributesSequence = Sequence([requested])
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = CTImageStorage
    referenced.ReferencedSOPInstanceUID = f"{SERIES_B_UID}.9"
    ds.SourceImageSequence = Sequence([referenced])

    block = ds.private_block(0x0009, "FAKE VENDOR", create=True)
    block.add_new(0x01, "LO", PRIVATE_VALUE)
    ds.add_new(Tag(0x6000, 0x4000), "LT", OVERLAY_COMMENT)

    ds.Rows, ds.Columns = 2, 2
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.array([[0, 100], [200, 4095]], dtype="<u2").tobytes()

    if file_meta:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.SourceApplicationEntityTitle = "FAKEAE01"
    return ds


def _original_values(ds: Dataset) -> dict[str, str]:
    """Return the identifying values of ``ds`` (and its sequence items) worth scanning for."""
    values: dict[str, str] = {}

    def collect(dataset: Dataset, element) -> None:
        if element.keyword not in IDENTIFYING_KEYWORDS and element.keyword != "RequestingPhysician":
            return
        items = element.value if isinstance(element.value, list | pydicom.multival.MultiValue) else [element.value]
        for index, item in enumerate(items):
            text = str(item).strip()
            # Short values such as "1" or "M" occur in any output by chance and identify no patient.
            if len(text) >= 4:
                values[f"{element.keyword}[{index}]"] = text

    ds.walk(collect)
    return values


def _written_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    if hasattr(ds, "file_meta"):
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    else:
        pydicom.dcmwrite(buffer, ds, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def _decoded_text(data: bytes) -> str:
    """Return every value of a written dataset as decoded text, sequence items included."""
    reread = pydicom.dcmread(io.BytesIO(data), force=True)
    parts: list[str] = []
    reread.walk(lambda _dataset, element: parts.append(str(element.value)) if element.VR != "SQ" else None)
    return "\n".join(parts)


def _outputs(deidentifier: Deidentifier, ds: Dataset, caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """Run every output path and return each output as text (bytes decoded as Latin-1)."""
    with caplog.at_level(logging.DEBUG, logger="workbench.modality.deid"):
        clean = deidentifier.dataset(ds)
        metadata = deidentifier.metadata(ds)
    written = _written_bytes(clean)
    return {
        "written bytes": written.decode("latin-1"),
        "written values": _decoded_text(written),
        "metadata repr": repr(metadata),
        "metadata json": json.dumps(metadata, ensure_ascii=False),
        "log": "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records),
    }


@pytest.fixture
def deidentifier() -> Deidentifier:
    return Deidentifier(salt=SALT)


def test_outputs_contain_no_fake_identifier(deidentifier, caplog):
    ds = _fake_dataset()
    originals = _original_values(ds)
    originals["private"] = PRIVATE_VALUE
    originals["overlay comment"] = OVERLAY_COMMENT
    originals["requesting physician"] = "Zoe^Requesting"
    originals["source AE title"] = "FAKEAE01"

    outputs = _outputs(deidentifier, ds, caplog)

    assert len(originals) >= 35
    assert caplog.records, "the DEBUG log of de-identification is empty, so the log scan checks nothing"
    for output_name, text in outputs.items():
        for keyword, value in originals.items():
            assert value not in text, f"{keyword} found in {output_name}"


def test_outputs_without_file_meta_contain_no_identifier(deidentifier, caplog):
    ds = _fake_dataset(file_meta=False)
    originals = _original_values(ds)

    outputs = _outputs(deidentifier, ds, caplog)

    for output_name, text in outputs.items():
        for keyword, value in originals.items():
            assert value not in text, f"{keyword} found in {output_name}"


def test_real_file_identifiers_do_not_leak(deidentifier, caplog):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    originals = _original_values(ds)

    outputs = _outputs(deidentifier, ds, caplog)

    assert {"PatientName[0]", "PatientID[0]", "InstitutionName[0]", "StudyInstanceUID[0]"} <= set(originals)
    for output_name, text in outputs.items():
        for keyword, value in originals.items():
            assert value not in text, f"{keyword} found in {output_name}"


def _names(ds: Dataset) -> list[tuple[str, bytes | None]]:
    """Return each non-empty Person Name of ``ds`` as decoded text and its encoded bytes from the file."""
    names: list[tuple[str, bytes | None]] = []

    def collect(_dataset: Dataset, element) -> None:
        if element.VR != "PN" or not element.value:
            return
        items = element.value if isinstance(element.value, pydicom.multival.MultiValue) else [element.value]
        for item in items:
            if any(character.isalpha() for character in str(item)):
                names.append((str(item), getattr(item, "original_string", None)))

    ds.walk(collect)
    return names


def _name_fragments(name: str) -> set[str]:
    """Return the full name, each component group and each distinctive name part."""
    fragments = {name}
    for group in name.split("="):
        if group.strip("^"):
            fragments.add(group)
        for part in group.split("^"):
            # Non-ASCII parts are distinctive at any length, but short ASCII parts such as "MD" are not.
            if part and (not part.isascii() or len(part) >= 4):
                fragments.add(part)
    return fragments


CHARSET_FILES = sorted(Path(path).name for path in get_charset_files("*.dcm"))


@pytest.mark.parametrize("file_name", CHARSET_FILES)
def test_charset_names_do_not_leak(deidentifier, caplog, file_name):
    ds = pydicom.dcmread(get_charset_files(file_name)[0])
    names = _names(ds)

    outputs = _outputs(deidentifier, ds, caplog)
    written = deidentifier.dataset(ds)
    raw = _written_bytes(written)

    assert names, f"{file_name} has no Person Name to check"
    for name, encoded in names:
        for fragment in _name_fragments(name):
            for output_name, text in outputs.items():
                assert fragment not in text, f"a name fragment of {file_name} found in {output_name}"
        if encoded:
            assert encoded not in raw, f"the encoded name of {file_name} found in the written bytes"


def test_charset_names_decode_before_replacement():
    # pydicom's FileInfo.txt lists the encoded name of chrH31.dcm, and Python's iso2022_jp codec decodes
    # those bytes to this text.
    ds = pydicom.dcmread(get_charset_files("chrH31.dcm")[0])
    assert str(ds.PatientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう"

    clean = Deidentifier(salt=SALT).dataset(ds)

    assert str(clean.PatientName).isascii()
    assert str(clean.PatientName) != str(ds.PatientName)


def _reencoded(character_set: str) -> Dataset:
    """Return the fake dataset with a non-ASCII name, written in ``character_set`` and read back."""
    ds = _fake_dataset()
    ds.SpecificCharacterSet = character_set
    ds.PatientName = "Buc^Jérôme"
    return pydicom.dcmread(io.BytesIO(_written_bytes(ds)))


def test_same_name_in_two_charsets_gets_one_pseudonym(deidentifier):
    latin1 = _reencoded("ISO_IR 100")
    utf8 = _reencoded("ISO_IR 192")

    first = deidentifier.dataset(latin1)
    second = deidentifier.dataset(utf8)

    assert latin1.PatientName.original_string != utf8.PatientName.original_string
    assert str(first.PatientName) == str(second.PatientName)


def test_failure_message_hides_value(deidentifier, caplog):
    ds = _fake_dataset()
    # A malformed Study Date whose text is an identifier. RawDataElement skips pydicom's validation.
    ds._dict[Tag(0x00080020)] = RawDataElement(Tag(0x00080020), "DA", 8, b"ANON0001", 0, False, True)
    originals = _original_values(_fake_dataset())

    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageError, match=r"StudyDate \(0008,0020\)") as raised:
            deidentifier.dataset(ds)
    error = raised.value
    texts = {
        "message": str(error),
        "repr": repr(error),
        "traceback": "".join(traceback.format_exception(error)),
        "warnings": "\n".join(str(item.message) for item in caught),
        "log": "\n".join(record.getMessage() for record in caplog.records),
    }

    assert error.__cause__ is None
    assert error.__context__ is None
    for output_name, text in texts.items():
        for keyword, value in originals.items():
            assert value not in text, f"{keyword} found in the {output_name} of the error"


def test_metadata_failure_hides_value(deidentifier):
    ds = _fake_dataset()
    ds._dict[Tag(0x00080020)] = RawDataElement(Tag(0x00080020), "DA", 8, b"ANON0001", 0, False, True)

    with pytest.raises(ImageError) as raised:
        deidentifier.metadata(ds)

    assert "ANON0001" not in str(raised.value)


def test_pydicom_warnings_are_withheld(deidentifier):
    ds = _fake_dataset()
    # An invalid Integer String makes pydicom warn with the value quoted.
    ds._dict[Tag(0x00200013)] = RawDataElement(Tag(0x00200013), "IS", 10, b"Test^Alpha", 0, False, True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        deidentifier.dataset(ds)
        deidentifier.metadata(ds)

    assert not [item for item in caught if "Test^Alpha" in str(item.message)]


def test_input_dataset_not_modified(deidentifier):
    ds = _fake_dataset()
    before = copy.deepcopy(ds)

    deidentifier.dataset(ds)
    deidentifier.metadata(ds)

    assert ds == before
    assert ds.file_meta == before.file_meta
    assert str(ds.PatientName) == "Test^Alpha"


def test_real_file_not_modified(deidentifier):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    before = copy.deepcopy(ds)

    deidentifier.dataset(ds)
    deidentifier.metadata(ds)

    assert ds == before
    assert ds.file_meta == before.file_meta
    assert ds.preamble == before.preamble


def test_removed_and_emptied_attributes(deidentifier):
    clean = deidentifier.dataset(_fake_dataset())
    present = {element.keyword for element in clean.iterall()}

    assert present & REMOVED_KEYWORDS == set()
    assert not [element for element in clean.iterall() if element.tag.is_private]
    assert not [element for element in clean if 0x6000 <= element.tag.group <= 0x60FF]
    assert "SourceApplicationEntityTitle" not in clean.file_meta
    assert clean.PatientBirthDate == ""
    assert clean.PatientSex == ""
    assert clean.ContrastBolusAgent == ""


def test_kept_acquisition_attributes(deidentifier):
    clean = deidentifier.dataset(_fake_dataset())

    assert clean.Modality == "CT"
    assert clean.Manufacturer == "ACME"
    assert clean.KVP == 120
    assert clean.ConvolutionKernel == "STANDARD"
    assert clean.SOPClassUID == CTImageStorage
    assert clean.PixelData == _fake_dataset().PixelData


def test_file_meta_stays_absent(deidentifier):
    clean = deidentifier.dataset(_fake_dataset(file_meta=False))

    assert not hasattr(clean, "file_meta")


def test_media_storage_uid_matches_sop_instance_uid(deidentifier):
    clean = deidentifier.dataset(_fake_dataset())

    assert clean.file_meta.MediaStorageSOPInstanceUID == clean.SOPInstanceUID


def test_identity_removed_flags(deidentifier):
    clean = deidentifier.dataset(_fake_dataset())

    # dicognito sets PatientIdentityRemoved only when BurnedInAnnotation is NO, as it is here.
    assert clean.PatientIdentityRemoved == "YES"
    assert "DICOGNITO" in str(clean.DeidentificationMethod)


def _shifted_days(original: str, shifted: str) -> int:
    parse = datetime.datetime.strptime
    return (parse(original, "%Y%m%d") - parse(shifted, "%Y%m%d")).days


def test_study_files_share_pseudonyms_and_shift(deidentifier):
    first = _fake_dataset(SERIES_A_UID, 1)
    second = _fake_dataset(SERIES_B_UID, 2)
    second.ContentDate = "20240117"

    clean_first = deidentifier.dataset(first)
    clean_second = deidentifier.dataset(second)
    shift = _shifted_days(first.StudyDate, clean_first.StudyDate)

    assert clean_first.PatientID == clean_second.PatientID
    assert clean_first.StudyInstanceUID == clean_second.StudyInstanceUID
    assert clean_first.SeriesInstanceUID != clean_second.SeriesInstanceUID
    assert str(clean_first.PatientName) == str(clean_second.PatientName)
    assert clean_first.StationName == clean_second.StationName
    assert _shifted_days(second.StudyDate, clean_second.StudyDate) == shift
    assert _shifted_days(second.ContentDate, clean_second.ContentDate) == shift
    assert DATE_SHIFT_RANGE_DAYS[0] <= shift <= DATE_SHIFT_RANGE_DAYS[1]


def test_series_files_share_series_uid(deidentifier):
    first = deidentifier.dataset(_fake_dataset(SERIES_A_UID, 1))
    second = deidentifier.dataset(_fake_dataset(SERIES_A_UID, 2))

    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_referenced_uid_matches_remapped_uid(deidentifier):
    referencing = deidentifier.dataset(_fake_dataset(SERIES_A_UID, 1))
    referenced = deidentifier.dataset(_fake_dataset(SERIES_B_UID, 9))

    assert referencing.SourceImageSequence[0].ReferencedSOPInstanceUID == referenced.SOPInstanceUID


def test_same_salt_instances_agree():
    ds = _fake_dataset()

    first = Deidentifier(salt=SALT).dataset(ds)
    second = Deidentifier(salt=SALT).dataset(ds)

    for keyword in ("PatientID", "PatientName", "StudyInstanceUID", "SeriesInstanceUID", "StudyDate",
                    "StationName", "AccessionNumber"):
        assert str(first[keyword].value) == str(second[keyword].value), keyword


def test_different_salts_differ():
    ds = _fake_dataset()

    first = Deidentifier(salt=SALT).dataset(ds)
    second = Deidentifier(salt=SALT + " other").dataset(ds)

    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "StationName"):
        assert str(first[keyword].value) != str(second[keyword].value), keyword


def test_patients_get_own_date_shift():
    # Two patients share a shift with probability 1/3650, and these two keys were checked to differ.
    assert date_shift_days(SALT, "PatientID:ANON0001") != date_shift_days(SALT, "PatientID:ANON0002")


def test_salt_read_from_environment(monkeypatch):
    monkeypatch.setenv(SALT_VARIABLE, SALT)
    ds = _fake_dataset()

    from_environment = Deidentifier()

    assert from_environment.salt_source == "environment"
    assert from_environment.dataset(ds).PatientID == Deidentifier(salt=SALT).dataset(ds).PatientID


def test_missing_salt_is_random_and_logged(monkeypatch, caplog):
    monkeypatch.delenv(SALT_VARIABLE, raising=False)
    ds = _fake_dataset()

    with caplog.at_level(logging.WARNING, logger="workbench.modality.deid"):
        first, second = Deidentifier(), Deidentifier()

    assert first.salt_source == "random"
    assert first.dataset(ds).PatientID == first.dataset(ds).PatientID
    assert first.dataset(ds).PatientID != second.dataset(ds).PatientID
    records = [record for record in caplog.records if record.name == "workbench.modality.deid"]
    assert len(records) == 2
    assert SALT_VARIABLE in records[0].getMessage()


def test_empty_salt_rejected():
    with pytest.raises(ValidationError, match="salt is empty"):
        Deidentifier(salt="")


def test_repr_hides_salt():
    assert SALT not in repr(Deidentifier(salt=SALT))


def test_non_dataset_rejected(deidentifier):
    with pytest.raises(ValidationError, match="Expected a pydicom Dataset"):
        deidentifier.dataset("not a dataset")


def test_metadata_allow_list(deidentifier):
    metadata = deidentifier.metadata(_fake_dataset())

    assert tuple(metadata) == METADATA_KEYS
    assert "SeriesDescription" not in metadata
    assert "ContrastBolusAgent" not in metadata
    assert metadata["Modality"] == "CT"
    assert metadata["Manufacturer"] == "ACME"
    assert metadata["ManufacturerModelName"] == "Model 9"
    assert metadata["KVP"] == 120.0
    assert metadata["SliceThickness"] == 1.25
    assert metadata["PixelSpacing"] == [0.7, 0.8]
    assert metadata["ConvolutionKernel"] == "STANDARD"
    assert metadata["BodyPartExamined"] == "CHEST"
    assert metadata["ContrastBolusAgentPresent"] is True
    assert metadata["BurnedInAnnotation"] is False
    assert metadata["Rows"] == 2
    assert metadata["BitsStored"] == 12
    assert metadata["NumberOfFrames"] is None


def test_metadata_pseudonyms_match_dataset(deidentifier):
    ds = _fake_dataset()

    metadata = deidentifier.metadata(ds)
    clean = deidentifier.dataset(ds)

    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "StationName",
                    "StudyDate"):
        assert metadata[keyword] == str(clean[keyword].value), keyword


def test_metadata_without_contrast_agent(deidentifier):
    ds = _fake_dataset()
    del ds.ContrastBolusAgent

    assert deidentifier.metadata(ds)["ContrastBolusAgentPresent"] is None


@pytest.mark.parametrize(
    ("flag", "sop_class", "expected"),
    [
        ("YES", CTImageStorage, True),
        ("NO", CTImageStorage, False),
        (None, CTImageStorage, None),
        (None, SecondaryCaptureImageStorage, True),
        ("NO", SecondaryCaptureImageStorage, False),
        (None, "1.2.840.10008.5.1.4.1.1.7.4", True),
    ],
)
def test_burned_in_annotation(flag, sop_class, expected):
    ds = Dataset()
    ds.SOPClassUID = sop_class
    if flag is not None:
        ds.BurnedInAnnotation = flag

    assert burned_in_annotation(ds) is expected


# The expected dates are a shift of 10 days, counted by hand across the month and year boundary.
@pytest.mark.parametrize(
    ("value", "expected"),
    [("20240105", "20231226"), ("2024.01.05", "20231226"), ("", "")],
)
def test_date_shift_by_days(value, expected):
    assert deid._shift_date(value, 10) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20240105231500.123456+0100", "20231226231500.123456+0100"),
        ("20240105", "20231226"),
        ("202401", "202312"),
        ("2024", "2023"),
        ("20240105-0500", "20231226-0500"),
    ],
)
def test_datetime_shift_keeps_precision(value, expected):
    assert deid._shift_datetime(value, 10) == expected


@pytest.mark.parametrize("value", ["2024011", "20241301", "ABCD0105"])
def test_datetime_shift_rejects_malformed(value):
    with pytest.raises(ValueError):
        deid._shift_datetime(value, 10)


def test_multivalued_dates_shift_together(deidentifier):
    ds = _fake_dataset()
    ds.CalibrationDate = ["20240105", "20240110"]

    clean = deidentifier.dataset(ds)
    shift = _shifted_days(ds.StudyDate, clean.StudyDate)

    assert [_shifted_days(old, new) for old, new in zip(ds.CalibrationDate, clean.CalibrationDate,
                                                        strict=True)] == [shift, shift]


def test_keyword_lists_are_dicom_keywords():
    for keyword in (*IDENTIFYING_KEYWORDS, *REMOVED_KEYWORDS, *EMPTIED_KEYWORDS):
        assert keyword in keyword_dict, keyword
