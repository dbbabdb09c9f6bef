"""`strict_json` against the JSON rules of `plugins/README.md` ("`mask`,
exactly"): what is accepted, and the exact text written back."""

import pytest

import strict_json
from strict_json import DEPTH_MAX, JsonError, Number, dumps, loads


def roundtrip(text: str) -> str:
    return dumps(loads(text))


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": -Infinity}',
        "",
        "   ",
        '{"a": 1,}',
        "[1,]",
        '{"a" 1}',
        "{a: 1}",
        "{'a': 1}",
        '{"a": 1} x',
        '{"a": 1}{}',
        '"unterminated',
        '"raw \x01 control"',
        '"raw \n newline"',
        '"\\x41"',
        '"\\u12"',
        "01",
        "-01",
        "1.",
        ".5",
        "+1",
        "-",
        "1e",
        "1e+",
        "0x10",
        "tru",
        "nul",
        "True",
        # Only space, tab, LF and CR are whitespace.
        "\f{}",
        "{}\v",
        "\u00a0{}",
        "\ufeff{}",
    ],
)
def test_rejects_what_rfc_8259_rejects(text):
    with pytest.raises(JsonError):
        loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '"\\ud800"',
        '"\\udc00"',
        '"\\ud800x"',
        '"\\ud800\\u0041"',
        '"\\ud800\\ud800"',
        '"\\udfff\\ud800"',
    ],
)
def test_rejects_lone_surrogate_escapes(text):
    with pytest.raises(JsonError):
        loads(text)


def test_a_surrogate_pair_is_one_character_written_raw():
    assert loads('"\\ud83d\\ude00"') == "\U0001f600"
    assert roundtrip('"\\uD83D\\uDE00"') == '"\U0001f600"'


def test_whitespace_is_space_tab_lf_cr_and_is_not_written():
    assert roundtrip(' \t\n\r{ "a" :\t[ 1 ,\r\n2 ] , "b":{ } } \n') == '{"a":[1,2],"b":{}}'


@pytest.mark.parametrize("kind", ["[", '{"a":'])
def test_nesting_depth_is_at_most_127(kind):
    closing = "]" if kind == "[" else "}"
    deepest = kind * DEPTH_MAX + "0" + closing * DEPTH_MAX
    assert roundtrip(deepest) == deepest
    too_deep = kind * (DEPTH_MAX + 1) + "0" + closing * (DEPTH_MAX + 1)
    with pytest.raises(JsonError, match="nesting"):
        loads(too_deep)


def test_mixed_nesting_counts_arrays_and_objects_together():
    deepest = '[{"a":' * 63 + "[]" + "}]" * 63  # 127 levels
    assert roundtrip(deepest) == deepest
    with pytest.raises(JsonError, match="nesting"):
        loads('[{"a":' * 64 + "0" + "}]" * 64)  # 128 levels


def test_a_duplicate_key_keeps_first_position_and_last_value():
    text = '{"b": 1, "a": 2, "b": {"x": 3}, "c": 4, "a": 5}'
    assert roundtrip(text) == '{"b":{"x":3},"a":5,"c":4}'


def test_unique_keys_rejects_a_key_named_twice():
    assert loads('{"a": 1, "b": 2}', unique_keys=True) == {"a": Number("1"), "b": Number("2")}
    with pytest.raises(JsonError, match="twice"):
        loads('{"a": 1, "a": 2}', unique_keys=True)


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("0", "0"),
        ("-0", "-0"),
        ("1.0", "1.0"),
        ("0.000", "0.000"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("1E5", "1e+5"),
        ("1e5", "1e+5"),
        ("1E+5", "1e+5"),
        ("3E-2", "3e-2"),
        ("2.50e-3", "2.50e-3"),
        ("1e+400", "1e+400"),
        ("-1.5E05", "-1.5e+05"),
    ],
)
def test_numbers_are_written_as_in_the_input_but_the_exponent(written, expected):
    assert roundtrip(written) == expected
    assert roundtrip(f'{{"n": [{written}]}}') == f'{{"n":[{expected}]}}'


def test_string_escapes_are_resolved_when_read():
    assert loads(r'"\"\\\/\b\f\n\r\t\u0041\u00e9"') == '"\\/\b\f\n\r\tA\u00e9'


def test_strings_are_written_with_the_contracts_escapes():
    assert dumps('"\\') == r'"\"\\"'
    assert dumps("\b\f\n\r\t") == r'"\b\f\n\r\t"'
    assert dumps("\x00\x01\x1f") == r'"\u0000\u0001\u001f"'
    assert dumps("\x0b") == r'"\u000b"'
    # `/`, DEL, U+2028 and non-ASCII are written raw.
    assert dumps("/\x7f\u2028Zoë 例え \U0001f469\u200d\U0001f4bb") == (
        '"/\x7f\u2028Zoë 例え \U0001f469\u200d\U0001f4bb"'
    )


def test_keys_are_escaped_like_strings():
    assert roundtrip('{"\\u0065mail\\n\\u001F": 1}') == '{"email\\n\\u001f":1}'


def test_literals_and_empty_containers():
    assert roundtrip("[true,false,null,{},[],\"\"]") == '[true,false,null,{},[],""]'
    assert loads("null") is None
    assert loads("true") is True


def test_dumps_refuses_values_json_cannot_hold():
    with pytest.raises(TypeError):
        dumps({"a": 1.5})
    with pytest.raises(TypeError):
        strict_json.dumps(object())
