//! A latency histogram that costs a few atomic adds per sample and a fixed
//! 10 KiB, however long the client runs.
//!
//! The producer records one sample per produce request; benchmarks and
//! operators read quantiles from it. Buckets are log-linear in
//! microseconds: exact below 64 µs, then 32 buckets per power of two, so a
//! reported quantile is within 1/32 (about 3%) of the true one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Exact buckets for 0..LINEAR_US microseconds.
const LINEAR_US: u64 = 64;
/// log2 of the buckets per power of two above `LINEAR_US`.
const SUB_BITS: u32 = 5;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// Powers of two covered above `LINEAR_US` (64 µs × 2^34 ≈ 12 days); longer
/// samples land in the last bucket.
const OCTAVES: usize = 34;
const BUCKETS: usize = LINEAR_US as usize + OCTAVES * SUB_BUCKETS;

/// Counts of durations by bucket.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max_us: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count())
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

fn bucket_of(us: u64) -> usize {
    if us < LINEAR_US {
        return us as usize;
    }
    let octave = (63 - us.leading_zeros()) - LINEAR_US.trailing_zeros();
    let sub = (us >> (octave + LINEAR_US.trailing_zeros() - SUB_BITS)) as usize & (SUB_BUCKETS - 1);
    (LINEAR_US as usize + octave as usize * SUB_BUCKETS + sub).min(BUCKETS - 1)
}

/// The smallest value that lands in `bucket`.
fn bucket_floor_us(bucket: usize) -> u64 {
    if bucket < LINEAR_US as usize {
        return bucket as u64;
    }
    let octave = ((bucket - LINEAR_US as usize) / SUB_BUCKETS) as u32;
    let sub = ((bucket - LINEAR_US as usize) % SUB_BUCKETS) as u64;
    (SUB_BUCKETS as u64 + sub) << (octave + LINEAR_US.trailing_zeros() - SUB_BITS)
}

impl LatencyHistogram {
    /// Adds one sample.
    pub fn record(&self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The longest sample.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max_us.load(Ordering::Relaxed))
    }

    /// The `q` quantile (0.0..=1.0): the lower edge of the bucket holding
    /// the sample of that rank, capped at the maximum. Zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        let count = self.count();
        if count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        if rank >= count {
            return self.max();
        }
        let mut seen = 0;
        for (bucket, counter) in self.buckets.iter().enumerate() {
            seen += counter.load(Ordering::Relaxed);
            if seen >= rank {
                let floor = Duration::from_micros(bucket_floor_us(bucket));
                return floor.min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_floors_land_in_their_bucket() {
        let mut last = 0;
        for us in (0..10_000u64).chain((10_000..1 << 40).step_by(9_999_991)) {
            let bucket = bucket_of(us);
            assert!(bucket >= last, "{us} µs went back to bucket {bucket}");
            last = bucket;
            let floor = bucket_floor_us(bucket);
            assert!(floor <= us, "{us} µs in a bucket starting at {floor}");
            assert_eq!(bucket_of(floor), bucket);
            // Relative error of the floor stays within one sub-bucket.
            assert!(
                (us - floor) as f64 <= us as f64 / 32.0 + 1.0,
                "{us} vs {floor}"
            );
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile(0.99), Duration::ZERO);
        // 1..=1000 ms, one sample each.
        for ms in 1..=1000 {
            histogram.record(Duration::from_millis(ms));
        }
        assert_eq!(histogram.count(), 1000);
        assert_eq!(histogram.max(), Duration::from_millis(1000));
        let p50 = histogram.quantile(0.5).as_secs_f64() * 1e3;
        let p99 = histogram.quantile(0.99).as_secs_f64() * 1e3;
        assert!((485.0..=500.0).contains(&p50), "p50 {p50} ms");
        assert!((960.0..=990.0).contains(&p99), "p99 {p99} ms");
        assert_eq!(histogram.quantile(1.0), Duration::from_millis(1000));
    }
}
