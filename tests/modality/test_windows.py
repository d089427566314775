"""Display windows: the window mapping, the CT presets, the auto window and the checks on units and names."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from workbench.errors import ValidationError
from workbench.modality.process import process_image
from workbench.modality.record import ImageRecord
from workbench.modality.windows import (
    AUTO,
    PRESETS,
    WINDOW_NAMES,
    DisplayWindow,
    apply_window,
    auto_window,
    custom,
    parse_window_names,
    select_windows,
    window_for,
)


def _ct_record(pixels: np.ndarray | None = None) -> ImageRecord:
    values = np.array([[-1000, -160], [40, 240]], dtype=np.int16) if pixels is None else pixels
    return ImageRecord(pixels=values, format="dicom", modality="CT", units="HU", source="ct.dcm")


def _nifti_record(pixels: np.ndarray) -> ImageRecord:
    return ImageRecord(pixels=pixels, format="nifti", units=None, coordinate_system="RAS", axes="i,j,k",
                       source="volume.nii.gz")


@pytest.fixture(scope="module")
def mr_record() -> ImageRecord:
    return process_image(get_testdata_file("MR_small.dcm", download=False))


def test_apply_window_hand_calculation() -> None:
    # Level 40, width 400 shows 40 - 200 = -160 as black and 40 + 200 = 240 as white, 40 as mid-grey.
    mapped = apply_window(np.array([-160.0, 240.0, 40.0]), level=40, width=400)

    assert mapped[0] == 0.0
    assert mapped[1] == 1.0
    assert mapped[2] == 0.5


def test_apply_window_clips_outside_values() -> None:
    mapped = apply_window(np.array([-1000.0, -161.0, 241.0, 3071.0]), level=40, width=400)

    assert mapped.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_apply_window_linear_inside() -> None:
    # (x - 40) / 400 + 0.5 at x = -60 and x = 140: 0.25 and 0.75, exact in binary floating point.
    mapped = apply_window(np.array([-60, 140], dtype=np.int16), level=40, width=400)

    assert mapped.tolist() == [0.25, 0.75]
    assert mapped.dtype == np.float64


def test_apply_window_keeps_nan() -> None:
    mapped = apply_window(np.array([np.nan, 40.0]), level=40, width=400)

    assert np.isnan(mapped[0])
    assert mapped[1] == 0.5


def test_apply_window_leaves_input_unchanged() -> None:
    pixels = np.array([[-1000, 0], [40, 3000]], dtype=np.int16)
    original = copy.deepcopy(pixels)

    apply_window(pixels, level=40, width=400)

    assert np.array_equal(pixels, original)


def test_apply_window_matches_pydicom_linear_exact() -> None:
    # pydicom's apply_windowing maps into 0 .. 2**BitsStored - 1 when no rescale is declared, so one
    # bit stored, unsigned, gives the same 0 .. 1 output range.
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 1
    ds.PixelRepresentation = 0
    ds.WindowCenter = -600
    ds.WindowWidth = 1500
    ds.VOILUTFunction = "LINEAR_EXACT"
    values = np.linspace(-1500.0, 500.0, 81)

    expected = apply_windowing(values.copy(), ds)

    assert np.allclose(apply_window(values, level=-600, width=1500), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("width", [0, -400, float("nan"), float("inf"), "wide"])
def test_apply_window_rejects_invalid_width(width) -> None:
    with pytest.raises(ValidationError, match="window width must be a finite number greater than 0"):
        apply_window(np.zeros(2), level=40, width=width)


def test_apply_window_rejects_invalid_level() -> None:
    with pytest.raises(ValidationError, match="window level must be a finite number"):
        apply_window(np.zeros(2), level=float("nan"), width=400)


@pytest.mark.parametrize(("name", "level", "width"), [
    # Radiopaedia "Windowing (CT)": lungs W:1500 L:-600, brain W:80 L:40, bone W:1800 L:400.
    ("lung", -600.0, 1500.0),
    ("brain", 40.0, 80.0),
    ("bone", 400.0, 1800.0),
    # OHIF Viewer default CT presets: soft tissue W 400 L 40.
    ("mediastinum", 40.0, 400.0),
])
def test_preset_values(name: str, level: float, width: float) -> None:
    window = PRESETS[name]

    assert window.level == level
    assert window.width == width
    assert window.units == "HU"


def test_preset_lung_range() -> None:
    # -600 - 1500 / 2 = -1350 and -600 + 1500 / 2 = 150.
    window = PRESETS["lung"]

    assert window.lower == -1350.0
    assert window.upper == 150.0


def test_preset_label() -> None:
    assert PRESETS["bone"].label == "bone: L 400 / W 1800 HU"


def test_window_names_list_presets_and_auto() -> None:
    assert WINDOW_NAMES == ("lung", "mediastinum", "bone", "brain", "auto")


def test_window_for_ct_returns_preset() -> None:
    assert window_for(_ct_record(), "lung") is PRESETS["lung"]


def test_window_for_ignores_case_and_spaces() -> None:
    assert window_for(_ct_record(), " Mediastinum ") is PRESETS["mediastinum"]


def test_hu_preset_on_mr_rejected(mr_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="window preset 'lung' is for CT values in Hounsfield units") as raised:
        window_for(mr_record, "lung")

    message = str(raised.value)
    assert "MR_small.dcm has units not declared (modality MR)" in message
    assert "Use the 'auto' window" in message
    assert "custom(level=-600, width=1500)" in message
    assert raised.value.field == "window"
    assert raised.value.value == "lung"


def test_hu_preset_on_nifti_rejected() -> None:
    record = _nifti_record(np.arange(24, dtype=np.int16).reshape(2, 3, 4))

    with pytest.raises(ValidationError, match="window preset 'brain' is for CT values in Hounsfield units"):
        window_for(record, "brain")


def test_hu_custom_window_on_mr_rejected(mr_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="Hounsfield units"):
        window_for(mr_record, custom(40, 400, units="HU"))


def test_unknown_window_rejected() -> None:
    with pytest.raises(ValidationError, match="unknown window preset 'liver'; use one of lung, mediastinum, bone, "
                                              "brain, auto, or custom"):
        window_for(_ct_record(), "liver")


def test_auto_window_percentiles() -> None:
    # numpy's linear percentiles of 0, 1, ..., 100 are 1.0 (1st) and 99.0 (99th): level 50, width 98.
    record = _nifti_record(np.arange(101, dtype=np.int16).reshape(101, 1, 1))

    window = auto_window(record)

    assert window.name == AUTO
    assert window.level == 50.0
    assert window.width == 98.0
    assert window.units is None


def test_auto_window_for_mr(mr_record: ImageRecord) -> None:
    window = window_for(mr_record, "auto")

    assert window.lower == pytest.approx(mr_record.statistics.percentiles["p1"], abs=1e-9)
    assert window.upper == pytest.approx(mr_record.statistics.percentiles["p99"], abs=1e-9)


def test_auto_window_keeps_record_units() -> None:
    assert auto_window(_ct_record()).units == "HU"


def test_auto_window_on_raster() -> None:
    # A 2x2 grey PNG-like record with values 0, 0, 0, 255: the 1st percentile is 0 and the 99th is
    # 0.97 * 255 = 247.35 (linear interpolation between the 3rd and 4th sorted values).
    record = ImageRecord(pixels=np.array([[0, 0], [0, 255]], dtype=np.uint8), format="png")

    window = auto_window(record)

    assert window.lower == 0.0
    assert window.upper == pytest.approx(247.35, abs=1e-9)


def test_auto_window_constant_image() -> None:
    record = _nifti_record(np.full((2, 2, 2), 7.0))

    window = auto_window(record)

    assert window.level == 7.0
    assert window.width == 1.0


def test_auto_window_equal_percentiles_use_range() -> None:
    # 200 zeros and one 10: both percentiles are 0, so the window spans the minimum 0 to the maximum 10.
    values = np.zeros(201)
    values[-1] = 10.0
    record = _nifti_record(values.reshape(201, 1, 1))

    window = auto_window(record)

    assert window.lower == 0.0
    assert window.upper == 10.0


def test_auto_window_without_finite_values_rejected() -> None:
    record = _nifti_record(np.full((2, 2, 1), np.nan))

    with pytest.raises(ValidationError, match="volume.nii.gz has no finite pixel value"):
        auto_window(record)


def test_custom_window() -> None:
    window = custom(100, 50, units="HU")

    assert window.name == "custom"
    assert window.lower == 75.0
    assert window.upper == 125.0
    assert window.units == "HU"


def test_custom_window_rejects_zero_width() -> None:
    with pytest.raises(ValidationError, match="got 0"):
        custom(40, 0)


def test_custom_window_passes_through_window_for(mr_record: ImageRecord) -> None:
    window = custom(300, 600)

    assert window_for(mr_record, window) is window


def test_display_window_to_dict() -> None:
    assert PRESETS["brain"].to_dict() == {"name": "brain", "level": 40.0, "width": 80.0, "lower": 0.0,
                                          "upper": 80.0, "units": "HU"}


def test_display_window_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PRESETS["lung"].level = 0.0  # type: ignore[misc]


def test_display_window_rejects_negative_width() -> None:
    with pytest.raises(ValidationError, match="got -1"):
        DisplayWindow("narrow", 0, -1)


def test_parse_window_names() -> None:
    assert parse_window_names("lung,mediastinum,bone") == ("lung", "mediastinum", "bone")


def test_parse_window_names_drops_repeats_and_blanks() -> None:
    assert parse_window_names(" Brain, ,auto,brain,") == ("brain", "auto")


def test_parse_window_names_empty() -> None:
    assert parse_window_names("") == ()


def test_parse_window_names_rejects_unknown() -> None:
    with pytest.raises(ValidationError, match="unknown window preset 'lungs' in 'lungs,bone'") as raised:
        parse_window_names("lungs,bone")

    assert raised.value.field == "presets"


def test_select_windows_adds_custom() -> None:
    windows = select_windows(_ct_record(), ["lung"], level=50, width=350)

    assert [window.name for window in windows] == ["lung", "custom"]
    assert windows[1].level == 50.0
    assert windows[1].width == 350.0
    assert windows[1].units == "HU"


def test_select_windows_without_custom() -> None:
    windows = select_windows(_ct_record(), ["bone", "auto"])

    assert [window.name for window in windows] == ["bone", "auto"]


def test_select_windows_rejects_level_without_width() -> None:
    with pytest.raises(ValidationError, match="a custom window with level 40 needs a width greater than 0"):
        select_windows(_ct_record(), ["lung"], level=40, width=0)


def test_select_windows_rejects_negative_width() -> None:
    with pytest.raises(ValidationError, match="window width must be a finite number greater than 0, got -5"):
        select_windows(_ct_record(), ["lung"], level=40, width=-5)


def test_select_windows_rejects_empty_selection() -> None:
    with pytest.raises(ValidationError, match="no display window was selected"):
        select_windows(_ct_record(), [])


def test_select_windows_rejects_hu_preset_on_mr(mr_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="window preset 'mediastinum' is for CT values"):
        select_windows(mr_record, ["auto", "mediastinum"])
