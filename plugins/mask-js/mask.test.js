import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, Mask } from "./mask.js";

const utf8 = (text) => new TextEncoder().encode(text);
const applyText = (mask, text) => {
  const out = mask.apply(utf8(text));
  return out === undefined ? undefined : new TextDecoder().decode(out);
};

test("redact replaces top-level and nested fields and keeps order", () => {
  const mask = Mask.fromConfig('{"fields": ["email", "card.number"], "mode": "redact"}');
  assert.equal(
    applyText(mask, '{"id": 7, "email": "a@b.c", "card": {"number": "4111", "exp": "12/30"}, "z": true}'),
    '{"id":7,"email":"***","card":{"number":"***","exp":"12/30"},"z":true}',
  );
});

test("hash of a string is the SHA-256 of its UTF-8 bytes, of anything else of its compact text", () => {
  const mask = Mask.fromConfig('{"fields": ["email", "card"], "mode": "hash"}');
  assert.equal(
    applyText(mask, '{"email": "abc"}'),
    '{"email":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}',
  );
  // sha256 of `{"number":4111}`, the compact text, not the spaced input.
  assert.equal(
    applyText(mask, '{"card": { "number" : 4111 }}'),
    '{"card":"630e058e61891df09111b0f4623b17d218d24aac6ccd16006e310cfd8f2d0a92"}',
  );
  // sha256 of `12`.
  assert.equal(applyText(mask, '{"card": 12}'), '{"card":"6b51d431df5d7f141cbececcf79edf3dd861c3b4069f0b11661a3eefacbba918"}');
});

test("values that are not JSON objects, or lack every field, pass unchanged", () => {
  const mask = Mask.fromConfig('{"fields": ["email", "card.number"], "mode": "redact"}');
  for (const value of ["not json", "[1, 2]", '"email"', "42", "", '{"id": 1}', '{"card": "4111"}', '{"card": [{"number": 1}]}']) {
    assert.equal(applyText(mask, value), undefined, value);
  }
  assert.equal(mask.apply(Uint8Array.from([0xff, 0xfe])), undefined);
});

test("a present null field is masked", () => {
  const mask = Mask.fromConfig('{"fields": ["email"], "mode": "redact"}');
  assert.equal(applyText(mask, '{"email": null}'), '{"email":"***"}');
});

test("bad configs are ConfigErrors", () => {
  for (const config of [
    '{"fields": [], "mode": "redact"}',
    '{"fields": ["a..b"], "mode": "redact"}',
    '{"fields": [".a"], "mode": "redact"}',
    '{"fields": ["a"], "mode": "scramble"}',
    '{"fields": ["a"], "mode": "hash", "salt": "x"}',
    '{"fields": ["a"]}',
    '{"mode": "hash"}',
    '{"fields": "a", "mode": "hash"}',
    '{"fields": [1], "mode": "hash"}',
    '{"fields": ["a"], "mode": "hash", "mode": "hash"}',
    '["a"]',
    "not json",
  ]) {
    assert.throws(() => Mask.fromConfig(config), ConfigError, config);
  }
});
