"""Lets the SDK's tests import `sluice` natively (see `sluice_native.py`)."""

import sluice_native

sluice_native.add_bindings_to_path()
