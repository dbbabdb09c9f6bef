// A Sluice transform in JavaScript: every record to the default output,
// unchanged. Copy this directory to start a new transform.
//
// Build it into a component with
//   bash sdk/js/build-component DIR OUT.wasm
// (`cargo xtask wasm` does so for every directory of plugins/ holding an
// index.js). See sdk/js/README.md.

import { Level, exportTransform, invalidConfig, log, toDefault } from "sluice";

class Passthrough {
  // Called once, before the first batch, with the stage's `config` table
  // as JSON text. Throwing `invalidConfig(...)` stops the pipeline before
  // it starts.
  static init(config) {
    try {
      JSON.parse(config);
    } catch (error) {
      throw invalidConfig(`passthrough: config is not JSON: ${error.message}`);
    }
    // The host's log, tagged with pipeline and stage: per batch at most,
    // never per record.
    log(Level.Debug, "passthrough: ready");
    return new Passthrough();
  }

  // Called once per batch. A record is { key, value, headers, timestamp,
  // origin }: key and value are Uint8Array or undefined, timestamp a
  // bigint. Return one output per record to keep (none drops it, several
  // split it); to(target, record) routes a record to a named output.
  process(batch) {
    return batch.map(toDefault);
  }
}

// The component's exports: `init` and `process` of the `transform` world.
export const { init, process } = exportTransform(Passthrough);
