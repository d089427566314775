"""NIfTI-1 and NIfTI-2 images (``.nii``, ``.nii.gz``, ``.hdr``/``.img`` pairs) read through nibabel.

A record contains one 3D volume. A 4D series is read one volume at a time through nibabel's array proxy
(``dataobj[..., t]``), so only that volume's bytes are read and held: :func:`read_nifti` takes the
volume index and :func:`iter_volumes` yields every volume in turn.

Values, geometry and metadata follow the NIfTI-1 header definition (``nifti1.h``, NIfTI Data Format
Working Group, 2003), which NIfTI-2 keeps with wider fields:

- Scaling: ``y = scl_slope * x + scl_inter`` when ``scl_slope`` is nonzero. A slope of 0 or NaN means the
  stored values are the true values. Scaling is ignored for RGB data. nibabel's array proxy applies the
  scaling when sliced (nibabel 5.4), and this module checks the proxy's slope and intercept against the
  header so that the scaling is applied exactly once.
- Geometry: the sform (method 3) when ``sform_code > 0``, else the qform (method 2) when
  ``qform_code > 0``, else ``x = pixdim[1] * i`` and so on (method 1), which has no defined orientation.
  The world coordinates are RAS. ``xyzt_units`` gives the unit of pixdim and of the world coordinates,
  and records hold millimetres.
- Metadata: dimensions, pixdim, units, datatype, scaling and the xform and intent codes. The free-text
  fields ``descrip``, ``aux_file``, ``db_name`` and ``intent_name`` and the contents of header extensions
  (an extension with code 2 carries a whole DICOM header) may name a patient, so they are never copied;
  only the extension codes are kept.
"""

from __future__ import annotations

import gzip
import io
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
from nibabel.arrayproxy import ArrayProxy
from nibabel.filebasedimages import ImageFileError
from nibabel.spatialimages import HeaderDataError
from numpy.lib import recfunctions

from workbench.errors import ImageError, NotFoundError, ValidationError, WorkbenchWarning
from workbench.modality.record import ImageRecord

#: Factor from each NIfTI spatial unit (``xyzt_units`` bits 0-2) to millimetres.
SPATIAL_UNIT_TO_MM = {"meter": 1000.0, "mm": 1.0, "micron": 0.001}

#: Factor from each NIfTI temporal unit (``xyzt_units`` bits 3-5) to seconds.
TIME_UNIT_TO_S = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}

#: Largest difference, in millimetres (or millimetres per voxel step for the 3×3 part), between any
#: element of the sform and qform matrices before the two count as disagreeing. The qform is stored as a
#: float32 quaternion, so even a faithful copy of the sform differs a little: by 1.4e-4 in nibabel's
#: ``example_nifti2.nii.gz`` and by 9.4e-8 in its ``example4d.nii.gz``.
AFFINE_TOLERANCE_MM = 1e-3

_Source = str | Path | bytes


def read_nifti(source: _Source, *, volume: int | None = None) -> ImageRecord:
    """Read one volume of a NIfTI file in physical values, with its RAS geometry.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        A ``.nii``, ``.nii.gz`` or ``.hdr`` file, or the bytes of a single-file NIfTI (gzipped or not).
    volume : int, optional
        0-based index along the fourth (time) axis. Defaults to the first volume; only 0 is valid for a
        3D file.

    Returns
    -------
    ImageRecord
        ``pixels`` of shape ``(i, j, k)`` in float64 when the header scales the values, else in the stored
        type widened to a signed type. ``frame_count`` is the number of volumes, and
        ``metadata["volume_index"]`` is the index of the volume the record contains.

    Raises
    ------
    NotFoundError
        The file does not exist.
    ImageError
        The file is not NIfTI, or contains complex or vector-valued (5D) data.
    ValidationError
        ``volume`` is outside the file's volumes.

    Warns
    -----
    WorkbenchWarning
        Both sform and qform are set and differ by more than :data:`AFFINE_TOLERANCE_MM`.

    Examples
    --------
    >>> from nibabel.testing import data_path
    >>> record = read_nifti(f"{data_path}/anatomical.nii")
    >>> record.shape, record.coordinate_system, record.metadata["affine_source"]
    ((33, 41, 25), 'RAS', 'sform')
    """
    image, header, name = _open(source, keep_file_open=False)
    reader = _VolumeReader(image, header, name)
    reader.warn_if_xforms_disagree()
    index = 0 if volume is None else _checked_volume(volume, reader.volume_count, name)
    return reader.record(index)


