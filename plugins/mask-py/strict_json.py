"""Strict JSON (RFC 8259) in, compact JSON out, numbers kept as written.

Python's `json` module does not fit `mask`'s contract (`plugins/README.md`,
"`mask`, exactly"): it accepts `NaN`/`Infinity` and lone surrogate escapes,
turns numbers into ints and floats (`1e400` becomes `inf`, `1E5` comes back
as `100000.0`), and writes with its own spacing and escapes. This module parses and writes only what the contract allows:

- `loads(text)` accepts exactly RFC 8259 JSON: whitespace is space, tab, LF
  and CR; no lone surrogates; nesting at most `DEPTH_MAX` arrays/objects.
  Objects become `dict`s in member order; a duplicate key keeps the position
  of its first occurrence and the value of its last (what assigning to a
  `dict` does), unless `unique_keys` asks for an error instead. Numbers
  become `Number`, holding their source text.
- `dumps(value)` writes compact JSON, no whitespace: numbers as `Number`
  holds them, strings escaped as the contract says.

Values: `dict`, `list`, `str`, `Number`, `True`, `False`, `None`.
"""

from __future__ import annotations

import re
from typing import NoReturn, Union

# The deepest nesting of arrays and objects accepted; deeper is an error,
# so parsing recurses at most this far.
DEPTH_MAX = 127


class JsonError(ValueError):
    """The text is not JSON this module accepts; says what and where."""


