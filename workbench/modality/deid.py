"""De-identification of DICOM datasets: pseudonyms, shifted dates and an allow-list of safe metadata.

:class:`Deidentifier` returns a de-identified copy of a pydicom dataset and the metadata a record may
store. It follows the Basic Application Level Confidentiality Profile of DICOM PS3.15 (Annex E,
Table E.1-1) in three passes over a deep copy:

1. Removal, done here: private elements, overlay and curve groups (60xx, 50xx), and the attributes in
   :data:`REMOVED_KEYWORDS`, which the profile removes (action X) and dicognito leaves in place. These are
   free text (descriptions, comments, protocol name), patient characteristics (age, size, weight),
   device identifiers (serial numbers, AE titles) and further person names. :data:`EMPTIED_KEYWORDS`
   (PatientBirthDate, PatientSex, ContrastBolusAgent) are kept with an empty value (action Z).
2. Replacement, done by dicognito's ``Anonymizer`` (version 0.19 in ``pyproject.toml``). Every Person
   Name becomes a made-up name, and every UID except class UIDs and the transfer syntax becomes a new
   ``2.``-rooted UID. Patient, accession, study and station identifiers become 12-character
   pseudonyms, and the institution name a made-up clinic. Every value comes from an MD5 digest of a
   seed and the original value, so the same original gives the same pseudonym in every file, study
   and series, and in every process that uses the same salt.
3. Dates, done here through dicognito's element-handler hook: every DA and DT value moves into the past
   by a whole number of days chosen per patient (see :func:`date_shift_days`). Times of day stay as
   they are, so intervals between acquisitions are kept exactly.

Why dicognito and not deid: both were tried with pydicom 3.0.2 (deid 0.4.13 in a separate virtual
environment). deid's default recipe removes every element whose keyword contains ``UID``, so files can
no longer be grouped by study or series. On pydicom's ``CT_small.dcm`` it also kept InstitutionName
and StationName. With deid the caller computes pseudonymous IDs and date jitter and passes them in,
and its stable UID remapping hashes the original UID without a secret. dicognito 0.19 requires
pydicom 3.0.1 or later and derives salted, consistent pseudonyms for names, IDs and UIDs without a
recipe. Neither library covers the whole of Table E.1-1, which is why pass 1 exists. dicognito shifts
all dates by one offset per seed, so one known true date would reveal the shift of every patient.
Pass 3 therefore uses an offset per patient.

Identifiers never reach a log line, a warning or an exception message from this module. Logs carry
counts and keywords only. pydicom's warnings, which can quote header values, are withheld and counted.
An error names the attribute keyword and tag but never its value.

References
----------
DICOM PS3.15, Annex E, Table E.1-1 "Application Level Confidentiality Profile Attributes".
dicognito 0.19 (https://github.com/blairconrad/dicognito), ``Anonymizer.add_element_handler``.
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import hmac
import logging
import os
import secrets
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

from dicognito.anonymizer import Anonymizer
from dicognito.element_anonymizer import ElementAnonymizer
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from workbench.errors import ImageError, ValidationError
from workbench.modality.deid_profile import EMPTIED_KEYWORDS, IDENTIFYING_KEYWORDS, REMOVED_KEYWORDS

__all__ = [
    "BURNED_IN_NOTE", "DATE_SHIFT_RANGE_DAYS", "EMPTIED_KEYWORDS", "IDENTIFYING_KEYWORDS", "METADATA_KEYS",
    "REMOVED_KEYWORDS", "SALT_VARIABLE", "Deidentifier", "burned_in_annotation", "date_shift_days",
]

logger = logging.getLogger(__name__)

#: Environment variable read for the salt when none is passed to :class:`Deidentifier`.
SALT_VARIABLE = "WORKBENCH_DEID_SALT"

#: Note for a record whose header says that the pixels may contain burned-in text.
BURNED_IN_NOTE = "burned-in annotation flagged by the header"

#: Range of the per-patient date shift in days into the past. Zero is excluded so that no date
#: keeps its true value, and a range of ten years hides the year as well as the day.
DATE_SHIFT_RANGE_DAYS = (1, 3650)

# Secondary Capture Image Storage and its four multi-frame variants, as pydicom.uid names them.
_SECONDARY_CAPTURE_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
})

# Elements copied into the small dataset that metadata() de-identifies to get its pseudonyms. The first
# three are the sources of the patient key, so the key matches the one of the full dataset.
_PSEUDONYM_KEYWORDS = (
    "PatientID", "PatientName", "StudyInstanceUID", "SpecificCharacterSet", "SeriesInstanceUID",
    "SOPInstanceUID", "StudyDate", "StationName",
)
_TEXT_KEYWORDS = ("Modality", "Manufacturer", "ManufacturerModelName", "BodyPartExamined", "Laterality",
                  "ImageLaterality", "PhotometricInterpretation", "SOPClassUID")
_FLOAT_KEYWORDS = ("KVP", "SliceThickness", "SpacingBetweenSlices")
_INTEGER_KEYWORDS = ("Rows", "Columns", "BitsStored", "NumberOfFrames")

#: Keys of :meth:`Deidentifier.metadata`, which is an allow-list: nothing else leaves the header.
METADATA_KEYS: tuple[str, ...] = (
    *_TEXT_KEYWORDS, *_FLOAT_KEYWORDS, *_INTEGER_KEYWORDS, "PixelSpacing", "ConvolutionKernel", "ImageType",
    "ContrastBolusAgentPresent", "BurnedInAnnotation", "StationName", "PatientID", "StudyInstanceUID",
    "SeriesInstanceUID", "SOPInstanceUID", "StudyDate",
)


def burned_in_annotation(ds: Dataset) -> bool | None:
    """Return whether the header says that the pixels may contain burned-in text.

    True when BurnedInAnnotation (0028,0301) is ``YES``, or when it is absent and the SOP Class is one of
    the Secondary Capture classes. Secondary Capture images are converted from other sources, such as
    screen grabs and scanned film, and so often show the annotations that were on screen. False when
    BurnedInAnnotation is ``NO``, and None when the header does not tell.

    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> burned_in_annotation(ds) is None
    True
    >>> ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    >>> burned_in_annotation(ds)
    True
    """
    flag = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if flag == "YES":
        return True
    if flag == "NO":
        return False
    if str(ds.get("SOPClassUID", "") or "") in _SECONDARY_CAPTURE_CLASSES:
        return True
    return None


def date_shift_days(salt: str, patient_key: str) -> int:
    """Return the number of days that the dates of one patient move into the past.

    The value is HMAC-SHA256 of the patient key under the salt, reduced into
    :data:`DATE_SHIFT_RANGE_DAYS`. The same salt and key always give the same shift, and without the
    salt the shift cannot be computed from the key.

    >>> date_shift_days("salt", "PatientID:A") == date_shift_days("salt", "PatientID:A")
    True
    >>> 1 <= date_shift_days("salt", "PatientID:A") <= 3650
    True
    """
    low, high = DATE_SHIFT_RANGE_DAYS
    digest = hmac.new(salt.encode("utf-8"), b"date-shift\x00" + patient_key.encode("utf-8"), hashlib.sha256)
    return low + int.from_bytes(digest.digest()[:8], "big") % (high - low + 1)


class Deidentifier:
    """De-identify DICOM datasets with pseudonyms that stay consistent across files.

    Parameters
    ----------
    salt : str, optional
        Secret that every pseudonym, new UID and date shift derives from. Two instances with the same
        salt give the same pseudonyms, in any process. Without it the salt is read from the
        ``WORKBENCH_DEID_SALT`` environment variable. When that is unset too, a random salt is drawn
        for this instance and a warning is logged. Pseudonyms then agree across the files that this
        instance processes but differ from those of any other instance or run.

    Raises
    ------
    ValidationError
        If ``salt`` is given but empty.

    Examples
    --------
    >>> from pydicom.dataset import Dataset
    >>> ds = Dataset()
    >>> ds.PatientID = "ANON0001"
    >>> ds.StudyDate = "20240115"
    >>> deidentifier = Deidentifier(salt="example salt")
    >>> clean = deidentifier.dataset(ds)
    >>> clean.PatientID != "ANON0001", ds.PatientID
    (True, 'ANON0001')
    >>> clean.PatientID == Deidentifier(salt="example salt").dataset(ds).PatientID
    True
    """

    def __init__(self, *, salt: str | None = None) -> None:
        if salt is not None and not salt:
            raise ValidationError("The de-identification salt is empty. Pass a non-empty secret string or None.",
                                  field="salt", value="")
        if salt is None:
            salt = os.environ.get(SALT_VARIABLE) or None
            self.salt_source = "random" if salt is None else "environment"
        else:
            self.salt_source = "argument"
        if salt is None:
            salt = secrets.token_hex(32)
            logger.warning("No de-identification salt was given and %s is unset, so a random salt is used. "
                           "Pseudonyms agree only within this Deidentifier instance.", SALT_VARIABLE)
        self._salt = salt
        # dicognito gets a seed derived from the salt, not the salt itself, so its MD5 digests and the
        # HMAC of the date shift never share a key.
        self._seed = hmac.new(salt.encode("utf-8"), b"dicognito-seed", hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"Deidentifier(salt_source={self.salt_source!r})"

    def dataset(self, ds: Dataset) -> Dataset:
        """Return a de-identified deep copy of ``ds``, leaving ``ds`` itself unchanged.

        Raises
        ------
        ValidationError
            If ``ds`` is not a pydicom Dataset.
        ImageError
            If an element cannot be de-identified, such as a malformed date. The message names the
            attribute and tag but not the value. Fix or remove that element and retry.
        """
        _check_dataset(ds)
        clean = copy.deepcopy(ds)
        source = _base_name(ds)
        counts = self._deidentify(clean, source)
        logger.debug("De-identified %s. Removed %d elements (%s), %d private elements and %d in overlay or "
                     "curve groups. Emptied %d, shifted %d date values, withheld %d pydicom warnings.",
                     source, sum(counts["removed"].values()), ", ".join(sorted(counts["removed"])) or "none",
                     counts["private"], counts["group"], counts["emptied"], counts["dates"], counts["warnings"])
        return clean

    def metadata(self, ds: Dataset) -> dict[str, Any]:
        """Return the header values a record may store, read through an allow-list.

        The keys are :data:`METADATA_KEYS`, each present with None when the header lacks it. Acquisition
        settings are copied as numbers or text. StationName, PatientID and the UIDs are the same
        pseudonyms that :meth:`dataset` writes, and StudyDate is shifted by the same number of days.
        ContrastBolusAgent is reduced to ``ContrastBolusAgentPresent``, and ``BurnedInAnnotation`` is
        :func:`burned_in_annotation`. Free text such as SeriesDescription is left out, because it often
        contains names or dates typed at the scanner.

        Raises
        ------
        ValidationError, ImageError
            As :meth:`dataset`.
        """
        _check_dataset(ds)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            values: dict[str, Any] = {keyword: _text(ds.get(keyword)) for keyword in _TEXT_KEYWORDS}
            values.update({keyword: _number(ds.get(keyword), float) for keyword in _FLOAT_KEYWORDS})
            values.update({keyword: _number(ds.get(keyword), int) for keyword in _INTEGER_KEYWORDS})
            values["PixelSpacing"] = _pixel_spacing(ds.get("PixelSpacing"))
            values["ConvolutionKernel"] = _text(ds.get("ConvolutionKernel"))
            values["ImageType"] = _text_list(ds.get("ImageType"))
            values["ContrastBolusAgentPresent"] = _contrast_present(ds)
            values["BurnedInAnnotation"] = burned_in_annotation(ds)
            subset = _subset(ds, _PSEUDONYM_KEYWORDS)

        self._deidentify(subset, _base_name(ds))
        for keyword in ("StationName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                        "StudyDate"):
            values[keyword] = _text(subset.get(keyword))
        return {key: values[key] for key in METADATA_KEYS}

    def _deidentify(self, ds: Dataset, source: str) -> dict[str, Any]:
        """De-identify ``ds`` in place and return counts of what was done."""
        counts: dict[str, Any] = {"removed": Counter(), "private": 0, "group": 0, "emptied": 0, "dates": 0}
        had_file_meta = hasattr(ds, "file_meta")
        tracker = _DateShifter(0)
        failure: tuple[str, BaseTag | None] | None = None

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                # Decode every text value with its declared SpecificCharacterSet before anything is
                # replaced. pydicom would also decode each element on access, but doing it here keeps
                # its decoding warnings, which may quote values, inside the capture.
                ds.decode()
                tracker.days = date_shift_days(self._salt, _patient_key(ds))
                if not had_file_meta:
                    # dicognito walks file_meta unconditionally.
                    ds.file_meta = FileMetaDataset()
                _remove_elements(ds, counts, tracker)
                anonymizer = Anonymizer(seed=self._seed)
                anonymizer.add_element_handler(tracker)
                anonymizer.anonymize(ds)
                # dicognito writes a made-up InstitutionAddress next to every InstitutionName it
                # replaces, and Table E.1-1 removes the attribute.
                ds.walk(_drop_institution_address)
            except Exception as error:  # noqa: BLE001 - any failure must hide its message, which may quote values
                failure = (type(error).__name__, tracker.tag)
        counts["warnings"] = len(caught)
        counts["dates"] = tracker.shifted

        # Raised outside the except block so that the original exception, whose text may contain the
        # value, is neither the cause nor the context of this one.
        if failure is not None:
            raise ImageError(_failure_message(failure, source), source=source)
        if not had_file_meta:
            del ds.file_meta
        if getattr(ds, "preamble", None) is not None:
            ds.preamble = b"\x00" * 128
        if isinstance(getattr(ds, "filename", None), str):
            ds.filename = source
        return counts


class _DateShifter(ElementAnonymizer):
    """dicognito element handler that shifts DA and DT values and tracks the element being visited.

    It is registered first, so dicognito passes it every element before its own handlers. Claiming DA
    and DT elements keeps dicognito's one-offset-per-seed date shift from running.
    """

    def __init__(self, days: int) -> None:
        self.days = days
        self.shifted = 0
        self.tag: BaseTag | None = None

    def __call__(self, dataset: Dataset, data_element: DataElement) -> bool:
        self.tag = data_element.tag
        if data_element.VR not in ("DA", "DT"):
            return False
        shift = _shift_date if data_element.VR == "DA" else _shift_datetime
        if isinstance(data_element.value, MultiValue):
            data_element.value = [shift(str(value), self.days) for value in data_element.value]
            self.shifted += len(data_element.value)
        elif data_element.value not in (None, ""):
            data_element.value = shift(str(data_element.value), self.days)
            self.shifted += 1
        return True

    def describe_actions(self) -> Iterator[str]:
        yield "Shift every DA and DT value into the past by a whole number of days chosen per patient"


def _remove_elements(ds: Dataset, counts: dict[str, Any], tracker: _DateShifter) -> None:
    """Remove or empty the elements of pass 1 in ``ds``, its file meta and all sequence items."""

    def visit(dataset: Dataset, element: DataElement) -> None:
        tracker.tag = element.tag
        if element.tag.is_private:
            del dataset[element.tag]
            counts["private"] += 1
        elif 0x5000 <= element.tag.group <= 0x50FF or 0x6000 <= element.tag.group <= 0x60FF:
            del dataset[element.tag]
            counts["group"] += 1
        elif element.keyword in REMOVED_KEYWORDS:
            del dataset[element.tag]
            counts["removed"][element.keyword] += 1
        elif element.keyword in EMPTIED_KEYWORDS and element.value not in (None, ""):
            element.value = ""
            counts["emptied"] += 1

    ds.file_meta.walk(visit)
    ds.walk(visit)


def _drop_institution_address(dataset: Dataset, element: DataElement) -> None:
    if element.keyword == "InstitutionAddress":
        del dataset[element.tag]


def _shift_date(value: str, days: int) -> str:
    """Shift one DA value (``YYYYMMDD``, or ACR-NEMA's ``YYYY.MM.DD``) by ``days`` into the past."""
    text = value.strip().replace(".", "")
    if not text:
        return ""
    parsed = datetime.datetime.strptime(text, "%Y%m%d").date()
    return (parsed - datetime.timedelta(days=days)).strftime("%Y%m%d")


def _shift_datetime(value: str, days: int) -> str:
    """Shift the date part of one DT value by ``days`` into the past, keeping its precision and offset.

    A DT value is ``YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]``, where ``&ZZXX`` is an optional UTC offset. A
    value that stops at the year or month is read as the first day of it, shifted and cut back to the
    same length.
    """
    text = value.strip()
    if not text:
        return ""
    body, zone = text, ""
    for sign in "+-":
        position = text.find(sign, 4)
        if position != -1:
            body, zone = text[:position], text[position:]
    date_part, rest = body[:8], body[8:]
    if len(date_part) not in (4, 6, 8) or not date_part.isdigit():
        raise ValueError("DT value has no valid date part")
    padded = date_part + "0101"[len(date_part) - 4:]
    return _shift_date(padded, days)[:len(date_part)] + rest + zone


def _patient_key(ds: Dataset) -> str:
    """Return the key that selects a patient's date shift: PatientID, else PatientName, else the study.

    Files without PatientID and PatientName get one shift per StudyInstanceUID, and files without any of
    the three share one shift.
    """
    for keyword in ("PatientID", "PatientName", "StudyInstanceUID"):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            return f"{keyword}:{value}"
    return ""


def _failure_message(failure: tuple[str, BaseTag | None], source: str) -> str:
    error_type, tag = failure
    if tag is None:
        where = "an element"
    else:
        where = f"{keyword_for_tag(tag) or 'element'} {tag}"
    return (f"De-identification of {source} failed at {where} ({error_type}). The value is not shown because "
            "it may identify the patient. Correct or remove that element and retry.")


def _check_dataset(ds: Any) -> None:
    if not isinstance(ds, Dataset):
        raise ValidationError(f"Expected a pydicom Dataset to de-identify, got {type(ds).__name__}. Read the "
                              "file with pydicom.dcmread first.", field="ds", value=type(ds).__name__)


def _base_name(ds: Dataset) -> str:
    filename = getattr(ds, "filename", None)
    return os.path.basename(filename) if isinstance(filename, str) and filename else "<dataset>"


def _subset(ds: Dataset, keywords: tuple[str, ...]) -> Dataset:
    subset = Dataset()
    for keyword in keywords:
        if keyword in ds:
            element = ds[keyword]
            subset[element.tag] = DataElement(element.tag, element.VR, copy.deepcopy(element.value))
    return subset


def _text(value: Any) -> str | None:
    """Return a header value as text, multiple values joined with a backslash as DICOM encodes them."""
    if value is None:
        return None
    if isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(item).strip() for item in value)
    else:
        text = str(value).strip()
    return text or None


def _text_list(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    items = value if isinstance(value, MultiValue | list | tuple) else [value]
    return [str(item).strip() for item in items]


def _number(value: Any, kind: type) -> float | int | None:
    if value is None or value == "":
        return None
    try:
        return kind(float(value)) if kind is int else float(value)
    except (TypeError, ValueError):
        return None


def _pixel_spacing(value: Any) -> list[float] | None:
    """Return PixelSpacing as ``[row spacing, column spacing]`` in mm, or None when absent or invalid."""
    if not isinstance(value, MultiValue | list | tuple) or len(value) != 2:
        return None
    spacing = [_number(item, float) for item in value]
    return None if None in spacing else spacing


def _contrast_present(ds: Dataset) -> bool | None:
    """Return whether ContrastBolusAgent has a value, or None when the attribute is absent."""
    if "ContrastBolusAgent" not in ds:
        return None
    return bool(str(ds.ContrastBolusAgent or "").strip())
