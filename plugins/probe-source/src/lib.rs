//! `probe-source`: a source for tests of the host's `source` world.
//!
//! Config: `{"records": N}`. Emits the values `"0"`, `"1"`, ... up to
//! `N - 1`, at most `max-records` per poll, each batch with the checkpoint
//! after it (the next number, as decimal text); then empty batches.
//! `open` resumes after the checkpoint it is given. With the `state` grant,
//! `commit` also stores the checkpoint under the key `committed`, and a
//! record `{"trap_at": K}` in config (optional) panics when polling reaches
//! K, to test re-opening after a trap.

use serde::Deserialize;
use sluice_guest::host::state;
use sluice_guest::{Batch, Error, Record, Source};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    records: u64,
    #[serde(default)]
    trap_at: Option<u64>,
    #[serde(default)]
    use_state: bool,
}

struct Counter {
    next: u64,
    config: Config,
}

fn parse_checkpoint(bytes: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| Error::invalid_input(format!("probe-source: bad checkpoint {bytes:?}")))
}

impl Source for Counter {
    fn open(config: &str, checkpoint: Option<Vec<u8>>) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| Error::invalid_config(format!("probe-source: {e}")))?;
        let next = match checkpoint {
            Some(bytes) => parse_checkpoint(&bytes)?,
            None => 0,
        };
        Ok(Counter { next, config })
    }

    fn poll(&mut self, max_records: u32) -> Result<Batch, Error> {
        let end = self.config.records.min(self.next + u64::from(max_records));
        if let Some(trap_at) = self.config.trap_at {
            assert!(
                !(self.next..end).contains(&trap_at),
                "probe-source: trap_at {trap_at} reached"
            );
        }
        let records = (self.next..end)
            .map(|n| Record {
                key: None,
                value: Some(n.to_string().into_bytes()),
                headers: vec![],
                timestamp: 1_700_000_000_000 + n as i64,
                origin: None,
            })
            .collect::<Vec<_>>();
        let moved = end > self.next;
        self.next = end;
        Ok(Batch {
            records,
            checkpoint: moved.then(|| end.to_string().into_bytes()),
        })
    }

    fn commit(&mut self, checkpoint: Vec<u8>) -> Result<(), Error> {
        parse_checkpoint(&checkpoint)?;
        if self.config.use_state {
            state::set(b"committed", &checkpoint)?;
        }
        Ok(())
    }
}

sluice_guest::export_source!(Counter);
