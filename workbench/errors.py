"""Exceptions and warnings raised by workbench.

Every exception derives from :class:`WorkbenchError`, so a caller can catch the package's errors in one
clause. Subclasses carry structured fields (the offending value, what is allowed) besides the message.
"""

from __future__ import annotations

from typing import Any


class WorkbenchError(Exception):
    """Root of every exception that workbench raises on purpose."""


class ConfigError(WorkbenchError, ValueError):
    """A setting has an invalid value.

    Attributes
    ----------
    name : str
        The setting or environment variable.
    value : object
        The value received.
    """

    def __init__(self, message: str, *, name: str, value: Any = None) -> None:
        super().__init__(message)
        self.name = name
        self.value = value


class ValidationError(WorkbenchError, ValueError):
    """An input is invalid: a wrong type, a missing or extra field, a value out of range.

    Attributes
    ----------
    field : str or None
        The argument, column or feature at fault.
    value : object
        The value received.
    """

    def __init__(self, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.field = field
        self.value = value


class NotFoundError(WorkbenchError, LookupError):
    """A model, experiment, notebook or record that was requested does not exist.

    Attributes
    ----------
    kind : str
        What was looked up, such as ``"model"``.
    key : str
        The identifier that was not found.
    """

    def __init__(self, message: str, *, kind: str, key: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.key = key


class ConflictError(WorkbenchError):
    """A record already exists where a new one was to be created."""


class StoreError(WorkbenchError):
    """The store failed: it could not be opened, read or written."""


class MessagingError(WorkbenchError):
    """A message broker failed or could not be reached."""


class PublishError(MessagingError):
    """A message was not confirmed by the broker, so it must be treated as not sent.

    Attributes
    ----------
    topic : str
        The topic the message was sent to.
    message_id : str or None
        The envelope's id, when there was one.
    """

    def __init__(self, message: str, *, topic: str, message_id: str | None = None) -> None:
        super().__init__(message)
        self.topic = topic
        self.message_id = message_id


class BaselineError(ValidationError):
    """Baseline statistics could not be computed for one or more columns."""


class ReportError(WorkbenchError):
    """A report notebook could not be prepared or run."""


class NotebookParameterError(ReportError):
    """The parameters given do not fit the notebook's ``parameters`` cell.

    Attributes
    ----------
    notebook : str
        Path of the notebook.
    unknown : list of str
        Parameter names the notebook does not declare.
    declared : list of str
        Parameter names the notebook declares.
    """

    def __init__(
        self, message: str, *, notebook: str, unknown: list[str], declared: list[str]
    ) -> None:
        super().__init__(message)
        self.notebook = notebook
        self.unknown = unknown
        self.declared = declared


class NotebookExecutionError(ReportError):
    """A cell of a report notebook raised.

    Attributes
    ----------
    cell_index : int or None
        Zero-based index of the failing cell in the input notebook, not counting the cells that papermill
        adds to the executed one. None when the cell that papermill injected failed.
    cell_source : str
        First line of the failing cell's source.
    output_path : str
        The executed notebook, written with the error in place.
    """

    def __init__(
        self, message: str, *, cell_index: int | None, cell_source: str, output_path: str
    ) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.cell_source = cell_source
        self.output_path = output_path


class ImageError(WorkbenchError, ValueError):
    """An image file or series could not be read as what it claims to be.

    Messages name the file by its base name only and never quote header values, which may identify a
    patient.

    Attributes
    ----------
    source : str or None
        Base name of the file, or ``"<bytes>"``.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class NotDicomError(ImageError):
    """The input is not DICOM: no preamble and ``DICM`` prefix, and no valid data elements at its start."""


class PixelDecodeError(ImageError):
    """Compressed pixel data could not be decoded: the decoder is missing or the stream is corrupt.

    Attributes
    ----------
    transfer_syntax : str
        UID and name of the transfer syntax, such as ``1.2.840.10008.1.2.4.70 (JPEG Lossless)``.
    """

    def __init__(self, message: str, *, source: str | None = None, transfer_syntax: str) -> None:
        super().__init__(message, source=source)
        self.transfer_syntax = transfer_syntax


class SeriesError(ImageError):
    """The slices of a DICOM series do not form one volume: a gap, mixed orientations or sizes."""


class WorkbenchWarning(UserWarning):
    """Root of the warnings that workbench emits for degraded results."""


class SmallSampleWarning(WorkbenchWarning):
    """A statistic was computed on a sample small enough to make it unreliable."""
