//! `state.*`: the stage's own key-value store ([`crate::StateStore`]).
//! A failing store is `unavailable`, so the host retries the batch.

use crate::bindings::transform::sluice::pipeline::{state, types};
use crate::grants::Grant;
use crate::state_store::StateError;

use super::HostState;

fn unavailable(function: &str, e: StateError) -> types::Error {
    types::Error {
        kind: types::ErrorKind::Unavailable,
        message: format!("`{function}`: {e}"),
    }
}

impl state::Host for HostState {
    fn get(&mut self, key: Vec<u8>) -> Result<Option<Vec<u8>>, types::Error> {
        self.check(Grant::State, "state.get")?;
        let store = self.grants.state().expect("checked above");
        store.get(&key).map_err(|e| unavailable("state.get", e))
    }

    fn set(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), types::Error> {
        self.check(Grant::State, "state.set")?;
        let store = self.grants.state().expect("checked above");
        store
            .set(&key, &value)
            .map_err(|e| unavailable("state.set", e))
    }

    fn delete(&mut self, key: Vec<u8>) -> Result<(), types::Error> {
        self.check(Grant::State, "state.delete")?;
        let store = self.grants.state().expect("checked above");
        store
            .delete(&key)
            .map_err(|e| unavailable("state.delete", e))
    }
}
