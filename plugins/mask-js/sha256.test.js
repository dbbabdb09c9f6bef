import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex } from "./sha256.js";

const ascii = (text) => new TextEncoder().encode(text);

test("FIPS 180-2 test vectors", () => {
  assert.equal(sha256Hex(ascii("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(sha256Hex(ascii("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.equal(
    sha256Hex(ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
});

test("agrees with node:crypto at every length around the block and padding edges", () => {
  for (let length = 0; length <= 200; length += 1) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 131 + length) & 0xff);
    const expected = createHash("sha256").update(bytes).digest("hex");
    assert.equal(sha256Hex(bytes), expected, `length ${length}`);
  }
});

test("agrees with node:crypto on a multi-block input", () => {
  const bytes = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) & 0xff);
  assert.equal(sha256Hex(bytes), createHash("sha256").update(bytes).digest("hex"));
});
