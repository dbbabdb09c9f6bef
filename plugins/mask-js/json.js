// A strict JSON (RFC 8259) parser over UTF-8 bytes and a compact writer,
// made to give exactly the text `mask` must write (plugins/README.md,
// "`mask`, exactly"). `JSON.parse` cannot: it turns numbers into doubles,
// moves integer-like keys first and accepts lone surrogate escapes.
//
// Values: objects are `Map`s (insertion order; a duplicate key keeps its
// first position and takes the last value, as `Map.set` does), arrays are
// arrays, strings are JS strings, numbers are `JsonNumber` (their source
// text), and `true`/`false`/`null` are themselves.

/// Deepest nesting of arrays and objects accepted; one more is an error.
export const DEPTH_MAX = 127;

/// A number, kept as its source text with the exponent written as `e`
/// followed by an explicit sign (`1E5` → `1e+5`).
export class JsonNumber {
  constructor(text) {
    this.text = text;
  }
}

/// The input is not JSON (or nests deeper than `DEPTH_MAX`).
export class JsonSyntaxError extends Error {
  constructor(message, offset) {
    super(`${message} at byte ${offset}`);
    this.name = "JsonSyntaxError";
    this.offset = offset;
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const isDigit = (byte) => byte >= 0x30 && byte <= 0x39;
const isWhitespace = (byte) => byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;

/// Escapes that stand for one character, by the byte after the backslash.
const SIMPLE_ESCAPES = new Map([
  [0x22, '"'],
  [0x5c, "\\"],
  [0x2f, "/"],
  [0x62, "\b"],
  [0x66, "\f"],
  [0x6e, "\n"],
  [0x72, "\r"],
  [0x74, "\t"],
]);

/// Parses one JSON text (`Uint8Array`); surrounding whitespace is allowed.
///
/// With `rejectDuplicateKeys`, a key that repeats within an object is an
/// error instead of overwriting (for configs, where it is a mistake).
///
/// Throws `JsonSyntaxError` when the bytes are not one strict JSON value.
export function parse(bytes, { rejectDuplicateKeys = false } = {}) {
  const parser = new Parser(bytes, rejectDuplicateKeys);
  parser.skipWhitespace();
  const value = parser.value(0);
  parser.skipWhitespace();
  if (parser.pos !== bytes.length) parser.fail("trailing characters");
  return value;
}

class Parser {
  constructor(bytes, rejectDuplicateKeys) {
    this.bytes = bytes;
    this.pos = 0;
    this.rejectDuplicateKeys = rejectDuplicateKeys;
  }

  fail(message) {
    throw new JsonSyntaxError(message, this.pos);
  }

  peek() {
    // -1 at the end, which matches no byte.
    return this.pos < this.bytes.length ? this.bytes[this.pos] : -1;
  }

  skipWhitespace() {
    while (isWhitespace(this.peek())) this.pos += 1;
  }

  expect(byte, what) {
    if (this.peek() !== byte) this.fail(`expected ${what}`);
    this.pos += 1;
  }

  /// One value; `depth` counts the arrays and objects around it.
  value(depth) {
    const byte = this.peek();
    switch (byte) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case QUOTE:
        return this.string();
      case 0x74: // t
        return this.literal("true", true);
      case 0x66: // f
        return this.literal("false", false);
      case 0x6e: // n
        return this.literal("null", null);
      default:
        if (byte === 0x2d || isDigit(byte)) return this.number();
        return this.fail(byte === -1 ? "expected a value, found the end" : "expected a value");
    }
  }

  literal(word, value) {
    for (let i = 0; i < word.length; i += 1) {
      if (this.peek() !== word.charCodeAt(i)) this.fail(`expected ${word}`);
      this.pos += 1;
    }
    return value;
  }

  object(depth) {
    if (depth > DEPTH_MAX) this.fail(`nesting deeper than ${DEPTH_MAX}`);
    this.pos += 1; // {
    const members = new Map();
    this.skipWhitespace();
    if (this.peek() === 0x7d) {
      this.pos += 1;
      return members;
    }
    for (;;) {
      if (this.peek() !== QUOTE) this.fail("expected a string key");
      const keyAt = this.pos;
      const key = this.string();
      this.skipWhitespace();
      this.expect(0x3a, "':'");
      this.skipWhitespace();
      const value = this.value(depth);
      if (this.rejectDuplicateKeys && members.has(key)) {
        throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)}`, keyAt);
      }
      members.set(key, value);
      this.skipWhitespace();
      if (this.peek() === 0x2c) {
        this.pos += 1;
        this.skipWhitespace();
        continue;
      }
      this.expect(0x7d, "',' or '}'");
      return members;
    }
  }

  array(depth) {
    if (depth > DEPTH_MAX) this.fail(`nesting deeper than ${DEPTH_MAX}`);
    this.pos += 1; // [
    const items = [];
    this.skipWhitespace();
    if (this.peek() === 0x5d) {
      this.pos += 1;
      return items;
    }
    for (;;) {
      items.push(this.value(depth));
      this.skipWhitespace();
      if (this.peek() === 0x2c) {
        this.pos += 1;
        this.skipWhitespace();
        continue;
      }
      this.expect(0x5d, "',' or ']'");
      return items;
    }
  }

  /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as text.
  number() {
    const start = this.pos;
    if (this.peek() === 0x2d) this.pos += 1;
    if (this.peek() === 0x30) {
      this.pos += 1;
      if (isDigit(this.peek())) this.fail("leading zero in a number");
    } else {
      this.digits();
    }
    if (this.peek() === 0x2e) {
      this.pos += 1;
      this.digits();
    }
    const mantissa = String.fromCharCode(...this.bytes.subarray(start, this.pos));
    const e = this.peek();
    if (e !== 0x65 && e !== 0x45) return new JsonNumber(mantissa);
    this.pos += 1;
    let sign = "+";
    if (this.peek() === 0x2b || this.peek() === 0x2d) {
      sign = String.fromCharCode(this.peek());
      this.pos += 1;
    }
    const digitsAt = this.pos;
    this.digits();
    const exponent = String.fromCharCode(...this.bytes.subarray(digitsAt, this.pos));
    return new JsonNumber(`${mantissa}e${sign}${exponent}`);
  }

  /// One or more ASCII digits.
  digits() {
    if (!isDigit(this.peek())) this.fail("expected a digit");
    while (isDigit(this.peek())) this.pos += 1;
  }

  /// A string token, decoded: escapes resolved, UTF-8 checked strictly.
  string() {
    this.pos += 1; // "
    const bytes = this.bytes;
    let text = "";
    let runStart = this.pos; // start of the plain ASCII run not yet in `text`
    for (;;) {
      if (this.pos >= bytes.length) this.fail("unterminated string");
      const byte = bytes[this.pos];
      if (byte >= 0x20 && byte < 0x80 && byte !== QUOTE && byte !== BACKSLASH) {
        this.pos += 1;
        continue;
      }
      text += asciiRun(bytes, runStart, this.pos);
      if (byte === QUOTE) {
        this.pos += 1;
        return text;
      }
      if (byte === BACKSLASH) {
        text += this.escape();
      } else if (byte < 0x20) {
        this.fail("control character in a string");
      } else {
        text += String.fromCodePoint(this.utf8Sequence());
      }
      runStart = this.pos;
    }
  }

  /// The character of the escape at `pos` (which is a backslash).
  escape() {
    this.pos += 1;
    const byte = this.peek();
    const simple = SIMPLE_ESCAPES.get(byte);
    if (simple !== undefined) {
      this.pos += 1;
      return simple;
    }
    if (byte !== 0x75) this.fail("invalid escape");
    this.pos += 1;
    const unit = this.hex4();
    if (unit >= 0xdc00 && unit <= 0xdfff) this.fail("lone trailing surrogate escape");
    if (unit < 0xd800 || unit > 0xdbff) return String.fromCharCode(unit);
    // A leading surrogate must be followed by an escaped trailing one.
    if (this.peek() !== BACKSLASH || this.bytes[this.pos + 1] !== 0x75) {
      this.fail("lone leading surrogate escape");
    }
    this.pos += 2;
    const low = this.hex4();
    if (low < 0xdc00 || low > 0xdfff) this.fail("lone leading surrogate escape");
    return String.fromCharCode(unit, low);
  }

  hex4() {
    let unit = 0;
    for (let i = 0; i < 4; i += 1) {
      const digit = hexDigit(this.peek());
      if (digit < 0) this.fail("expected four hex digits");
      unit = unit * 16 + digit;
      this.pos += 1;
    }
    return unit;
  }

  /// Decodes the multi-byte UTF-8 sequence at `pos` (RFC 3629: no overlong
  /// forms, no surrogates, nothing above U+10FFFF).
  utf8Sequence() {
    const bytes = this.bytes;
    const lead = bytes[this.pos];
    let length;
    let codePoint;
    let min; // smallest code point this length may encode
    if (lead >= 0xc2 && lead <= 0xdf) {
      [length, codePoint, min] = [2, lead & 0x1f, 0x80];
    } else if (lead >= 0xe0 && lead <= 0xef) {
      [length, codePoint, min] = [3, lead & 0x0f, 0x800];
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      [length, codePoint, min] = [4, lead & 0x07, 0x10000];
    } else {
      return this.fail("invalid UTF-8");
    }
    for (let i = 1; i < length; i += 1) {
      const next = this.pos + i < bytes.length ? bytes[this.pos + i] : -1;
      if ((next & 0xc0) !== 0x80) this.fail("invalid UTF-8");
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    if (codePoint < min || codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) {
      this.fail("invalid UTF-8");
    }
    this.pos += length;
    return codePoint;
  }
}

function asciiRun(bytes, start, end) {
  // Chunked: spreading a very long run as arguments would overflow the stack.
  let text = "";
  for (let at = start; at < end; at += 8192) {
    text += String.fromCharCode(...bytes.subarray(at, Math.min(end, at + 8192)));
  }
  return text;
}

function hexDigit(byte) {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return -1;
}

/// Short escapes for the control characters that have one.
const SHORT_ESCAPES = new Map([
  [0x08, "\\b"],
  [0x0c, "\\f"],
  [0x0a, "\\n"],
  [0x0d, "\\r"],
  [0x09, "\\t"],
]);

/// A string as JSON: `"` and `\` escaped, control characters as short
/// escapes or `\u00XX` (lowercase hex), everything else as it is.
export function quote(text) {
  let out = '"';
  let runStart = 0;
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x20 && unit !== 0x22 && unit !== 0x5c) continue;
    out += text.slice(runStart, i);
    if (unit === 0x22) out += '\\"';
    else if (unit === 0x5c) out += "\\\\";
    else out += SHORT_ESCAPES.get(unit) ?? `\\u00${unit.toString(16).padStart(2, "0")}`;
    runStart = i + 1;
  }
  return `${out}${text.slice(runStart)}"`;
}

/// The compact text of a parsed value: no whitespace at all.
export function write(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return quote(value);
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(write).join(",")}]`;
  if (value instanceof Map) {
    const members = [];
    for (const [key, member] of value) members.push(`${quote(key)}:${write(member)}`);
    return `{${members.join(",")}}`;
  }
  throw new TypeError(`write: not a parsed JSON value: ${String(value)}`);
}
