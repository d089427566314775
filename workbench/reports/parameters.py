"""Report parameters: check them against a notebook's ``parameters`` cell and convert string values.

papermill infers the declared names and their annotations from the cell tagged ``parameters``.
:func:`~workbench.reports.runner.run_report` calls :func:`check_parameters` before it starts a kernel,
so an undeclared name or a value that cannot be converted fails before any cell runs, and
:func:`declared_defaults` to record the values that a run did not override.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
from papermill.exceptions import PapermillException
from papermill.models import Parameter
from papermill.translators import papermill_translators

from workbench.errors import NotebookParameterError, ReportError

PARAMETERS_TAG = "parameters"

_BASE_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str}
_OPTIONAL_ANNOTATION = re.compile(r"Optional\[\s*(\w+)\s*\]")
_TRUE_WORDS = {"true", "1", "yes", "on"}
_FALSE_WORDS = {"false", "0", "no", "off"}
_NONE_WORDS = {"none", "null"}


def check_parameters(
    nb: nbformat.NotebookNode,
    parameters: Mapping[str, Any],
    *,
    notebook: Path,
    kernel_name: str,
    language: str = "python",
) -> dict[str, Any]:
    """Check ``parameters`` against the notebook's ``parameters`` cell and convert string values.

    Declared names are those that papermill's parameter inference finds in the first cell tagged
    ``parameters``. A string value is converted to the declared type when that type is ``int``,
    ``float``, ``bool``, ``str`` or ``Optional`` of one of them. For example ``"0.01"`` becomes 0.01.
    ``"true"``, ``"yes"``, ``"on"`` and ``"1"`` become True, and their opposites False. ``"none"`` and
    ``"null"`` become None where None is allowed.

    The type comes from the annotation (``alpha: float = 0.05``) or a ``# type:`` comment, else from the
    default value, because papermill 2.7 reports a type only for annotated parameters. Values that are
    not strings, and strings for parameters of other types (lists, dicts, expressions), pass unchanged.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook, as read by nbformat.
    parameters : Mapping[str, Any]
        The parameters given. The mapping is not modified.
    notebook : pathlib.Path
        Path of the notebook, for messages.
    kernel_name, language : str
        Kernel that will run the notebook and its language. papermill picks its parameter parser by
        kernel name first, then by language.

    Returns
    -------
    dict
        The parameters with converted values, in the order given.

    Raises
    ------
    NotebookParameterError
        If parameters are given and no cell is tagged ``parameters``, a name is not declared, or a value
        cannot be converted to the declared type.
    ReportError
        If papermill cannot read parameters for this kernel or language.
    """
    if not parameters:
        return {}

    cell = _find_parameters_cell(nb)
    if cell is None:
        raise NotebookParameterError(
            f'Notebook {str(notebook)!r} has no cell tagged "parameters", so the parameters '
            f"{', '.join(parameters)} cannot be set and the notebook was not run. In JupyterLab, select the "
            'cell that sets the default values, open the Property Inspector (the gear icon in the right '
            'sidebar) and add the cell tag "parameters".',
            notebook=str(notebook),
            unknown=list(parameters),
            declared=[],
        )

    declared = _declared_parameters(cell, kernel_name, language)
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise NotebookParameterError(
            f"Unknown parameters for notebook {str(notebook)!r}: {', '.join(unknown)}. "
            f"Declared parameters: {', '.join(declared) or 'none'}. Check the spelling, or add the name "
            f'to the cell tagged "parameters".{_unread_lines_hint(cell, unknown)}',
            notebook=str(notebook),
            unknown=unknown,
            declared=list(declared),
        )

    return {name: _convert_value(value, name, declared, notebook) for name, value in parameters.items()}


def declared_defaults(nb: nbformat.NotebookNode, *, kernel_name: str, language: str = "python") -> dict[str, Any]:
    """Return the default value of each parameter that the notebook's ``parameters`` cell declares.

    papermill gives each default as source text. A literal (a number, string, bool, None, or a list,
    tuple, dict or set of literals) is evaluated with :func:`ast.literal_eval`. Any other default, such
    as ``datetime(2026, 1, 1)`` or ``os.environ["X"]``, is kept as its source text, because evaluating
    it would run code outside the kernel.

    Returns
    -------
    dict
        Defaults by name, in the order of the cell. Empty when no cell is tagged ``parameters``.

    Raises
    ------
    ReportError
        If papermill cannot read parameters for this kernel or language.
    """
    cell = _find_parameters_cell(nb)
    if cell is None:
        return {}

    declared = _declared_parameters(cell, kernel_name, language)
    return {name: _literal_or_source(parameter.default) for name, parameter in declared.items()}


def _literal_or_source(source: str) -> Any:
    try:
        return ast.literal_eval(source)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return source


def _find_parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    for cell in nb.cells:
        if PARAMETERS_TAG in cell.metadata.get("tags", []):
            return cell
    return None


def _declared_parameters(
    cell: nbformat.NotebookNode, kernel_name: str, language: str
) -> dict[str, Parameter]:
    try:
        translator = papermill_translators.find_translator(kernel_name, language)
        inferred = translator.inspect(cell)
    except (PapermillException, NotImplementedError):
        raise ReportError(
            f"papermill cannot read the parameters cell for kernel {kernel_name!r} ({language}), so the "
            "parameter names cannot be checked. Run the notebook without parameters, or with papermill "
            "directly."
        ) from None
    return {parameter.name: parameter for parameter in inferred}


def _unread_lines_hint(cell: nbformat.NotebookNode, unknown: list[str]) -> str:
    """Return a hint for unknown names that the parameters cell assigns in a form papermill cannot read."""
    assigned = [
        name for name in unknown if re.search(rf"^\s*{re.escape(name)}\s*[:=]", cell.source, re.MULTILINE)
    ]
    if not assigned:
        return ""
    # papermill 2.7 reads only `name = value` and `name: annotation = value` lines, where the annotation
    # is made of word characters, brackets and commas, so `x: str | None = None` is skipped.
    return (
        f" The parameters cell assigns {', '.join(assigned)}, but papermill cannot read that line. Write "
        "it as one `name = value` line, with an annotation such as `Optional[str]` instead of `str | None`."
    )


def _declared_type(parameter: Parameter) -> tuple[type | None, bool]:
    """Return the declared base type of a parameter (None if unknown) and whether None is allowed."""
    annotation = parameter.inferred_type_name.strip()
    optional = _OPTIONAL_ANNOTATION.fullmatch(annotation)
    if optional:
        return _BASE_TYPES.get(optional[1]), True
    if annotation in _BASE_TYPES:
        return _BASE_TYPES[annotation], False

    # papermill sets inferred_type_name to "None" when the parameter has no annotation.
    try:
        default = ast.literal_eval(parameter.default)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None, False
    if default is None:
        return str, True
    return _BASE_TYPES.get(type(default).__name__), False


def _convert_value(value: Any, name: str, declared: Mapping[str, Parameter], notebook: Path) -> Any:
    if not isinstance(value, str):
        return value

    parameter = declared[name]
    base_type, allows_none = _declared_type(parameter)
    if allows_none and value.strip().lower() in _NONE_WORDS:
        return None
    if base_type is None or base_type is str:
        return value

    try:
        return _parse_bool(value) if base_type is bool else base_type(value.strip())
    except ValueError:
        expected = base_type.__name__ + (" or None" if allows_none else "")
        raise NotebookParameterError(
            f"Parameter {parameter.name!r} of notebook {str(notebook)!r} expects {expected}, got {value!r}. "
            f"Give a value like the default, {parameter.default}.",
            notebook=str(notebook),
            unknown=[],
            declared=list(declared),
        ) from None


def _parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{text!r} is not a boolean")
