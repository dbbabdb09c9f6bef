"""`mask` as `plugins/README.md` ("`mask`, exactly") specifies it: the
logic (`mask.Mask`) natively, and the transform (`app.py`) through the SDK
with the generated bindings (see `conftest.py`)."""

import hashlib

import pytest

import app
import sluice
from mask import ConfigError, Mask
from sluice import ErrorKind, Header, Output, Record


def mask(config: str) -> Mask:
    return Mask.from_config(config)


def apply_text(mask: Mask, value: str):
    masked = mask.apply(value.encode("utf-8"))
    return None if masked is None else masked.decode("utf-8")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_redact_replaces_top_level_and_nested_fields_and_keeps_order():
    m = mask('{"fields": ["email", "card.number"], "mode": "redact"}')
    out = apply_text(
        m, '{"id": 7, "email": "a@b.c", "card": {"number": "4111", "exp": "12/30"}, "z": true}'
    )
    assert out == '{"id":7,"email":"***","card":{"number":"***","exp":"12/30"},"z":true}'


def test_hash_of_a_string_is_sha256_of_its_decoded_utf8_bytes():
    m = mask('{"fields": ["email"], "mode": "hash"}')
    # sha256("abc"), the FIPS 180-2 test vector.
    assert apply_text(m, '{"email": "abc"}') == (
        '{"email":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}'
    )
    # Escapes are resolved before hashing: "\u00e9" is é, two UTF-8 bytes.
    assert apply_text(m, '{"email": "\\u00e9\\/"}') == f'{{"email":"{sha256("é/")}"}}'


def test_hash_of_a_non_string_is_sha256_of_its_compact_text():
    m = mask('{"fields": ["card"], "mode": "hash"}')
    # sha256 of `{"number":4111}`, the compact text, not the spaced input.
    assert apply_text(m, '{"card": { "number" : 4111 }}') == (
        '{"card":"630e058e61891df09111b0f4623b17d218d24aac6ccd16006e310cfd8f2d0a92"}'
    )
    # sha256 of `12`.
    assert apply_text(m, '{"card": 12}') == (
        '{"card":"6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918"}'
    )
    # Numbers are hashed as written, exponent normalised; null and
    # containers by their compact text.
    for written, hashed in [
        ("1E5", "1e+5"),
        ("-0", "-0"),
        ("null", "null"),
        ("[1, {\"a\": \"\\n\"}]", '[1,{"a":"\\n"}]'),
    ]:
        assert apply_text(m, f'{{"card": {written}}}') == f'{{"card":"{sha256(hashed)}"}}'


def test_paths_apply_in_config_order():
    # `card` is hashed after `card.number` was: the hash covers "***".
    m = mask('{"fields": ["card.number", "card"], "mode": "hash"}')
    card = '{"number":"%s"}' % sha256("1")
    assert apply_text(m, '{"card": {"number": 1}}') == '{"card":"%s"}' % sha256(card)


def test_the_whole_value_is_rewritten_compactly_when_a_field_is_masked():
    m = mask('{"fields": ["email"], "mode": "redact"}')
    out = apply_text(
        m, ' { "email" : "x" , "n" : [ 1E2 , 0.000 ] , "s" : "\\u00e9\\u0001\\u2028" , "email" : 2 } '
    )
    assert out == '{"email":"***","n":[1e+2,0.000],"s":"é\\u0001\u2028"}'


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1, 2]",
        b'[{"email": 1}]',
        b'"email"',
        b"42",
        b"",
        b"\xff\xfe",
        b'{"email": "\xff"}',
        b'{"email": NaN}',
        b'{"email": "x"} trailing',
        b'{"email": "\\ud800"}',
        b'{"email": 01}',
        b'{"email": "a",}',
        b'\xef\xbb\xbf{"email": 1}',
        b'{"a":' * 128 + b"1" + b"}" * 128,
    ],
)
def test_values_that_are_not_strict_json_objects_pass_unchanged(value):
    m = mask('{"fields": ["email", "a"], "mode": "redact"}')
    assert m.apply(value) is None


def test_nesting_of_127_is_masked():
    m = mask('{"fields": ["a.a.a"], "mode": "redact"}')
    deepest = '{"a":' * 127 + "1" + "}" * 127
    masked = '{"a":{"a":{"a":"***"}}}'
    assert apply_text(m, deepest) == masked


def test_absent_fields_and_paths_through_non_objects_leave_the_value_alone():
    m = mask('{"fields": ["email", "card.number"], "mode": "redact"}')
    assert apply_text(m, '{"id": 1}') is None
    assert apply_text(m, '{"card": "4111"}') is None
    assert apply_text(m, '{"card": [{"number": 1}]}') is None
    assert apply_text(m, '{"card": {"other": 1}}') is None


def test_a_present_null_field_is_masked():
    m = mask('{"fields": ["email"], "mode": "redact"}')
    assert apply_text(m, '{"email": null}') == '{"email":"***"}'


@pytest.mark.parametrize(
    "config",
    [
        '{"fields": [], "mode": "redact"}',
        '{"fields": ["a..b"], "mode": "redact"}',
        '{"fields": [".a"], "mode": "redact"}',
        '{"fields": [""], "mode": "redact"}',
        '{"fields": ["a"], "mode": "scramble"}',
        '{"fields": ["a"], "mode": "hash", "salt": "x"}',
        '{"fields": ["a"]}',
        '{"fields": "a", "mode": "hash"}',
        '{"fields": [1], "mode": "hash"}',
        '{"fields": ["a"], "mode": "hash", "mode": "redact"}',
        '["fields"]',
        "not json",
    ],
)
def test_bad_configs_are_config_errors(config):
    with pytest.raises(ConfigError):
        Mask.from_config(config)


def test_init_fails_with_invalid_config():
    world = app.WitWorld()
    with pytest.raises(sluice.Err) as raised:
        world.init('{"fields": [], "mode": "redact"}')
    assert raised.value.value.kind == ErrorKind.INVALID_CONFIG
    assert "fields is empty" in raised.value.value.message


def test_process_keeps_key_headers_timestamp_and_tombstones():
    world = app.WitWorld()
    world.init('{"fields": ["email"], "mode": "redact"}')
    record = Record(
        key=b"k1",
        value=b'{"email": "a@b.c"}',
        headers=[Header(key="trace", value=b"t1")],
        timestamp=1_700_000_000_000,
        origin=None,
    )
    tombstone = Record(key=b"k1", value=None, headers=[], timestamp=5, origin=None)
    unchanged = Record.from_value(b'{"other": 1}')
    outputs = world.process([record, tombstone, unchanged])
    assert outputs == [
        Output.to_default(
            Record(
                key=b"k1",
                value=b'{"email":"***"}',
                headers=[Header(key="trace", value=b"t1")],
                timestamp=1_700_000_000_000,
                origin=None,
            )
        ),
        Output.to_default(tombstone),
        Output.to_default(unchanged),
    ]
    # Unchanged values are the input's bytes, not a re-encoding.
    assert outputs[2].record.value is unchanged.value
    assert world.process([]) == []