def iter_volumes(source: _Source) -> Iterator[ImageRecord]:
    """Yield every volume of a NIfTI file as its own record, reading one volume at a time.

    The file stays open between volumes, so a gzipped file is decompressed once from start to end rather
    than once per volume. A 3D file yields one record. Arguments and records are as in
    :func:`read_nifti`.
    """
    image, header, name = _open(source, keep_file_open=True)
    reader = _VolumeReader(image, header, name)
    reader.warn_if_xforms_disagree()
    for index in range(reader.volume_count):
        yield reader.record(index)


class _VolumeReader:
    """Geometry and metadata of one opened file, computed once, and a reader for its volumes."""

    def __init__(self, image: Any, header: Any, name: str) -> None:
        self.name = name
        self.header = header
        self.shape = tuple(int(size) for size in image.shape)
        self.notes: list[str] = []
        self.proxy = _proxy_with_standard_scaling(image.dataobj, header)
        self.rgb = header.get_data_dtype().names is not None
        self._check_supported()
        self.volume_count = self.shape[3] if len(self.shape) >= 4 else 1
        self.affine, self.affine_source, self.xform_difference = _choose_affine(header, self.notes)
        self.metadata = _header_metadata(header, self.shape, self.affine_source)
        self.metadata.update(_repetition_time(header, self.shape, self.notes))

    def _check_supported(self) -> None:
        if self.header.get_data_dtype().kind == "c":
            raise ImageError(f"{self.name}: complex NIfTI data ({self.header.get_data_dtype()}) is not "
                             "supported; save the magnitude or the real part as a real-valued NIfTI first",
                             source=self.name)
        if len(self.shape) < 2:
            raise ImageError(f"{self.name}: NIfTI data of shape {self.shape} is not an image; expected 2 to "
                             "4 dimensions", source=self.name)
        if any(size != 1 for size in self.shape[4:]):
            raise ImageError(f"{self.name}: vector-valued NIfTI data of shape {self.shape} (dim[5] and above "
                             "greater than 1) is not supported; split it into 4D files first",
                             source=self.name)

    def warn_if_xforms_disagree(self) -> None:
        if self.xform_difference is not None:
            warnings.warn(f"{self.name}: sform and qform differ by up to {self.xform_difference:.4g} mm; the "
                          "sform was used, as sform_code > 0", WorkbenchWarning, stacklevel=3)

    def record(self, index: int) -> ImageRecord:
        """Read volume ``index`` through the proxy and wrap it in a record."""
        # Only this volume's bytes are read. Trailing axes of length 1 (dim[5] and above) are dropped.
        spatial = min(len(self.shape), 3)
        slicer = (slice(None),) * spatial
        if len(self.shape) >= 4:
            slicer += (index,) + (0,) * (len(self.shape) - 4)
        try:
            data = np.asarray(self.proxy[slicer])
        except (OSError, EOFError, zlib.error) as error:
            # nibabel reports a file shorter than its header promises as an OSError that quotes the path.
            raise ImageError(f"{self.name}: the voxel data of volume {index} could not be read "
                             f"({type(error).__name__}); the file is probably cut short. Copy it again from "
                             "its source.", source=self.name) from None
        pixels = _physical_array(data, scaled=self.metadata["scaling_applied"], rgb=self.rgb)

        notes = list(self.notes)
        if self.volume_count > 1:
            notes.append(f"volume {index} of {self.volume_count} held (0-based); read others with volume= "
                         "or iter_volumes")
        axes = ",".join("ijk"[:spatial]) + (",sample" if self.rgb else "")
        return ImageRecord(
            pixels=pixels, format="nifti", modality=None, units=None,
            spacing=_spacing(self.affine, spatial), direction=_direction(self.affine),
            affine=self.affine.copy(), coordinate_system="RAS", axes=axes, frame_count=self.volume_count,
            photometric_interpretation=_photometric(pixels, self.rgb),
            metadata={**self.metadata, "volume_index": index, "volume_count": self.volume_count},
            notes=tuple(notes), source=self.name)


