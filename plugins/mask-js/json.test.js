import { test } from "node:test";
import assert from "node:assert/strict";
import { DEPTH_MAX, JsonNumber, JsonSyntaxError, parse, quote, write } from "./json.js";

const utf8 = (text) => new TextEncoder().encode(text);
const roundTrip = (text) => write(parse(utf8(text)));
const rejects = (bytes) => assert.throws(() => parse(bytes), JsonSyntaxError, `accepted ${Buffer.from(bytes).toString("hex")}`);

test("writes compact text and keeps member order, integer-like keys included", () => {
  assert.equal(roundTrip(' { "b" : 1 ,\t"2": [ true , false , null ],\r\n"1": {} , "a": [] } '), '{"b":1,"2":[true,false,null],"1":{},"a":[]}');
});

test("a duplicate key keeps its first position and its last value", () => {
  assert.equal(roundTrip('{"a":1,"b":2,"a":{"x":3}}'), '{"a":{"x":3},"b":2}');
  assert.throws(() => parse(utf8('{"a":1,"a":2}'), { rejectDuplicateKeys: true }), /duplicate key "a"/);
});

test("numbers keep their text; only the exponent is normalised", () => {
  const cases = [
    ["1E5", "1e+5"],
    ["2.50e-3", "2.50e-3"],
    ["-0", "-0"],
    ["1.0", "1.0"],
    ["3E-2", "3e-2"],
    ["1e+400", "1e+400"],
    ["0.000", "0.000"],
    ["12345678901234567890123", "12345678901234567890123"],
    ["-1.5E+07", "-1.5e+07"],
  ];
  for (const [input, output] of cases) {
    const value = parse(utf8(input));
    assert.ok(value instanceof JsonNumber);
    assert.equal(write(value), output, input);
  }
});

test("rejects malformed numbers, literals and structure", () => {
  for (const text of [
    "01", "-", "1.", ".5", "1e", "1e+", "+1", "NaN", "Infinity", "-Infinity", "0x10", "1.e5",
    "tru", "nul", "True", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "", " ", "{} {}", "'a'",
    "\"a", "[", "{", "\u00a0{}", "\ufeff{}",
  ]) {
    rejects(utf8(text));
  }
});

test("strings resolve escapes and surrogate pairs", () => {
  assert.equal(parse(utf8('"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u0065\\uD83D\\uDE00"')), '"\\/\b\f\n\r\té\u0065😀');
});

test("rejects lone surrogates, bad escapes and raw control characters", () => {
  for (const text of ['"\\ud800"', '"\\udc00"', '"\\ud800\\u0041"', '"\\ud800x"', '"\\x"', '"\\u12"', '"\\U0041"', '"a\u0001"', '"a\nb"', '"\t"']) {
    rejects(utf8(text));
  }
});

test("decodes UTF-8 strictly", () => {
  assert.equal(parse(Uint8Array.from([0x22, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80, 0x7f, 0x22])), "é€😀\u007f");
  for (const bad of [
    [0xff], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf0, 0x80, 0x80, 0x80],
    [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0x80], [0xc3, 0x28],
  ]) {
    rejects(Uint8Array.from([0x22, ...bad, 0x22]));
  }
  rejects(Uint8Array.from([0x7b, 0x7d, 0xc3, 0xa9])); // non-ASCII outside a string
});

test("accepts nesting 127 deep and rejects 128 (the reference's limit)", () => {
  assert.equal(DEPTH_MAX, 127);
  const nested = (depth, open, close) => open.repeat(depth) + close.repeat(depth);
  assert.equal(roundTrip(nested(127, "[", "]")), nested(127, "[", "]"));
  rejects(utf8(nested(128, "[", "]")));
  const objects = (depth) => '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
  assert.equal(roundTrip(objects(127)), objects(127));
  rejects(utf8(objects(128)));
});

test("quote escapes only quote, backslash and control characters", () => {
  assert.equal(quote('"\\\b\f\n\r\t\u0000\u0001\u001f'), '"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f"');
  assert.equal(quote("/\u007f\u2028é😀"), '"/\u007f\u2028é😀"');
});
