//! Host-side bindings generated from `sdk/wit`, the contract's only source.
//!
//! Exports are `async` because the engine runs with async support (a stage's
//! call runs on a fiber and the pipeline's tokio task can await it). Imports
//! stay synchronous: the denied imports and `log` never block. When granted
//! imports (http, sql) arrive, they become `async` here.

wasmtime::component::bindgen!({
    path: "../../sdk/wit",
    world: "transform",
    exports: { default: async },
});
