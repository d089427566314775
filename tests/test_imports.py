"""Every module imports on its own, as a command or a notebook would import it first.

In-process tests cannot catch an import cycle, because an earlier import has already filled
``sys.modules``. One fresh interpreter imports each module with every ``workbench`` module removed
from ``sys.modules`` beforehand; third-party modules stay loaded, which keeps the check fast.
"""

from __future__ import annotations

import subprocess
import sys

_SCRIPT = """
import importlib, pkgutil, sys, traceback
import workbench
names = sorted(info.name for info in pkgutil.walk_packages(workbench.__path__, prefix="workbench."))
failed = []
for name in names:
    for loaded in [key for key in sys.modules if key == "workbench" or key.startswith("workbench.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print(len(names))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_alone():
    completed = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=300,
                               check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_models_list_command_runs(tmp_path):
    from workbench.store import open_store

    open_store(f"sqlite:///{tmp_path}/s.db").close()
    completed = subprocess.run([sys.executable, "-m", "workbench.cli", "--store", f"sqlite:///{tmp_path}/s.db",
                                "models", "list"], capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "No model is registered." in completed.stdout
