"""Lets the tests import `app.py` natively: puts the SDK and the bindings
componentize-py generates from `sdk/wit` on `sys.path` (see
`sdk/python/sluice_native.py`)."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "sdk" / "python"))

import sluice_native  # noqa: E402

sluice_native.add_bindings_to_path()
