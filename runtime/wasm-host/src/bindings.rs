//! Host-side bindings generated from `sdk/wit`, the contract's only source.
//!
//! One module per world. The imports (`log`, `secrets`, `state`, `http`,
//! `sql`, `files`) and the shared `types` are generated once, in
//! [`transform`]; the `source` and `sink` worlds reuse them (`with:`), so a
//! single set of host implementations and one linker serve all three.
//!
//! Exports are `async` because the engine runs with async support (a
//! stage's call runs on a fiber the pipeline's tokio task can await).
//! Imports that wait on the network (`http.send`, `sql.*`) are `async`
//! too, so a guest waiting on a server parks its fiber instead of a thread;
//! the rest (`log`, `secrets`, `state`, `files`) finish at once.

pub mod transform {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "transform",
        imports: {
            "sluice:pipeline/http.send": async,
            "sluice:pipeline/sql.query": async,
            "sluice:pipeline/sql.execute": async,
        },
        exports: { default: async },
    });
}

pub mod source {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "source",
        with: { "sluice:pipeline": super::transform::sluice::pipeline },
        exports: { default: async },
    });
}

pub mod sink {
    wasmtime::component::bindgen!({
        path: "../../sdk/wit",
        world: "sink",
        with: { "sluice:pipeline": super::transform::sluice::pipeline },
        exports: { default: async },
    });
}
