//! Which partition a record goes to, exactly as Kafka's Java client picks
//! it, so Sluice producers and Java producers agree on where a key lives.
//!
//! - A keyed record goes to `toPositive(murmur2(key)) % partitions`
//!   (`BuiltInPartitioner.partitionForKey`): murmur2 with Kafka's seed,
//!   masked with `0x7fffffff` (not `abs`, so `i32::MIN` maps to 0).
//! - A keyless record sticks to one partition until that partition's batch
//!   is closed, then moves on to the next (KIP-480's sticky partitioner,
//!   turned round-robin instead of random so runs are repeatable). Sticking
//!   fills one batch at a time instead of many small ones.

/// Kafka's partition for `key` among `partitions` partitions.
///
/// # Panics
/// If `partitions` is zero (a topic always has at least one).
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) as usize % partitions) as i32
}

/// Murmur2 as Kafka's `Utils.murmur2` computes it (seed `0x9747b28c`).
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java's switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of keyless records of one topic.
#[derive(Debug, Default, Clone)]
pub struct StickyPartitioner {
    /// The partition records stick to until its batch closes.
    current: Option<i32>,
    /// Picks fed so far; the next pick is `picks % partitions`.
    picks: u64,
}

impl StickyPartitioner {
    /// The partition for the next keyless record among `partitions`.
    ///
    /// # Panics
    /// If `partitions` is zero.
    pub fn partition(&mut self, partitions: usize) -> i32 {
        assert!(partitions > 0, "a topic has at least one partition");
        match self.current {
            Some(current) if (current as usize) < partitions => current,
            _ => {
                let next = (self.picks % partitions as u64) as i32;
                self.picks += 1;
                self.current = Some(next);
                next
            }
        }
    }

    /// Tells the partitioner that `partition`'s batch was closed, so the
    /// next keyless record moves on.
    pub fn batch_closed(&mut self, partition: i32) {
        if self.current == Some(partition) {
            self.current = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafka() {
        // Values from Kafka's UtilsTest.testMurmur2.
        let cases: [(&[u8], i32); 4] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
            (b"a-little-bit-longer-string", -1486304829),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "{:?}",
                std::str::from_utf8(key)
            );
        }
    }

    #[test]
    fn murmur2_covers_every_tail_length() {
        // Each tail length (0..=3 bytes after the last 4-byte block) takes
        // another branch. Values from kafka-python's port of Java's murmur2.
        let hashes: Vec<u32> = ["", "a", "ab", "abc", "abcd"]
            .iter()
            .map(|key| murmur2(key.as_bytes()))
            .collect();
        assert_eq!(
            hashes,
            [275646681, 2731586172, 316155434, 479470107, 2971317748]
        );
    }

    #[test]
    fn keyed_partitions_match_the_java_client() {
        // kafka-python's test_murmur2_java_compatibility: partitions among
        // 1000, as Java's default partitioner assigns them.
        let cases: [(&[u8], i32); 6] = [
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
        ];
        for (key, partition) in cases {
            assert_eq!(partition_for_key(key, 1000), partition, "{key:?}");
        }
    }

    #[test]
    fn keyed_partition_masks_instead_of_abs() {
        // murmur2("21") is negative as an i32: masking keeps the low 31 bits.
        let masked = (-973932308i32 as u32 & 0x7fff_ffff) as usize;
        for partitions in [1, 3, 4, 7, 100] {
            assert_eq!(
                partition_for_key(b"21", partitions),
                (masked % partitions) as i32
            );
        }
    }

    #[test]
    fn sticky_partitioner_moves_on_only_when_its_batch_closes() {
        let mut sticky = StickyPartitioner::default();
        assert_eq!(sticky.partition(3), 0);
        assert_eq!(sticky.partition(3), 0);
        sticky.batch_closed(2);
        assert_eq!(sticky.partition(3), 0, "another partition's batch");
        sticky.batch_closed(0);
        assert_eq!(sticky.partition(3), 1);
        sticky.batch_closed(1);
        assert_eq!(sticky.partition(3), 2);
        sticky.batch_closed(2);
        assert_eq!(sticky.partition(3), 0);
        // Fewer partitions than the current one (metadata shrank): re-pick.
        assert_eq!(sticky.partition(1), 0);
    }
}