def _open(source: _Source, *, keep_file_open: bool) -> tuple[Any, Any, str]:
    """Open ``source`` with nibabel and read its header as stored, before nibabel resets any field."""
    if isinstance(source, bytes | bytearray):
        name = "<bytes>"
    else:
        path = Path(source)
        name = path.name
        if not path.is_file():
            raise NotFoundError(f"{name}: no such NIfTI file", kind="file", key=name)
    try:
        if isinstance(source, bytes | bytearray):
            image = _image_from_bytes(bytes(source))
        else:
            # mmap=False so that unscaled pixels are a copy in memory, not a view of a mapped file.
            image = nibabel.load(str(source), mmap=False, keep_file_open=keep_file_open)
    except (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error) as error:
        raise ImageError(f"{name}: not a readable NIfTI file ({type(error).__name__}); expected a .nii, "
                         ".nii.gz or .hdr/.img file", source=name) from error
    if not isinstance(image, nibabel.Nifti1Pair):
        raise ImageError(f"{name}: nibabel read it as {type(image).__name__}, not NIfTI; expected a .nii, "
                         ".nii.gz or .hdr/.img file", source=name)
    holder = image.file_map.get("header", image.file_map["image"])
    with holder.get_prepare_fileobj(mode="rb") as fileobj:
        header = image.header_class.from_fileobj(fileobj)
    return image, header, name


def _image_from_bytes(data: bytes) -> Any:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    # sizeof_hdr is 348 for NIfTI-1 and 540 for NIfTI-2, in either byte order.
    sizes = {int.from_bytes(data[:4], "little"), int.from_bytes(data[:4], "big")}
    image_class = nibabel.Nifti2Image if 540 in sizes else nibabel.Nifti1Image
    return image_class.from_stream(io.BytesIO(data))


def _standard_scaling(header: Any) -> tuple[float, float] | None:
    """Return the (slope, intercept) that nifti1.h prescribes, or None when the values are unscaled."""
    slope = float(header["scl_slope"])
    intercept = float(header["scl_inter"])
    if slope == 0 or not np.isfinite(slope) or header.get_data_dtype().names is not None:
        return None
    if (slope, intercept) == (1.0, 0.0):
        return None
    return slope, intercept


def _proxy_with_standard_scaling(proxy: Any, header: Any) -> Any:
    """Return ``proxy``, or a copy of it with the header's scaling when nibabel chose another one."""
    expected = _standard_scaling(header) or (1.0, 0.0)
    if (float(proxy.slope), float(proxy.inter)) == expected:
        return proxy
    spec = (proxy.shape, proxy.dtype, proxy.offset, *expected)
    return ArrayProxy(proxy.file_like, spec, mmap=False)


def _physical_array(data: np.ndarray, *, scaled: bool, rgb: bool) -> np.ndarray:
    """Return ``data`` as float64 when scaled, as ``(..., samples)`` uint8 for RGB, else signed."""
    if rgb:
        return recfunctions.structured_to_unstructured(data).astype(np.uint8)
    if scaled:
        return data.astype(np.float64, copy=False)
    if data.dtype.kind != "u" or data.dtype.itemsize == 1:
        return data
    if data.dtype.itemsize >= 8:
        if data.size and data.max() > np.iinfo(np.int64).max:
            return data.astype(np.float64)
        return data.astype(np.int64)
    return data.astype(np.dtype(f"i{2 * data.dtype.itemsize}"))


