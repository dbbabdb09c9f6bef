//! `misbehave`: a transform that breaks the rules on purpose, so tests can
//! see the host enforce its limits.
//!
//! Config: `{"mode": "loop" | "oom" | "trap" | "http"}`. `init` only reads
//! the mode; the misbehaviour happens in `process`, the call the host
//! guards with a deadline and memory limits:
//!
//! - `loop`: spins forever; the host's epoch deadline must stop it.
//! - `oom`: allocates and touches memory without bound; the store's memory
//!   limit must stop it (the failed allocation traps).
//! - `trap`: panics, which is a Wasm trap.
//! - `http`: calls the `http` import, which the test grants nothing, and
//!   returns the host's error (expected: `permission-denied` naming the
//!   grant).

use serde::Deserialize;
use sluice_guest::host::http;
use sluice_guest::{Error, Output, Record, Transform};

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Loop,
    Oom,
    Trap,
    Http,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mode: Mode,
}

struct Misbehave {
    mode: Mode,
}

/// Each allocation step of `oom`: large enough to reach any limit quickly,
/// small enough that the failing step is an ordinary `memory.grow`.
const OOM_STEP_BYTES: usize = 1 << 20;

/// Where `http` mode sends its request; never reached when ungranted.
const HTTP_URL: &str = "http://ungranted.invalid:80/";

impl Transform for Misbehave {
    fn init(config: &str) -> Result<Self, Error> {
        let config: Config = serde_json::from_str(config).map_err(|error| {
            Error::invalid_config(format!(
                "misbehave: config {config:?} is not {{\"mode\": \"loop\" | \"oom\" | \"trap\" | \"http\"}}: {error}"
            ))
        })?;
        Ok(Misbehave { mode: config.mode })
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        match self.mode {
            Mode::Loop => spin_forever(),
            Mode::Oom => allocate_forever(),
            Mode::Trap => panic!(
                "misbehave: trap on purpose (batch of {} records)",
                batch.len()
            ),
            Mode::Http => {
                let request = http::Request {
                    method: "GET".into(),
                    url: HTTP_URL.into(),
                    headers: Vec::new(),
                    body: Vec::new(),
                    timeout_ms: Some(1_000),
                };
                match http::send(&request) {
                    Err(error) => Err(error),
                    Ok(response) => Err(Error::internal(format!(
                        "misbehave: GET {HTTP_URL} returned status {} although no http grant was given",
                        response.status
                    ))),
                }
            }
        }
    }
}

fn spin_forever() -> ! {
    let mut count: u64 = 0;
    loop {
        // `black_box` keeps the loop from being optimised into something
        // that is not a busy loop.
        count = std::hint::black_box(count.wrapping_add(1));
    }
}

fn allocate_forever() -> ! {
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        // Filled with a non-zero byte so every page is really written.
        held.push(vec![0xa5; OOM_STEP_BYTES]);
        std::hint::black_box(&held);
    }
}

sluice_guest::export_transform!(Misbehave);
