"""`mask` in Python: replaces named fields of JSON record values, by
redaction or by hash, byte for byte as the Rust `plugins/mask` does.

Config: `{"fields": ["email", "card.number"], "mode": "redact" | "hash"}`.
The masking is `mask.Mask.apply` (over `strict_json`, since Python's `json`
module parses and writes JSON its own way); this module only maps it over a
batch. Key, headers, timestamp and origin are always kept.
"""

import dataclasses

import sluice
from mask import ConfigError, Mask
from sluice import Error, Output, Record


class MaskTransform:
    def init(self, config: str) -> None:
        try:
            self.mask = Mask.from_config(config)
        except ConfigError as error:
            raise Error.invalid_config(str(error)) from None

    def process(self, batch: list[Record]) -> list[Output]:
        outputs = []
        for record in batch:
            masked = self.mask.apply(record.value) if record.value is not None else None
            if masked is not None:
                record = dataclasses.replace(record, value=masked)
            outputs.append(Output.to_default(record))
        return outputs


WitWorld = sluice.export_transform(MaskTransform)
