"""Figures of image records: windowed views, montage, histogram, and the planes they draw."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.figure import Figure
from pydicom.data import get_testdata_file

from workbench.errors import ValidationError
from workbench.modality.plots import (
    plot_histogram,
    plot_montage,
    plot_windowed_views,
    select_plane,
    stack_length,
)
from workbench.modality.process import process_image
from workbench.modality.record import ImageRecord
from workbench.modality.windows import PRESETS, auto_window, custom


@pytest.fixture(autouse=True)
def _no_open_figures():
    """Start each test without open figures, and close what a failed test left open."""
    plt.close("all")
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def ct_record() -> ImageRecord:
    return process_image(get_testdata_file("CT_small.dcm", download=False))


@pytest.fixture(scope="module")
def mr_record() -> ImageRecord:
    return process_image(get_testdata_file("MR_small.dcm", download=False))


def _series(slices: int = 3, rows: int = 2, columns: int = 2) -> ImageRecord:
    """A CT volume whose slice k has the value 100 * (k + 1) everywhere, spacing 5 mm between slices."""
    pixels = np.stack([np.full((rows, columns), 100 * (k + 1), dtype=np.int16) for k in range(slices)])
    return ImageRecord(pixels=pixels, format="dicom-series", modality="CT", units="HU", spacing=(5.0, 0.5, 1.0),
                       coordinate_system="LPS", axes="slice,row,column", frame_count=slices, source="series")


def _nifti(shape: tuple[int, int, int] = (4, 3, 5)) -> ImageRecord:
    pixels = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    return ImageRecord(pixels=pixels, format="nifti", spacing=(1.0, 2.0, 3.0), coordinate_system="RAS", axes="i,j,k",
                       source="volume.nii.gz")


def _image_data(figure: Figure, panel: int = 0) -> np.ndarray:
    return np.asarray(figure.axes[panel].get_images()[0].get_array())


def test_windowed_views_returns_one_figure(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record)

    assert isinstance(figure, Figure)
    assert plt.get_fignums() == [figure.number]


def test_windowed_views_closed_by_caller(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record)

    plt.close(figure)

    assert plt.get_fignums() == []


def test_windowed_views_panel_per_preset(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record, ["lung", "mediastinum", "bone", "brain"])

    assert len(figure.axes) == 4


def test_windowed_views_default_presets(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record)

    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["lung: L -600 / W 1500 HU", "mediastinum: L 40 / W 400 HU", "bone: L 400 / W 1800 HU"]


def test_windowed_views_custom_title(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record, [custom(50, 350, units="HU")])

    assert figure.axes[0].get_title() == "custom: L 50 / W 350 HU"


def test_windowed_views_figure_title(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record, ["lung"])

    assert figure.get_suptitle() == "CT_small.dcm"


def test_windowed_views_values_windowed(ct_record: ImageRecord) -> None:
    figure = plot_windowed_views(ct_record, ["brain"])

    expected = np.clip((ct_record.pixels - 40.0) / 80.0 + 0.5, 0.0, 1.0)
    assert np.array_equal(_image_data(figure), expected)


def test_windowed_views_middle_slice() -> None:
    # Three slices: the middle one is slice 3 // 2 = 1, value 200, which a window of level 200 shows as 0.5.
    figure = plot_windowed_views(_series(), [custom(200, 200)])

    assert np.all(_image_data(figure) == 0.5)
    assert figure.get_suptitle() == "series: slice 1 (0 to 2)"


def test_windowed_views_chosen_slice() -> None:
    # Slice 2 has the value 300, the top of a window with level 200 and width 200.
    figure = plot_windowed_views(_series(), [custom(200, 200)], index=2)

    assert np.all(_image_data(figure) == 1.0)


def test_windowed_views_aspect_from_spacing() -> None:
    # Row spacing 0.5 mm over column spacing 1.0 mm: each pixel is drawn half as high as wide.
    figure = plot_windowed_views(_series(), ["lung"])

    assert figure.axes[0].get_aspect() == 0.5


@pytest.mark.parametrize("index", [-1, 3, 1.0, True])
def test_windowed_views_rejects_bad_index(index) -> None:
    with pytest.raises(ValidationError, match="plane index must be an integer from 0 to 2 for series"):
        plot_windowed_views(_series(), ["lung"], index=index)


def test_windowed_views_rejects_hu_preset_on_mr(mr_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="window preset 'lung' is for CT values in Hounsfield units"):
        plot_windowed_views(mr_record)

    assert plt.get_fignums() == []


def test_windowed_views_rejects_no_presets(ct_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="presets is empty"):
        plot_windowed_views(ct_record, [])


def test_windowed_views_auto_on_mr(mr_record: ImageRecord) -> None:
    figure = plot_windowed_views(mr_record, ["auto"])

    assert figure.axes[0].get_title().startswith("auto: L ")
    assert _image_data(figure).shape == mr_record.shape


def test_windowed_views_colour_image() -> None:
    pixels = np.zeros((4, 5, 3), dtype=np.uint8)
    pixels[..., 0] = 255
    record = ImageRecord(pixels=pixels, format="png", photometric_interpretation="RGB", axes="row,column,sample")

    figure = plot_windowed_views(record, [custom(127.5, 255)])

    assert _image_data(figure).shape == (4, 5, 3)
    assert _image_data(figure)[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_nifti_plane_turned() -> None:
    # sample_planes turns each i,j plane a quarter turn, so a (4, 3) plane is drawn as 3 rows by 4 columns.
    plane = select_plane(_nifti(), 2)

    assert plane.pixels.shape == (3, 4)
    assert np.array_equal(plane.pixels, np.rot90(_nifti().pixels[:, :, 2]))


def test_nifti_plane_aspect() -> None:
    # Rows run along j (2 mm) and columns along i (1 mm).
    assert select_plane(_nifti()).aspect == 2.0


def test_nifti_stack_along_k() -> None:
    plane = select_plane(_nifti())

    assert stack_length(_nifti()) == 5
    assert plane.axis == "k"
    assert plane.index == 2


def test_single_plane_stack_length(ct_record: ImageRecord) -> None:
    plane = select_plane(ct_record)

    assert stack_length(ct_record) == 1
    assert plane.axis is None
    assert plane.description == ""


def test_multiframe_without_positions_aspect() -> None:
    # Frames that are not positions in space carry in-plane spacing only, (row, column).
    record = ImageRecord(pixels=np.zeros((2, 3, 4), dtype=np.int16), format="dicom", spacing=(0.25, 1.0),
                         axes="frame,row,column", frame_count=2)

    assert select_plane(record).aspect == 0.25


def test_montage_returns_one_figure(ct_record: ImageRecord) -> None:
    figure = plot_montage(ct_record, window="lung")

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 1
    assert plt.get_fignums() == [figure.number]


def test_montage_grid_shape() -> None:
    # 20 slices of 4 x 5 with 16 tiles: a 4 x 4 grid, 16 rows by 20 columns.
    figure = plot_montage(_series(slices=20, rows=4, columns=5), tiles=16, window="auto")

    assert _image_data(figure).shape == (16, 20)
    assert figure.axes[0].get_title().startswith("series: 16 of 20 slice planes, auto: L ")


def test_montage_empty_cells_black() -> None:
    # 5 slices of 2 x 2 with values 100 .. 500 fill ceil(sqrt(5)) = 3 columns and 2 rows, so the last
    # cell is empty. Level 300 / width 1000 maps 100 to 0.3 and 500 to 0.7, so only the empty cell is 0.
    figure = plot_montage(_series(slices=5), tiles=16, window=custom(300, 1000))

    data = _image_data(figure)
    assert data.shape == (4, 6)
    assert np.all(data[2:4, 4:6] == 0.0)
    assert data[0, 0] == pytest.approx(0.3, abs=1e-12)
    assert data[2, 2] == pytest.approx(0.7, abs=1e-12)


def test_montage_nifti_aspect() -> None:
    figure = plot_montage(_nifti(), tiles=4)

    assert figure.axes[0].get_aspect() == 2.0


@pytest.mark.parametrize("tiles", [0, -3, 2.5, True])
def test_montage_rejects_bad_tiles(ct_record: ImageRecord, tiles) -> None:
    with pytest.raises(ValidationError, match="tiles must be an integer of at least 1"):
        plot_montage(ct_record, tiles=tiles)


def test_histogram_returns_one_figure(ct_record: ImageRecord) -> None:
    figure = plot_histogram(ct_record)

    assert isinstance(figure, Figure)
    assert plt.get_fignums() == [figure.number]


def test_histogram_counts_every_pixel(ct_record: ImageRecord) -> None:
    figure = plot_histogram(ct_record)

    bars = figure.axes[0].containers[0]
    assert sum(bar.get_height() for bar in bars) == ct_record.pixels.size


def test_histogram_marks_ct_presets(ct_record: ImageRecord) -> None:
    figure = plot_histogram(ct_record)

    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == [window.label for window in PRESETS.values()]


def test_histogram_marks_auto_for_mr(mr_record: ImageRecord) -> None:
    figure = plot_histogram(mr_record)

    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == [auto_window(mr_record).label]


def test_histogram_marks_given_windows(ct_record: ImageRecord) -> None:
    figure = plot_histogram(ct_record, ["bone", custom(0, 100, units="HU")])

    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["bone: L 400 / W 1800 HU", "custom: L 0 / W 100 HU"]


def test_histogram_axis_in_physical_units(ct_record: ImageRecord) -> None:
    figure = plot_histogram(ct_record)

    assert figure.axes[0].get_xlabel() == "value (HU)"
    assert figure.axes[0].get_yscale() == "log"


def test_histogram_spans_data(ct_record: ImageRecord) -> None:
    # CT_small.dcm spans -896 to 1167 HU; the axis adds 2 % of that range on each side.
    low, high = plot_histogram(ct_record).axes[0].get_xlim()

    assert low == pytest.approx(-896 - 0.02 * 2063)
    assert high == pytest.approx(1167 + 0.02 * 2063)


def test_histogram_units_not_declared(mr_record: ImageRecord) -> None:
    figure = plot_histogram(mr_record)

    assert figure.axes[0].get_xlabel() == "value (units not declared)"


def test_histogram_rejects_hu_window_on_mr(mr_record: ImageRecord) -> None:
    with pytest.raises(ValidationError, match="Hounsfield units"):
        plot_histogram(mr_record, ["bone"])
