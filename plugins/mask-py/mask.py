"""`mask`'s logic: replaces named fields of JSON record values, by
redaction or by hash, exactly as `plugins/README.md` ("`mask`, exactly")
says, so its output is byte-identical to the Rust `mask`'s.

Plain functions over bytes and text: no SDK, no bindings, so the unit
tests (`test_mask.py`) run natively. `app.py` maps `Mask.apply` over a batch.
"""

from __future__ import annotations

import hashlib
from typing import Optional

import strict_json
from strict_json import JsonError

MODES = ("redact", "hash")
# The string a redacted field becomes.
REDACTED = "***"
CONFIG_SHAPE = '{"fields": ["a.b", ...], "mode": "redact" | "hash"}'


class ConfigError(ValueError):
    """The stage's config does not match `CONFIG_SHAPE`; says why."""


class Mask:
    """A validated config: the field paths, split at dots, and the mode."""

    def __init__(self, paths: list[list[str]], mode: str) -> None:
        # Each path has at least one segment, and no segment is empty.
        self.paths = paths
        self.mode = mode

    @staticmethod
    def from_config(config: str) -> Mask:
        """Parses and validates the stage's config (JSON text).

        Raises `ConfigError` when it is not `CONFIG_SHAPE` (other keys, a
        key named twice, a wrong type), when `fields` is empty, or when a
        path has an empty segment (`"a..b"`).
        """
        try:
            table = strict_json.loads(config, unique_keys=True)
        except JsonError as error:
            raise ConfigError(f"mask: config {config!r} is not JSON: {error}") from None
        if not isinstance(table, dict) or set(table) != {"fields", "mode"}:
            raise ConfigError(f"mask: config {config!r} is not {CONFIG_SHAPE}")
        fields, mode = table["fields"], table["mode"]
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise ConfigError(f"mask: config.fields must be a list of strings; {CONFIG_SHAPE}")
        if mode not in MODES:
            raise ConfigError(f'mask: config.mode must be "redact" or "hash"; {CONFIG_SHAPE}')
        if not fields:
            raise ConfigError(
                'mask: config.fields is empty; name at least one field to mask, e.g. ["email"]'
            )
        paths = []
        for field in fields:
            path = field.split(".")
            if "" in path:
                raise ConfigError(
                    f"mask: config.fields has {field!r}, which has an empty path segment; "
                    'write dotted paths like "card.number"'
                )
            paths.append(path)
        return Mask(paths, mode)

    def apply(self, value: bytes) -> Optional[bytes]:
        """Masks one record value. Returns None when the value stays as it
        is: not UTF-8, not strict JSON, not an object, or none of the fields
        present."""
        try:
            document = strict_json.loads(value.decode("utf-8"))
        except (UnicodeDecodeError, JsonError):
            return None
        if not isinstance(document, dict):
            return None
        changed = False
        # In config order: a later path sees what an earlier one masked.
        for path in self.paths:
            parent = _parent(document, path)
            if parent is not None:
                parent[path[-1]] = self.masked(parent[path[-1]])
                changed = True
        if not changed:
            return None
        return strict_json.dumps(document).encode("utf-8")

    def masked(self, field: strict_json.Value) -> str:
        """What `field` becomes: `"***"`, or the hex SHA-256 of a string's
        UTF-8 bytes or of any other value's compact JSON text."""
        if self.mode == "redact":
            return REDACTED
        text = field if isinstance(field, str) else strict_json.dumps(field)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parent(document: dict, path: list[str]) -> Optional[dict]:
    """The object holding the member `path` names, if every segment but the
    last names an object member and the last names a member of that."""
    current = document
    for segment in path[:-1]:
        current = current.get(segment)
        if not isinstance(current, dict):
            return None
    return current if path[-1] in current else None
