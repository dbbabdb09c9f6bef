//! `passthrough`: every record goes to the default output unchanged.
//!
//! The identity guest: benchmarks compare a transform against it, and tests
//! use it to see records cross the Wasm boundary and back intact.

use sluice_guest::{Error, Output, Record, Transform};

struct Passthrough;

impl Transform for Passthrough {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(Passthrough)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        Ok(batch.into_iter().map(Output::to_default).collect())
    }
}

sluice_guest::export_transform!(Passthrough);
