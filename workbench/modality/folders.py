"""Processing a folder of images into a feature table: one row per file, broken files reported and skipped.

:func:`process_folder` walks a folder recursively and turns every image file into one row of
:func:`~workbench.modality.features.image_features`. A DICOM series gives one row per file, not one per
volume, because a monitor of incoming images receives files as they arrive and a change of scanner or
kernel shows in each of them. Read a series as one volume with :func:`~workbench.modality.series.read_volume`.

Files are read in worker processes (``concurrent.futures.ProcessPoolExecutor``), or in the calling
process when ``workers=1``. Every worker builds its own :class:`~workbench.modality.deid.Deidentifier`
from one salt that the calling process chooses, so pseudonyms such as ``station_name`` agree across
files and workers. A file that cannot be read becomes a row of the error table and the batch goes on.

Logs at INFO carry counts only, because folder and file names are chosen by the user and may contain a
patient's name. DEBUG lines name files by their path relative to the folder.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from tqdm.auto import tqdm

from workbench.errors import ImageError, NotDicomError, NotFoundError, ValidationError, WorkbenchError
from workbench.modality.deid import METADATA_KEYS, SALT_VARIABLE, Deidentifier
from workbench.modality.dicom import header_values_unlogged, image_geometry, read_dataset, read_frame_count
from workbench.modality.features import FEATURE_TYPES, image_features
from workbench.modality.process import detect_format, process_image
from workbench.modality.record import ImageRecord, IntensityStatistics
from workbench.monitoring.features import NUMERIC

logger = logging.getLogger(__name__)

#: Columns of :attr:`FolderResult.features`: the file's path relative to the folder, then the features.
FEATURE_COLUMNS: tuple[str, ...] = ("file", *FEATURE_TYPES)

#: Columns of :attr:`FolderResult.errors`.
ERROR_COLUMNS: tuple[str, ...] = ("file", "error", "message")

#: Feature columns that need the pixels. ``headers_only=True`` leaves them empty.
INTENSITY_COLUMNS: tuple[str, ...] = tuple(column for column in FEATURE_TYPES if column.startswith("intensity_"))

# Files handed to a worker at a time: enough that inter-process traffic stays small next to reading,
# few enough that the progress bar moves and both workers finish at about the same time.
_MAX_CHUNK_SIZE = 32
_CHUNKS_PER_WORKER = 8

# Metadata keys that differ between files of one series or between studies. No feature column reads
# them, so FeatureMetadata leaves them out, and files that agree on every other element share one
# cache entry.
_PER_FILE_KEYS = frozenset({"SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "PatientID", "StudyDate"})

# The elements Deidentifier.metadata reads for the other keys. ContrastBolusAgentPresent is derived
# from ContrastBolusAgent, and SpecificCharacterSet decides how text values decode.
_CACHE_KEY_TAGS = tuple(
    tag for tag in (tag_for_keyword(keyword) for keyword in
                    (*METADATA_KEYS, "ContrastBolusAgent", "SpecificCharacterSet") if keyword not in _PER_FILE_KEYS)
    if tag is not None
)
_MAX_CACHED_HEADERS = 4096

_NO_STATISTICS = IntensityStatistics(0, None, None, None, None, {})


@dataclass(frozen=True)
class FolderResult:
    """Feature rows of the files read from a folder, and the files that could not be read.

    Attributes
    ----------
    features : pandas.DataFrame
        One row per file read, in :data:`FEATURE_COLUMNS` order and sorted by ``file``, the path
        relative to the folder with ``/`` separators. Numeric columns are float64 with NaN for missing
        values, the others object with None.
        Drop ``file`` and pass ``feature_types={c: FEATURE_TYPES[c] for c in columns}`` to
        :func:`workbench.monitoring.compute_baseline`. Columns that are empty in every row, such as
        ``kvp`` for MR only, must be dropped first (see :func:`~workbench.modality.features.features_frame`).
    errors : pandas.DataFrame
        One row per file that could not be read: ``file``, ``error`` (the exception's class name) and
        ``message`` (which names the file by its base name and never quotes a header value).
    headers_only : bool
        Whether the intensity columns were left empty because pixels were not read.
    """

    features: pd.DataFrame
    errors: pd.DataFrame
    headers_only: bool = False

    @property
    def file_count(self) -> int:
        """Files found, read or not."""
        return len(self.features) + len(self.errors)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready counts, feature rows and errors, with None for missing values."""
        return {
            "files": self.file_count,
            "processed": len(self.features),
            "failed": len(self.errors),
            "headers_only": self.headers_only,
            "features": _json_records(self.features),
            "errors": _json_records(self.errors),
        }


class FileOutcome(NamedTuple):
    """Outcome of reading one file: a feature row, or the error's class name and message."""

    file: str
    row: dict[str, Any] | None = None
    error: str | None = None
    message: str | None = None


def process_folder(folder: str | os.PathLike[str], *, workers: int = 2, progress: bool = True,
                   pattern: str | None = None, headers_only: bool = False,
                   salt: str | None = None) -> FolderResult:
    """Read every image file under ``folder`` into one feature row per file.

    Parameters
    ----------
    folder : path
        The folder, searched recursively. Files and folders whose names start with ``.`` are skipped,
        and symbolic links to folders are not followed.
    workers : int
        Worker processes. ``1`` reads every file in the calling process.
    progress : bool
        Show a ``tqdm.auto`` progress bar, which is a text bar on a terminal and a widget in a notebook.
    pattern : str, optional
        Glob pattern that a file's path relative to the folder must match, compared from the right as
        :meth:`pathlib.PurePath.match` does. ``"*.dcm"`` selects ``.dcm`` files at any depth.
    headers_only : bool
        Read DICOM files without their pixel data and leave the :data:`INTENSITY_COLUMNS` empty. Files
        of other formats are read whole, because their readers have no header-only mode, and their
        intensity columns are emptied as well. NOTE: a DICOM header with Rows and Columns gives a row
        even when the file lacks pixel data or its pixel data cannot be decoded, which a full read
        reports as an error.
    salt : str, optional
        Secret the pseudonyms derive from. Defaults to :func:`folder_salt`.

    Returns
    -------
    FolderResult

    Raises
    ------
    NotFoundError
        If ``folder`` does not exist.
    ValidationError
        If ``folder`` is not a directory, or ``workers`` is not a positive integer.
    ImageError
        If a worker process stops without returning, such as after a crash in a native decoder.
    """
    root = _checked_folder(folder)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValidationError(f"workers must be a positive integer, got {workers!r}; use 1 to read the files in "
                              "this process.", field="workers", value=workers)
    files = list_files(root, pattern)
    salt = salt or folder_salt()
    logger.info("reading %d file(s) with %d worker(s), headers_only=%s", len(files), workers, headers_only)

    with tqdm(total=len(files), unit="file", desc="images", disable=not progress) as bar:
        if workers == 1 or len(files) <= 1:
            reader = FileReader(salt)
            outcomes = []
            for relative in files:
                outcomes.append(reader.read(root, relative, headers_only=headers_only))
                bar.update(1)
        else:
            outcomes = _read_in_workers(root, files, workers, salt, headers_only, bar.update)

    result = _folder_result(outcomes, headers_only)
    if len(result.errors):
        logger.warning("%d of %d file(s) could not be read and were skipped", len(result.errors), result.file_count)
    logger.info("read %d of %d file(s)", len(result.features), result.file_count)
    return result


def list_files(root: Path, pattern: str | None = None) -> list[str]:
    """Return the paths of the files under ``root``, relative with ``/`` separators and sorted.

    Names starting with ``.`` are skipped, and symbolic links to folders are not followed.
    """
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        relative_directory = PurePosixPath(Path(directory).relative_to(root).as_posix())
        for name in names:
            relative = relative_directory / name
            if name.startswith(".") or (pattern is not None and not relative.match(pattern)):
                continue
            files.append(str(relative))
    return sorted(files)


@functools.cache
def folder_salt() -> str:
    """Return the salt for :func:`process_folder`: ``WORKBENCH_DEID_SALT``, else one random salt per process.

    The random salt is drawn once and reused by every later call in this process, so pseudonyms agree
    across calls. They differ from those of other processes, and from those of the process-wide
    :func:`~workbench.modality.dicom.default_deidentifier`, unless ``WORKBENCH_DEID_SALT`` is set.
    """
    salt = os.environ.get(SALT_VARIABLE)
    if salt:
        return salt
    logger.warning("%s is unset, so the folder reader uses a random salt. Pseudonyms agree only within this "
                   "process; set %s to keep them stable across runs.", SALT_VARIABLE, SALT_VARIABLE)
    return secrets.token_hex(32)


class FeatureMetadata:
    """De-identified metadata for feature rows, cached across files that share their acquisition settings.

    It implements the de-identifier interface the DICOM readers take. :meth:`metadata` runs
    :meth:`Deidentifier.metadata` on a copy of only the elements that the feature columns depend on,
    so per-file values such as SOPInstanceUID and StudyDate are neither read nor returned (their keys
    are None). The result is cached on the raw bytes of those elements, so de-identification runs
    about once per series, and whether it succeeds never depends on the order of the files.

    The cache keys hold raw element bytes, StationName among them, in this process's memory only.
    """

    def __init__(self, deidentifier: Deidentifier) -> None:
        self.deidentifier = deidentifier
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    def dataset(self, ds: Dataset) -> Dataset:
        """Return :meth:`Deidentifier.dataset` of ``ds``."""
        return self.deidentifier.dataset(ds)

    def metadata(self, ds: Dataset) -> dict[str, Any]:
        """Return :meth:`Deidentifier.metadata` of the feature elements of ``ds``, with per-file keys None."""
        elements = [ds.get_item(tag) for tag in _CACHE_KEY_TAGS]
        key = tuple(_hashable(element) for element in elements)
        cached = self._cache.get(key)
        if cached is None:
            subset = Dataset()
            for element in elements:
                if element is not None:
                    subset[element.tag] = element
            # Messages of the de-identifier name the file by this attribute.
            subset.filename = getattr(ds, "filename", None)
            cached = self.deidentifier.metadata(subset)
            if len(self._cache) >= _MAX_CACHED_HEADERS:
                self._cache.clear()
            self._cache[key] = cached
        return dict(cached)


class FileReader:
    """Reader of files into feature rows, with one de-identifier built from the salt :func:`process_folder` chose.

    Each worker process has one instance.
    """

    def __init__(self, salt: str) -> None:
        self.metadata = FeatureMetadata(Deidentifier(salt=salt))

    def read(self, root: Path, relative: str, *, headers_only: bool = False) -> FileOutcome:
        """Read one file into a feature row, or into an error outcome when it cannot be read."""
        path = root / relative
        try:
            row = self._header_row(path) if headers_only else self._full_row(path)
        except WorkbenchError as error:
            outcome = FileOutcome(relative, error=type(error).__name__, message=str(error))
        except OSError as error:
            # str(error) contains the full path, which may name the patient.
            outcome = FileOutcome(relative, error=type(error).__name__,
                                  message=f"{path.name} could not be read: {error.strerror or 'I/O error'}")
        except Exception as error:  # noqa: BLE001 - one broken file must not stop the batch
            outcome = FileOutcome(relative, error=type(error).__name__, message=(
                f"{path.name}: unexpected {type(error).__name__} while reading. Its text is withheld because it "
                "may quote header values; call process_image on this file to see it."))
        else:
            logger.debug("read %s", relative)
            return FileOutcome(relative, row={"file": relative, **row})
        logger.debug("could not read %s: %s", relative, outcome.error)
        return outcome

    def _full_row(self, path: Path) -> dict[str, Any]:
        return image_features(process_image(path, deidentifier=self.metadata))

    def _header_row(self, path: Path) -> dict[str, Any]:
        """Return the features of a DICOM header read without pixel data, with empty intensity columns.

        Other formats are read whole by :meth:`_full_row`. So is a file that detection does not
        recognise and that is not DICOM, so that its error is the one :func:`process_image` raises.
        """
        detected = detect_format(path)
        if detected in ("dicom", None):
            try:
                with header_values_unlogged():
                    ds, _ = read_dataset(path, stop_before_pixels=True)
                    return image_features(self._header_record(ds, path.name))
            except NotDicomError:
                if detected == "dicom":
                    raise
        row = self._full_row(path)
        return {**row, **dict.fromkeys(INTENSITY_COLUMNS)}

    def _header_record(self, ds: Dataset, name: str) -> ImageRecord:
        """Build a record that has the header's shape but no pixel values, for :func:`image_features`."""
        if "Rows" not in ds or "Columns" not in ds:
            raise ImageError(f"{name} contains no image: it has no Rows and Columns", source=name)
        frame_count = read_frame_count(ds, name)
        metadata = self.metadata.metadata(ds)

        # Features read the in-plane spacing from PixelSpacing when the header has it, so geometry is
        # computed only when they would take a spacing from the record.
        geometry = None
        if frame_count > 1 or metadata.get("PixelSpacing") is None:
            geometry = image_geometry(ds, frame_count)

        shape, axes = [int(ds.Rows), int(ds.Columns)], "row,column"
        if frame_count > 1:
            shape, axes = [frame_count, *shape], "frame," + axes
        samples = int(ds.get("SamplesPerPixel") or 1)
        if samples > 1:
            shape, axes = [*shape, samples], axes + ",sample"
        modality = ds.get("Modality")
        return ImageRecord(
            # A zero-strided view: the shape image_features reads, without memory for pixels.
            pixels=np.broadcast_to(np.int16(0), shape),
            format="dicom",
            modality=str(modality) if modality else None,
            spacing=None if geometry is None else geometry.spacing,
            axes=axes,
            frame_count=frame_count,
            photometric_interpretation=str(ds.get("PhotometricInterpretation") or "") or None,
            metadata=metadata,
            statistics=_NO_STATISTICS,
            source=name,
        )


def _hashable(element: Any) -> Any:
    """Return a hashable form of an element's value without converting it, or None when it is absent."""
    if element is None:
        return None
    value = element.value
    if isinstance(value, bytes):
        # Binary values such as US Rows read differently in little and big endian.
        return value, getattr(element, "is_little_endian", True)
    return repr(value)


# Worker processes ------------------------------------------------------------------------------------

_worker_reader: FileReader | None = None


def _start_worker(salt: str) -> None:
    global _worker_reader
    _worker_reader = FileReader(salt)


def _read_chunk(root: str, files: list[str], headers_only: bool) -> list[FileOutcome]:
    assert _worker_reader is not None, "the worker was started without _start_worker"
    return [_worker_reader.read(Path(root), relative, headers_only=headers_only) for relative in files]


def _read_in_workers(root: Path, files: list[str], workers: int, salt: str, headers_only: bool,
                     advance: Callable[[int], Any]) -> list[FileOutcome]:
    """Read ``files`` in chunks on a process pool, calling ``advance`` with each finished chunk's size."""
    chunk_size = max(1, min(_MAX_CHUNK_SIZE, math.ceil(len(files) / (workers * _CHUNKS_PER_WORKER))))
    chunks = [files[start:start + chunk_size] for start in range(0, len(files), chunk_size)]
    outcomes: list[FileOutcome] = []
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), initializer=_start_worker,
                                 initargs=(salt,)) as pool:
            futures: dict[Future[list[FileOutcome]], int] = {
                pool.submit(_read_chunk, str(root), chunk, headers_only): len(chunk) for chunk in chunks}
            for future in as_completed(futures):
                outcomes.extend(future.result())
                advance(futures[future])
    except BrokenProcessPool as error:
        # NOTE: the files of the chunk that crashed are not identified; DEBUG logs show the last file
        # each worker finished.
        raise ImageError("A worker process stopped while reading the folder, for example after a crash in a "
                         "native decoder. Run again with DEBUG logging to see the last files read, and move "
                         "the file that follows them out of the folder.") from error
    return outcomes


