"""Runs Python guests natively, for their unit tests: makes `import sluice`
work outside a component.

Inside a component, componentize-py provides the bindings of the
`transform` world (`wit_world`, `componentize_py_types`). Natively they do
not exist, so `add_bindings_to_path` generates them from `sdk/wit` (the
contract, never a copy of it) into a temporary directory and puts it and
the SDK on `sys.path`. Call it from a plugin's `conftest.py`:

    sys.path.insert(0, "<repo>/sdk/python")
    import sluice_native
    sluice_native.add_bindings_to_path()

Natively, `sluice.log` writes to stderr and the other host imports raise
`NotImplementedError`: keep a plugin's logic in plain functions.
"""

import atexit
import pathlib
import shutil
import subprocess
import sys
import tempfile

SDK_DIR = pathlib.Path(__file__).resolve().parent
ROOT = SDK_DIR.parents[1]
WIT_DIR = ROOT / "sdk" / "wit"
COMPONENTIZE_PY = ROOT / ".venv" / "bin" / "componentize-py"


def add_bindings_to_path() -> None:
    """Generates the `transform` world's bindings and puts them and the SDK
    first on `sys.path`. Generating takes well under a second."""
    if not COMPONENTIZE_PY.exists():
        raise RuntimeError(
            f"{COMPONENTIZE_PY} is missing: run .ci/install-python-guest-tools"
        )
    out = tempfile.mkdtemp(prefix="sluice-bindings-")
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    subprocess.run(
        [str(COMPONENTIZE_PY), "-d", str(WIT_DIR), "-w", "transform", "bindings", out],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    for path in (out, str(SDK_DIR)):
        if path not in sys.path:
            sys.path.insert(0, path)