class Number:
    """A JSON number as written in its source, with the exponent written as
    a lowercase `e` and an explicit sign (`1E5` → `1e+5`), which is the only
    normalisation the contract allows."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        mantissa, e, exponent = text.replace("E", "e").partition("e")
        if e and exponent[0] not in "+-":
            exponent = "+" + exponent
        self.text = mantissa + e + exponent

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Number({self.text!r})"


Value = Union[dict, list, str, Number, bool, None]

# ASCII digits only: `\d` would also match other scripts' digits.
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A run of string characters that need no decoding: anything but the
# closing quote, a backslash, or a control character (which must be escaped).
_PLAIN = re.compile(r'[^"\\\x00-\x1f]*')
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
}
_LITERALS = (("true", True), ("false", False), ("null", None))


def loads(text: str, *, unique_keys: bool = False) -> Value:
    """Parses one JSON value, with optional whitespace around it.

    Raises `JsonError` on anything RFC 8259 rejects, on a lone surrogate
    escape, on nesting deeper than `DEPTH_MAX`, and, with `unique_keys`, on
    an object naming a member twice.
    """
    parser = _Parser(text, unique_keys)
    parser.skip_whitespace()
    value = parser.value(0)
    parser.skip_whitespace()
    if parser.pos != len(text):
        parser.fail("trailing characters after the JSON value")
    return value


class _Parser:
    """Recursive descent over `text`; `pos` is the next character to read."""

    def __init__(self, text: str, unique_keys: bool) -> None:
        self.text = text
        self.unique_keys = unique_keys
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise JsonError(f"{what} at character {self.pos}")

    def skip_whitespace(self) -> None:
        self.pos = _WHITESPACE.match(self.text, self.pos).end()

    def expect(self, char: str) -> None:
        if not self.text.startswith(char, self.pos):
            self.fail(f"expected {char!r}")
        self.pos += 1

    def value(self, depth: int) -> Value:
        """The value at `pos`, inside `depth` arrays/objects."""
        char = self.text[self.pos : self.pos + 1]
        if char == "{":
            return self.object(depth + 1)
        if char == "[":
            return self.array(depth + 1)
        if char == '"':
            return self.string()
        for word, value in _LITERALS:
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return value
        number = _NUMBER.match(self.text, self.pos)
        if number:
            self.pos = number.end()
            return Number(number.group())
        self.fail("expected a JSON value" if char else "unexpected end of text")

    def object(self, depth: int) -> dict:
        if depth > DEPTH_MAX:
            self.fail(f"nesting deeper than {DEPTH_MAX}")
        self.pos += 1  # {
        members: dict = {}
        self.skip_whitespace()
        if self.text.startswith("}", self.pos):
            self.pos += 1
            return members
        while True:
            if not self.text.startswith('"', self.pos):
                self.fail("expected a member name")
            key = self.string()
            if self.unique_keys and key in members:
                self.fail(f"member {key!r} named twice")
            self.skip_whitespace()
            self.expect(":")
            self.skip_whitespace()
            # Assigning to an existing key keeps its position, takes the value.
            members[key] = self.value(depth)
            self.skip_whitespace()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.skip_whitespace()
                continue
            self.expect("}")
            return members

    def array(self, depth: int) -> list:
        if depth > DEPTH_MAX:
            self.fail(f"nesting deeper than {DEPTH_MAX}")
        self.pos += 1  # [
        items: list = []
        self.skip_whitespace()
        if self.text.startswith("]", self.pos):
            self.pos += 1
            return items
        while True:
            items.append(self.value(depth))
            self.skip_whitespace()
            if self.text.startswith(",", self.pos):
                self.pos += 1
                self.skip_whitespace()
                continue
            self.expect("]")
            return items

    def string(self) -> str:
        """The string starting at the quote at `pos`, escapes decoded."""
        self.pos += 1  # "
        parts = []
        while True:
            plain = _PLAIN.match(self.text, self.pos)
            parts.append(plain.group())
            self.pos = plain.end()
            char = self.text[self.pos : self.pos + 1]
            if char == '"':
                self.pos += 1
                return "".join(parts)
            if char == "\\":
                parts.append(self.escape())
            elif char:
                self.fail("unescaped control character in a string")
            else:
                self.fail("unterminated string")

    def escape(self) -> str:
        """The character(s) of the escape at `pos` (the backslash)."""
        char = self.text[self.pos + 1 : self.pos + 2]
        if char in _SIMPLE_ESCAPES:
            self.pos += 2
            return _SIMPLE_ESCAPES[char]
        if char != "u":
            self.fail("invalid escape")
        code = self.hex4(self.pos + 2)
        self.pos += 6
        if 0xDC00 <= code <= 0xDFFF:
            self.fail("lone low surrogate escape")
        if 0xD800 <= code <= 0xDBFF:
            # A high surrogate must be followed by an escaped low one; the
            # pair is one character.
            if not self.text.startswith("\\u", self.pos):
                self.fail("lone high surrogate escape")
            low = self.hex4(self.pos + 2)
            if not 0xDC00 <= low <= 0xDFFF:
                self.fail("lone high surrogate escape")
            self.pos += 6
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
        return chr(code)

    def hex4(self, at: int) -> int:
        digits = _HEX4.match(self.text, at)
        if not digits:
            self.pos = at
            self.fail("expected four hex digits after \\u")
        return int(digits.group(), 16)


# What `dumps` writes for each character it escapes: the short escapes where
# JSON has one, `\u00xx` (lowercase hex) for the other control characters.
_ESCAPED = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
for _code in range(0x20):
    _ESCAPED.setdefault(chr(_code), f"\\u{_code:04x}")
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')


def dumps(value: Value) -> str:
    """Compact JSON text for `value`: no whitespace, numbers as written,
    every character but `"`, `\\` and controls as itself."""
    parts: list = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Value, parts: list) -> None:
    if isinstance(value, str):
        parts.append(_quote(value))
    elif isinstance(value, dict):
        parts.append("{")
        for index, (key, member) in enumerate(value.items()):
            if index:
                parts.append(",")
            parts.append(_quote(key))
            parts.append(":")
            _write(member, parts)
        parts.append("}")
    elif isinstance(value, list):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    elif isinstance(value, Number):
        parts.append(value.text)
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif value is None:
        parts.append("null")
    else:
        raise TypeError(f"not a strict_json value: {value!r}")


def _quote(text: str) -> str:
    return '"' + _NEEDS_ESCAPE.sub(lambda match: _ESCAPED[match.group()], text) + '"'
