"""Report notebook lookup: resolve a report name to a notebook in the notebooks folder, or take a path."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.errors import ConfigError, NotFoundError

NOTEBOOKS_DIR_VARIABLE = "WORKBENCH_NOTEBOOKS_DIR"


def find_notebooks_dir() -> Path:
    """Return the folder that report names are looked up in.

    The folder is, in order: the ``WORKBENCH_NOTEBOOKS_DIR`` environment variable if set, else
    ``notebooks/`` in the current directory if it exists, else ``notebooks/`` in the source tree that
    contains the ``workbench`` package.

    Raises
    ------
    ConfigError
        If ``WORKBENCH_NOTEBOOKS_DIR`` is set to a path that is not a folder.
    """
    configured = os.environ.get(NOTEBOOKS_DIR_VARIABLE)
    if configured:
        folder = Path(configured)
        if not folder.is_dir():
            raise ConfigError(
                f"{NOTEBOOKS_DIR_VARIABLE}={configured!r} is not a folder; set it to the folder that "
                "contains the report notebooks, or unset it.",
                name=NOTEBOOKS_DIR_VARIABLE,
                value=configured,
            )
        return folder

    in_current_dir = Path.cwd() / "notebooks"
    if in_current_dir.is_dir():
        return in_current_dir

    # notebooks.py sits in <root>/workbench/reports/, so parents[2] is the source tree root.
    return Path(__file__).resolve().parents[2] / "notebooks"


def list_reports() -> list[str]:
    """Return the sorted names of the notebooks in :func:`find_notebooks_dir`, without ``.ipynb``."""
    folder = find_notebooks_dir()
    if not folder.is_dir():
        return []
    return sorted(path.stem for path in folder.glob("*.ipynb") if not path.name.startswith("."))


def resolve_notebook(notebook: str | Path) -> Path:
    """Return the path of a notebook given as a path or as a report name.

    A :class:`pathlib.Path`, or a string that ends in ``.ipynb`` or contains a path separator, is a
    path. Any other string is a report name and resolves to ``<notebooks dir>/<name>.ipynb``.

    Raises
    ------
    NotFoundError
        If the file does not exist. For a report name the message lists the available names.
    """
    if _is_path(notebook):
        path = Path(notebook)
        if not path.is_file():
            raise NotFoundError(
                f"Notebook {str(path)!r} does not exist; check the path.", kind="notebook", key=str(path)
            )
        return path

    name = str(notebook)
    path = find_notebooks_dir() / f"{name}.ipynb"
    if not path.is_file():
        available = ", ".join(list_reports()) or "none"
        raise NotFoundError(
            f"Report {name!r} not found in {path.parent}. Available reports: {available}. "
            f"Give a notebook path instead, or set {NOTEBOOKS_DIR_VARIABLE} to another folder.",
            kind="notebook",
            key=name,
        )
    return path


def _is_path(notebook: str | Path) -> bool:
    if isinstance(notebook, Path):
        return True
    return notebook.endswith(".ipynb") or "/" in notebook or os.sep in notebook
