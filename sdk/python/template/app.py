"""A Sluice transform in Python: start here.

This one sends every record on unchanged. Copy this directory, change
`process`, and build it with

    bash sdk/python/build-component DIR target/wasm/NAME.wasm

(or put it in `plugins/NAME/` and run `cargo xtask wasm`).
"""

import sluice
from sluice import Error, Level, Output, Record


class Template:
    def init(self, config: str) -> None:
        # `config` is the JSON text of the stage's `config` table in the
        # pipeline file. Parse and check it here, once: raising
        # `Error.invalid_config(...)` stops the pipeline before it starts,
        # with your message.
        if config.strip() not in ("", "{}"):
            raise Error.invalid_config(f"template: takes no config, got {config}")

    def process(self, batch: list[Record]) -> list[Output]:
        # One call per batch, never per record: log here, not in the loop.
        sluice.log(Level.DEBUG, f"template: {len(batch)} records")
        outputs = []
        for record in batch:
            # Change records here. A record is a dataclass with `key` and
            # `value` (bytes or None; a None value is a tombstone), `headers`,
            # `timestamp` (ms since the epoch) and `origin`; e.g.
            #   record = dataclasses.replace(record, value=b"...")  # import dataclasses
            # Skip a record to drop it, append several to split it, or use
            # `Output.to("name", record)` to route it to a named output.
            outputs.append(Output.to_default(record))
        return outputs


# The one line that makes `Template` the component's `init` and `process`.
WitWorld = sluice.export_transform(Template)
