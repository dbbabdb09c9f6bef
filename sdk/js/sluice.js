// sluice: write a Sluice transform in JavaScript.
//
//   import { exportTransform, toDefault } from "sluice";
//
//   class Passthrough {
//     static init(config) { return new Passthrough(); }
//     process(batch) { return batch.map(toDefault); }
//   }
//
//   export const { init, process } = exportTransform(Passthrough);
//
// `sdk/js/build-component` builds the guest's `index.js` into a component of
// the `transform` world in `sdk/wit`; this module is bundled with it. It
// mirrors the Rust SDK (`sdk/rust`): the export glue, constructors for the
// contract's values and a `log` helper. It holds no transform logic.
//
// How the contract's types look in JavaScript (componentize-js):
// - record: `{ key, value, headers, timestamp, origin }`. `key` and `value`
//   are `Uint8Array`, or `undefined` for none (a keyless record, a
//   tombstone); `headers` is a list of `{ key: string, value: Uint8Array |
//   undefined }`; `timestamp` (ms since the Unix epoch) is a `bigint`;
//   `origin` is `{ topic, partition, offset: bigint }` or `undefined`.
//   Outgoing bytes may be any `Uint8Array` (or a plain array of bytes).
// - output: `{ record, target }`, `target` a string or `undefined`.
// - error: an export returns normally for `ok`; for `err` it throws a value
//   whose own `payload` property is the `{ kind, message }` error, which is
//   what `SluiceError` is. Any other exception traps the instance, like a
//   panic in a Rust guest (`exportTransform` logs it first): the host
//   reports the stage as trapped.

import { log as hostLog } from "sluice:pipeline/log@0.1.0";

/// The contract's `error-kind`s: what the host does with a failed call.
export const ErrorKind = Object.freeze({
  /// The stage's configuration is wrong: the pipeline does not start.
  InvalidConfig: "invalid-config",
  /// The batch cannot be processed: its records go to the dead-letter topic.
  InvalidInput: "invalid-input",
  /// An outside system is unavailable: the host retries with backoff.
  Unavailable: "unavailable",
  /// A host interface was called without its grant.
  PermissionDenied: "permission-denied",
  /// Anything else; treated like invalid-input.
  Internal: "internal",
});

const KINDS = new Set(Object.values(ErrorKind));

/// A contract `error`: throw it from `init` or `process` to fail the call.
export class SluiceError extends Error {
  constructor(kind, message) {
    // An unknown kind would trap when the error is handed to the host; say
    // so where the mistake is made.
    if (!KINDS.has(kind)) {
      throw new TypeError(`SluiceError: kind ${JSON.stringify(kind)} is not one of ${[...KINDS].join(", ")}`);
    }
    super(String(message));
    this.name = "SluiceError";
    this.kind = kind;
    // componentize-js lowers a thrown value's own `payload` as the `err`.
    this.payload = { kind, message: this.message };
  }
}

/// The stage's configuration is wrong: the pipeline does not start.
export function invalidConfig(message) {
  return new SluiceError(ErrorKind.InvalidConfig, message);
}

/// The batch cannot be processed: its records go to the dead-letter topic
/// with this message.
export function invalidInput(message) {
  return new SluiceError(ErrorKind.InvalidInput, message);
}

/// An outside system is unavailable: the host retries with backoff.
export function unavailable(message) {
  return new SluiceError(ErrorKind.Unavailable, message);
}

/// Anything else; treated like invalid-input.
export function internal(message) {
  return new SluiceError(ErrorKind.Internal, message);
}

/// Sends `record` to the stage's default output.
export function toDefault(record) {
  return { record, target: undefined };
}

/// Sends `record` to the stage's output named `target` (declared in the
/// pipeline file).
export function to(target, record) {
  return { record, target };
}

/// A record with only a value: no key, no headers, timestamp 0, no origin.
export function fromValue(value) {
  return { key: undefined, value, headers: [], timestamp: 0n, origin: undefined };
}

/// Log levels for `log`.
export const Level = Object.freeze({
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warn",
  Error: "error",
});

/// Writes a message into the host's log, tagged with the pipeline and
/// stage. Always granted. Call it per batch, not per record.
export function log(level, message) {
  hostLog(level, String(message));
}

/// Turns a transform class into the component's `init` and `process`:
///
///   export const { init, process } = exportTransform(MyTransform);
///
/// `MyTransform.init(config)` gets the stage's config (JSON text) and
/// returns the instance; `instance.process(batch)` returns the outputs. The
/// host calls `init` once, then `process` per batch, never concurrently.
export function exportTransform(Transform) {
  if (typeof Transform?.init !== "function") {
    throw new TypeError("exportTransform: the transform needs a static init(config) returning the instance");
  }
  let instance;
  return {
    init(config) {
      instance = guard("init", () => Transform.init(config));
    },
    process(batch) {
      if (instance === undefined) {
        throw internal("process was called before init succeeded; the host must call init first");
      }
      return guard("process", () => instance.process(batch));
    },
  };
}

/// Runs an export's body. An exception other than a `SluiceError` is a bug
/// in the transform and traps the instance, as a panic does in a Rust
/// guest; the trap itself would only say that the exception is not a
/// contract error, so what was thrown is logged first.
function guard(exportName, body) {
  try {
    return body();
  } catch (error) {
    if (!(error instanceof SluiceError)) {
      const what = error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ""}` : String(error);
      hostLog(Level.Error, `${exportName} threw ${what.trimEnd()} (throw a SluiceError to fail the call without trapping)`);
    }
    throw error;
  }
}
