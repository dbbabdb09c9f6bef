//! The demo's click events: JSON lines appended to the file the `clicks`
//! pipeline's source follows, at a steady rate, numbered in `click` so a
//! sink's file shows which events it holds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// The page `late-sink.toml`'s filter keeps.
pub const CHECKOUT_PAGE: &str = "/checkout";
/// How long the events are written over, in steps of `TICK`.
const GENERATE_FOR: Duration = Duration::from_secs(4);
const TICK: Duration = Duration::from_millis(100);

/// What the event writer wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct Generated {
    pub events: u64,
    /// Events on the page `late-sink.toml` keeps.
    pub checkouts: u64,
}

/// Appends `events` click events to `path` over `GENERATE_FOR`, counting
/// them into `written` after each step.
pub fn generate(path: &Path, events: u64, written: &AtomicU64) -> anyhow::Result<Generated> {
    const USERS: &[&str] = &[
        "ada", "grace", "linus", "barbara", "ken", "margaret", "dennis", "frances", "edsger",
        "radia", "niklaus", "sophie",
    ];
    let file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))?;
    let mut out = BufWriter::new(file);
    let steps = (GENERATE_FOR.as_millis() / TICK.as_millis()) as u64;
    let started = Instant::now();
    // A fixed seed: every run writes the same users and pages.
    let mut random = XorShift(0x5eed_c11c_5eed_c11c);
    let mut generated = Generated::default();
    for step in 1..=steps {
        let until = events * step / steps;
        while generated.events < until {
            let user = USERS[random.below(USERS.len() as u64) as usize];
            let page = match random.below(100) {
                0..=29 => "/".to_string(),
                30..=49 => "/search".to_string(),
                50..=79 => format!("/product/{}", 100 + random.below(40)),
                80..=89 => "/cart".to_string(),
                _ => CHECKOUT_PAGE.to_string(),
            };
            generated.checkouts += u64::from(page == CHECKOUT_PAGE);
            writeln!(
                out,
                r#"{{"click":{},"user":"{user}","email":"{user}@example.com","page":"{page}","ts":{}}}"#,
                generated.events,
                now_ms()
            )
            .with_context(|| format!("write {}", path.display()))?;
            generated.events += 1;
        }
        // Flushed at each step, so `written` counts only lines that are in
        // the file. (A line cut by an earlier flush of the full buffer is
        // no harm: the source waits for its `\n`.)
        out.flush()
            .with_context(|| format!("write {}", path.display()))?;
        written.store(generated.events, Ordering::Relaxed);
        if let Some(rest) = (TICK * step as u32).checked_sub(started.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    Ok(generated)
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// xorshift64: enough randomness for made-up clicks, without a dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
