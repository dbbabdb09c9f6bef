// `mask` in JavaScript: replaces named fields of JSON record values with
// "***" (redact) or their SHA-256 (hash). It behaves exactly like the Rust
// reference `plugins/mask` (plugins/README.md, "`mask`, exactly"); the
// conformance test runs both on tests/conformance/mask/ and compares bytes.
//
// Config: {"fields": ["email", "card.number"], "mode": "redact" | "hash"}.
// The masking lives in mask.js (JSON in json.js, SHA-256 in sha256.js) with
// no host imports, so `node --test plugins/mask-js/` tests it natively;
// this module only wires it to the contract.

import { exportTransform, invalidConfig, toDefault } from "sluice";
import { ConfigError, Mask } from "./mask.js";

class MaskTransform {
  constructor(mask) {
    this.mask = mask;
  }

  static init(config) {
    try {
      return new MaskTransform(Mask.fromConfig(config));
    } catch (error) {
      if (error instanceof ConfigError) throw invalidConfig(error.message);
      throw error;
    }
  }

  /// One output per record, in order, to the default output; only the
  /// value may change.
  process(batch) {
    return batch.map((record) => {
      if (record.value !== undefined) {
        const masked = this.mask.apply(record.value);
        if (masked !== undefined) record.value = masked;
      }
      return toDefault(record);
    });
  }
}

export const { init, process } = exportTransform(MaskTransform);
