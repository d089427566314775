"""Check that environment.yml lists the same packages as pyproject.toml.

environment.yml is read with a small line parser because PyYAML is not a declared
dependency. The parser understands the layout that file uses: a block list under
``dependencies:`` with one package per ``- `` line and a nested ``- pip:`` list.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = REPO_ROOT / "pyproject.toml"
ENVIRONMENT = REPO_ROOT / "environment.yml"

# Conda packages that set up the environment itself and have no pyproject.toml counterpart.
CONDA_ONLY = {"python", "pip"}

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def normalize(requirement: str) -> str:
    """Reduce a pip or conda requirement such as ``Python_Dotenv>=1.0`` to ``python-dotenv``."""
    match = NAME_PATTERN.match(requirement.strip())
    if match is None:
        raise ValueError(f"invalid requirement {requirement!r}: no package name at its start")
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def pyproject_names() -> set[str]:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    requirements = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {normalize(requirement) for requirement in requirements}


def read_environment() -> tuple[list[str], list[str]]:
    """Parse the ``dependencies:`` list of environment.yml into its conda entries and its pip entries."""
    conda_entries: list[str] = []
    pip_entries: list[str] = []
    section = None
    for raw_line in ENVIRONMENT.read_text(encoding="utf-8").splitlines():
        line = raw_line.split("#", 1)[0].rstrip()
        if not line.strip():
            continue

        indent = len(line) - len(line.lstrip())
        if indent == 0:
            section = "dependencies" if line == "dependencies:" else None
            continue
        if section is None:
            continue

        entry = line.strip()
        if entry == "- pip:":
            section = "pip"
        elif section == "pip" and indent > 2:
            pip_entries.append(entry.removeprefix("- ").strip())
        elif entry.startswith("- "):
            section = "dependencies"
            conda_entries.append(entry.removeprefix("- ").strip())
    return conda_entries, pip_entries


def environment_names() -> set[str]:
    conda_entries, _ = read_environment()
    return {normalize(entry) for entry in conda_entries} - CONDA_ONLY


def test_environment_lists_pyproject_deps():
    missing = sorted(pyproject_names() - environment_names())
    assert not missing, f"in pyproject.toml but missing from environment.yml: {', '.join(missing)}"


def test_pyproject_lists_environment_deps():
    missing = sorted(environment_names() - pyproject_names())
    assert not missing, f"in environment.yml but missing from pyproject.toml: {', '.join(missing)}"


def test_environment_installs_project():
    conda_entries, pip_entries = read_environment()
    conda_names = {normalize(entry) for entry in conda_entries}

    assert "python" in conda_names, "environment.yml does not pin python"
    assert "pip" in conda_names, "environment.yml does not install pip"
    assert "-e ." in pip_entries, f"environment.yml pip list has no '-e .' entry: {pip_entries}"