# Results ---------------------------------------------------------------------------------------------

def _folder_result(outcomes: Iterable[FileOutcome], headers_only: bool) -> FolderResult:
    ordered = sorted(outcomes, key=lambda outcome: outcome.file)
    rows = [outcome.row for outcome in ordered if outcome.row is not None]
    failures = [(outcome.file, outcome.error, outcome.message) for outcome in ordered if outcome.row is None]

    # dtype=object keeps None in text columns, where pandas 3 would infer a string dtype with NaN.
    features = pd.DataFrame(rows, columns=list(FEATURE_COLUMNS), dtype=object)
    for column, kind in FEATURE_TYPES.items():
        if kind == NUMERIC:
            features[column] = pd.to_numeric(features[column], errors="coerce").astype("float64")
    errors = pd.DataFrame(failures, columns=list(ERROR_COLUMNS), dtype=object)
    return FolderResult(features=features, errors=errors, headers_only=headers_only)


def _checked_folder(folder: str | os.PathLike[str]) -> Path:
    root = Path(folder)
    if not root.exists():
        raise NotFoundError(f"{root.name}: no such folder; check the path.", kind="folder", key=root.name)
    if not root.is_dir():
        raise ValidationError(f"{root.name} is a file, not a folder; read one file with process_image.",
                              field="folder", value=root.name)
    return root


def _json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cleaned = frame.astype(object).where(frame.notna(), None)
    return [{key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
            for row in cleaned.to_dict(orient="records")]
