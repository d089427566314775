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


class WorkbenchWarning(UserWarning):
    """Root of the warnings that workbench emits for degraded results."""


class SmallSampleWarning(WorkbenchWarning):
    """A statistic was computed on a sample small enough to make it unreliable."""
