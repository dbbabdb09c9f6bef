// The masking of `mask`, as plain functions with no host imports, so
// `node --test plugins/mask-js/` runs them natively. The behaviour is the
// Rust reference's (`plugins/mask`), to the byte: plugins/README.md,
// "`mask`, exactly".

import { JsonSyntaxError, parse, write } from "./json.js";
import { sha256Hex } from "./sha256.js";

/// The string a redacted field becomes.
const REDACTED = "***";
const MODES = new Set(["redact", "hash"]);
const CONFIG_SHAPE = '{"fields": ["a.b", ...], "mode": "redact" | "hash"}';

const utf8 = new TextEncoder();

/// The config is not what `mask` takes; the message says why.
export class ConfigError extends Error {
  constructor(message) {
    super(`mask: ${message}`);
    this.name = "ConfigError";
  }
}

/// A validated config: the field paths, split at dots, and the mode.
export class Mask {
  constructor(paths, mode) {
    /// Each path has at least one segment, and no segment is empty.
    this.paths = paths;
    this.mode = mode;
  }

  /// Parses and validates the stage's config (JSON text).
  ///
  /// Throws `ConfigError` when it is not `CONFIG_SHAPE` exactly (no other
  /// keys), when `fields` is empty, or when a path has an empty segment.
  static fromConfig(text) {
    let config;
    try {
      config = parse(utf8.encode(text), { rejectDuplicateKeys: true });
    } catch (error) {
      if (!(error instanceof JsonSyntaxError)) throw error;
      throw new ConfigError(`config ${JSON.stringify(text)} is not ${CONFIG_SHAPE}: ${error.message}`);
    }
    const notShape = (why) => new ConfigError(`config ${JSON.stringify(text)} is not ${CONFIG_SHAPE}: ${why}`);
    if (!(config instanceof Map)) throw notShape("not an object");
    for (const key of config.keys()) {
      if (key !== "fields" && key !== "mode") throw notShape(`unknown key ${JSON.stringify(key)}`);
    }
    const fields = config.get("fields");
    const mode = config.get("mode");
    if (!Array.isArray(fields) || !fields.every((field) => typeof field === "string")) {
      throw notShape("fields must be a list of strings");
    }
    if (!MODES.has(mode)) throw notShape('mode must be "redact" or "hash"');
    if (fields.length === 0) {
      throw new ConfigError('config.fields is empty; name at least one field to mask, e.g. ["email"]');
    }
    const paths = fields.map((field) => {
      const path = field.split(".");
      if (path.some((segment) => segment === "")) {
        throw new ConfigError(
          `config.fields has ${JSON.stringify(field)}, which has an empty path segment; ` +
            'write dotted paths like "card.number"',
        );
      }
      return path;
    });
    return new Mask(paths, mode);
  }

  /// Masks one record value (`Uint8Array`). Returns the new bytes, or
  /// `undefined` when the value stays as it is: not a JSON object, or none
  /// of the fields present.
  apply(value) {
    let root;
    try {
      root = parse(value);
    } catch (error) {
      if (error instanceof JsonSyntaxError) return undefined;
      throw error;
    }
    if (!(root instanceof Map)) return undefined;
    let changed = false;
    // In config order: a later path sees what an earlier one masked.
    for (const path of this.paths) {
      const parent = parentOf(root, path);
      const last = path[path.length - 1];
      if (parent !== undefined && parent.has(last)) {
        parent.set(last, this.masked(parent.get(last)));
        changed = true;
      }
    }
    return changed ? utf8.encode(write(root)) : undefined;
  }

  masked(field) {
    if (this.mode === "redact") return REDACTED;
    const text = typeof field === "string" ? field : write(field);
    return sha256Hex(utf8.encode(text));
  }
}

/// The object holding the last segment of `path`, if every segment but the
/// last names an object member. Arrays are not entered.
function parentOf(root, path) {
  let current = root;
  for (const segment of path.slice(0, -1)) {
    current = current.get(segment);
    if (!(current instanceof Map)) return undefined;
  }
  return current;
}
