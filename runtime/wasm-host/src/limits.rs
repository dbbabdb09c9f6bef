//! Per-instance limits: the stage's memory cap and call deadline, with
//! defaults, and the limiter that remembers a refused memory growth so an
//! out-of-memory is reported as such rather than as a generic trap.
//!
//! CPU is bounded with epochs, not fuel: the engine's ticker advances the
//! epoch every [`crate::EngineConfig::epoch_tick`], and each call gets a
//! deadline of `ceil(deadline / tick)` ticks (so a hit lands within one tick
//! of the deadline). The wasm stack cap is engine-wide (wasmtime sets it on
//! the `Config`), see [`crate::EngineConfig::max_wasm_stack_bytes`].

use std::time::Duration;

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// Limits of one stage's instance; each stage can set its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageLimits {
    /// Largest linear memory the instance may grow to, in bytes.
    pub memory_max_bytes: usize,
    /// Longest a single `init` or `process` call may run.
    pub deadline: Duration,
    /// Largest table the instance may grow to, in elements.
    pub table_elements_max: usize,
}

impl StageLimits {
    /// 64 MiB: room for a batch of a few thousand records and their copies.
    pub const DEFAULT_MEMORY_MAX_BYTES: usize = 64 << 20;
    /// 1 s per batch: far above a transform's normal cost, short enough
    /// that a runaway loop does not stall the partition for long.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);
    pub const DEFAULT_TABLE_ELEMENTS_MAX: usize = 100_000;
}

impl Default for StageLimits {
    fn default() -> Self {
        Self {
            memory_max_bytes: Self::DEFAULT_MEMORY_MAX_BYTES,
            deadline: Self::DEFAULT_DEADLINE,
            table_elements_max: Self::DEFAULT_TABLE_ELEMENTS_MAX,
        }
    }
}

/// `StoreLimits` plus a record of the last memory growth it refused.
///
/// A refused growth is not a trap by itself: `memory.grow` returns -1 and a
/// Rust guest's allocator then aborts, which traps as `unreachable`. The
/// host looks here after a trap to report it as an out-of-memory.
pub(crate) struct StageLimiter {
    inner: StoreLimits,
    /// The size a refused `memory.grow` asked for, in bytes.
    pub(crate) refused_memory_bytes: Option<usize>,
}

impl StageLimiter {
    pub(crate) fn new(limits: &StageLimits) -> Self {
        Self {
            inner: StoreLimitsBuilder::new()
                .memory_size(limits.memory_max_bytes)
                .table_elements(limits.table_elements_max)
                // A component holds a handful of core instances, memories
                // and tables (the guest, its WASI shims); these caps leave
                // room for that and stop nothing a real guest does.
                .instances(64)
                .memories(16)
                .tables(64)
                .build(),
            refused_memory_bytes: None,
        }
    }
}

impl ResourceLimiter for StageLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if !allowed {
            self.refused_memory_bytes = Some(desired);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The epoch deadline, in ticks, for a call of at most `deadline`.
pub(crate) fn deadline_ticks(deadline: Duration, tick: Duration) -> u64 {
    let tick_nanos = tick.as_nanos().max(1);
    deadline.as_nanos().div_ceil(tick_nanos).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_whole_ticks() {
        let tick = Duration::from_millis(10);
        assert_eq!(deadline_ticks(Duration::from_secs(1), tick), 100);
        assert_eq!(deadline_ticks(Duration::from_millis(15), tick), 2);
        assert_eq!(deadline_ticks(Duration::ZERO, tick), 1);
    }
}
