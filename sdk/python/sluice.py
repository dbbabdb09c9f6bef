"""`sluice`: write a Sluice transform in Python as one class and one line.

    import sluice
    from sluice import Output

    class Passthrough:
        def init(self, config: str) -> None:
            pass

        def process(self, batch: list[sluice.Record]) -> list[sluice.Output]:
            return [Output.to_default(record) for record in batch]

    WitWorld = sluice.export_transform(Passthrough)

`sdk/python/build-component DIR OUT.wasm` turns the directory holding that
`app.py` into a component of the `transform` world in `sdk/wit` (`cargo
xtask wasm` builds every Python plugin that way).

The contract's types come from the bindings componentize-py generates from
`sdk/wit`, the only source of the contract (module `wit_world`); this module
adds the export glue, constructors for the contract's types, error helpers
and a `log` helper. It holds no transform logic.

Run natively (a plugin's unit tests, with the bindings on `sys.path`; see
`sdk/python/README.md`), `log` writes to stderr and the other host imports
raise `NotImplementedError`.
"""

from __future__ import annotations

import sys
from typing import Optional, Protocol

import wit_world
from componentize_py_types import Err
from wit_world.imports import files, http, secrets, sql, state  # noqa: F401 (re-exported)
from wit_world.imports import log as _log
from wit_world.imports import types as _types

__all__ = [
    "Err",
    "Error",
    "ErrorKind",
    "Header",
    "Level",
    "Origin",
    "Output",
    "Record",
    "Transform",
    "export_transform",
    "files",
    "http",
    "log",
    "secrets",
    "sql",
    "state",
]

# The contract's types, as generated. Records the host passes in are
# instances of these; the subclasses below only add constructors.
Header = _types.Header
Origin = _types.Origin
ErrorKind = _types.ErrorKind
Level = _log.Level


class Record(_types.Record):
    """One record (`key`, `value`, `headers`, `timestamp`, `origin`)."""

    @staticmethod
    def from_value(value: bytes) -> Record:
        """A record with only a value: no key, no headers, timestamp 0, no
        origin. Mostly for tests and for transforms that create records."""
        return Record(key=None, value=value, headers=[], timestamp=0, origin=None)


class Output(_types.Output):
    """A record a transform emits (`record`) and where it goes (`target`)."""

    @staticmethod
    def to_default(record: _types.Record) -> Output:
        """Sends `record` to the stage's default output."""
        return Output(record=record, target=None)

    @staticmethod
    def to(target: str, record: _types.Record) -> Output:
        """Sends `record` to the stage's output named `target` (declared in
        the pipeline file)."""
        return Output(record=record, target=target)


class Error(_types.Error):
    """A failure of `init` or `process` (`kind`, `message`).

    componentize-py returns a WIT `result` error when an export raises
    `Err(error)`; the helpers build that exception, so a transform writes
    `raise Error.invalid_config("...")`. Host imports raise the same `Err`
    (e.g. `secrets.get`), so it can be caught and re-raised as is.
    """

    @staticmethod
    def invalid_config(message: str) -> Err:
        """The stage's configuration is wrong: the pipeline does not start."""
        return Err(Error(kind=ErrorKind.INVALID_CONFIG, message=message))

    @staticmethod
    def invalid_input(message: str) -> Err:
        """The batch cannot be processed: its records go to the dead-letter
        topic with this message."""
        return Err(Error(kind=ErrorKind.INVALID_INPUT, message=message))

    @staticmethod
    def unavailable(message: str) -> Err:
        """An outside system is unavailable: the host retries with backoff."""
        return Err(Error(kind=ErrorKind.UNAVAILABLE, message=message))

    @staticmethod
    def internal(message: str) -> Err:
        """Anything else; treated like `invalid-input`."""
        return Err(Error(kind=ErrorKind.INTERNAL, message=message))


class Transform(Protocol):
    """What `export_transform` expects: built once from the stage's config,
    then called once per batch.

    The host drives one instance per stage; `process` is never called before
    `init` succeeded, and never concurrently.
    """

    def init(self, config: str) -> None:
        """Reads the stage's `config` table (JSON text). Raise
        `Error.invalid_config(...)` to stop the pipeline before it starts."""

    def process(self, batch: list[_types.Record]) -> list[_types.Output]:
        """Turns one batch into outputs: it may drop, change, split or route
        records. A raised `Error.*(...)` fails the whole batch; its kind
        decides what the host does (dead-letter for `invalid-input`, retry
        for `unavailable`)."""


def log(level: Level, message: str) -> None:
    """Writes a message into the host's log, tagged with the pipeline and
    stage. Always granted. Call it per batch, not per record."""
    if sys.platform == "wasi":
        _log.log(level, message)
    else:
        print(f"{level.name}: {message}", file=sys.stderr)


# The transform the last successful `init` built. Component exports are
# free functions (componentize-py may build a fresh `WitWorld` per call), so
# the instance lives here, as in the Rust SDK's static.
_instance: Optional[Transform] = None


def export_transform(transform_class: type) -> type:
    """Exports `transform_class` as the component's `init` and `process`.

    Assign the result to `WitWorld` at the top level of `app.py`, the name
    componentize-py looks for: `WitWorld = sluice.export_transform(Mine)`.
    Each `init` builds a new instance with `transform_class()` and keeps it
    only when its `init` returns.
    """

    class WitWorld(wit_world.WitWorld):
        def init(self, config: str) -> None:
            global _instance
            transform = transform_class()
            transform.init(config)
            _instance = transform

        def process(self, batch: list[_types.Record]) -> list[_types.Output]:
            if _instance is None:
                raise Error.internal(
                    "process was called before init succeeded; the host must call init first"
                )
            return _instance.process(batch)

    WitWorld.__qualname__ = f"WitWorld[{transform_class.__name__}]"
    return WitWorld