def _choose_affine(header: Any, notes: list[str]) -> tuple[np.ndarray, str, float | None]:
    """Pick the sform, qform or pixdim affine by the codes, in millimetres.

    Returns the affine, which transform it came from, and the largest sform-qform difference in mm when
    both are set and differ by more than :data:`AFFINE_TOLERANCE_MM`.
    """
    sform_code = int(header["sform_code"])
    qform_code = int(header["qform_code"])
    if sform_code > 0:
        affine, affine_source = header.get_sform(), "sform"
    elif qform_code > 0:
        affine, affine_source = header.get_qform(), "qform"
    else:
        pixdim = [float(value) for value in header["pixdim"][1:4]]
        affine, affine_source = np.diag([*pixdim, 1.0]), "pixdim"
        notes.append("sform_code and qform_code are 0: the affine scales by pixdim only (NIfTI-1 method 1), "
                     "which defines no orientation, and RAS is assumed")

    unit = header.get_xyzt_units()[0]
    factor = SPATIAL_UNIT_TO_MM.get(unit, 1.0)
    if unit not in SPATIAL_UNIT_TO_MM:
        notes.append(f"spatial unit in xyzt_units is {unit!r}: millimetres assumed")
    affine = np.asarray(affine, dtype=np.float64).copy()
    affine[:3, :] *= factor

    difference = None
    if sform_code > 0 and qform_code > 0:
        largest = float(np.max(np.abs(header.get_sform()[:3, :] - header.get_qform()[:3, :]))) * factor
        if largest > AFFINE_TOLERANCE_MM:
            difference = largest
            notes.append(f"sform and qform differ by up to {largest:.4g} mm; the sform was used")
    return affine, affine_source, difference


def _spacing(affine: np.ndarray, spatial: int) -> tuple[float, ...]:
    return tuple(float(value) for value in np.linalg.norm(affine[:3, :spatial], axis=0))


def _direction(affine: np.ndarray) -> np.ndarray:
    lengths = np.linalg.norm(affine[:3, :3], axis=0)
    return np.divide(affine[:3, :3], lengths, out=np.zeros((3, 3)), where=lengths > 0)


def _photometric(pixels: np.ndarray, rgb: bool) -> str:
    if not rgb:
        return "MONOCHROME2"
    return "RGBA" if pixels.shape[-1] == 4 else "RGB"


def _label(header: Any, field: str) -> str:
    try:
        return str(header.get_value_label(field))
    except (KeyError, ValueError):
        return str(int(header[field]))


def _header_metadata(header: Any, shape: tuple[int, ...], affine_source: str) -> dict[str, Any]:
    """Collect the technical header fields. Free-text fields and extension contents are left out."""
    spatial_unit, time_unit = header.get_xyzt_units()
    scaling = _standard_scaling(header)
    return {
        "nifti_version": 2 if isinstance(header, nibabel.Nifti2Header) else 1,
        "magic": bytes(header["magic"]).split(b"\x00")[0].decode("ascii", "replace"),
        "dims": list(shape),
        "pixdim": [float(value) for value in header["pixdim"][1:len(shape) + 1]],
        "spatial_unit": spatial_unit,
        "time_unit": time_unit,
        "datatype": _label(header, "datatype"),
        "bitpix": int(header["bitpix"]),
        "scl_slope": float(header["scl_slope"]),
        "scl_inter": float(header["scl_inter"]),
        "scaling_applied": scaling is not None,
        "sform_code": _label(header, "sform_code"),
        "qform_code": _label(header, "qform_code"),
        "affine_source": affine_source,
        "intent_code": _label(header, "intent_code"),
        "extension_codes": [int(extension.get_code()) for extension in header.extensions],
    }


def _repetition_time(header: Any, shape: tuple[int, ...], notes: list[str]) -> dict[str, Any]:
    """Return pixdim[4] with its unit, and in seconds when the unit is a time unit."""
    if len(shape) < 4:
        return {}
    raw = float(header["pixdim"][4])
    unit = header.get_xyzt_units()[1]
    seconds = raw * TIME_UNIT_TO_S[unit] if unit in TIME_UNIT_TO_S else None
    if seconds is None:
        notes.append(f"unit of the fourth axis in xyzt_units is {unit!r}, not a time unit: repetition time "
                     "not converted to seconds")
    return {"repetition_time": raw, "repetition_time_unit": unit, "repetition_time_s": seconds}


def _checked_volume(volume: int, count: int, name: str) -> int:
    if isinstance(volume, bool) or not isinstance(volume, int | np.integer) or not 0 <= volume < count:
        raise ValidationError(f"{name}: volume must be an integer from 0 to {count - 1}, got {volume!r}",
                              field="volume", value=volume)
    return int(volume)
