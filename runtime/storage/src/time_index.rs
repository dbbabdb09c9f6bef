//! The sparse time index: where to start looking for the first record at
//! or after a timestamp.
//!
//! Fixed 12-byte entries: a timestamp (`i64` ms, big-endian) and a relative
//! offset (`u32`). An entry `(t, o)` promises that every record of the
//! segment up to and including offset `o` has a timestamp at or below `t`:
//! `t` is the running maximum when the batch ending at `o` was appended.
//! Timestamps strictly increase from entry to entry (an entry is written
//! only when the running maximum grew), offsets too.
//!
//! To find the first record with timestamp ≥ T, take the last entry with
//! `t < T` ([`last_before`]): every record up to its offset is older than
//! T, so the search starts at the next offset. Like the offset index, this
//! is a cache of the log, rebuilt from it when damaged.

use sluice_types::Timestamp;

/// Bytes per time index entry.
pub const ENTRY_LEN: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeIndexEntry {
    pub timestamp: Timestamp,
    pub relative_offset: u32,
}

impl TimeIndexEntry {
    pub fn encode(self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[..8].copy_from_slice(&self.timestamp.0.to_be_bytes());
        out[8..].copy_from_slice(&self.relative_offset.to_be_bytes());
        out
    }
}

pub fn entry_count(entries: &[u8]) -> usize {
    entries.len() / ENTRY_LEN
}

/// The `i`-th entry. Panics when `i` is out of range (a caller bug).
pub fn entry_at(entries: &[u8], i: usize) -> TimeIndexEntry {
    let at = i * ENTRY_LEN;
    TimeIndexEntry {
        timestamp: Timestamp(i64::from_be_bytes(
            entries[at..at + 8].try_into().expect("8 bytes"),
        )),
        relative_offset: u32::from_be_bytes(entries[at + 8..at + 12].try_into().expect("4 bytes")),
    }
}

/// The last entry, if any: the segment's largest timestamp as indexed.
pub fn last(entries: &[u8]) -> Option<TimeIndexEntry> {
    let count = entry_count(entries);
    (count > 0).then(|| entry_at(entries, count - 1))
}

/// The last entry whose timestamp is strictly below `timestamp`.
pub fn last_before(entries: &[u8], timestamp: Timestamp) -> Option<TimeIndexEntry> {
    let (mut low, mut high) = (0, entry_count(entries));
    while low < high {
        let mid = (low + high) / 2;
        if entry_at(entries, mid).timestamp < timestamp {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    (low > 0).then(|| entry_at(entries, low - 1))
}

/// How many leading entries are trustworthy: strictly increasing in both
/// fields and below `relative_offset_end` (the segment's next offset).
pub fn valid_prefix(entries: &[u8], relative_offset_end: u64) -> usize {
    let mut previous: Option<TimeIndexEntry> = None;
    for i in 0..entry_count(entries) {
        let entry = entry_at(entries, i);
        if u64::from(entry.relative_offset) >= relative_offset_end {
            return i;
        }
        if let Some(previous) = previous {
            if entry.timestamp <= previous.timestamp
                || entry.relative_offset <= previous.relative_offset
            {
                return i;
            }
        }
        previous = Some(entry);
    }
    entry_count(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn last_before_matches_a_linear_scan(
            stamps in proptest::collection::btree_set(-1000i64..100_000, 0..100),
            target in -2000i64..110_000,
        ) {
            let entries: Vec<TimeIndexEntry> = stamps
                .iter()
                .enumerate()
                .map(|(i, &t)| TimeIndexEntry { timestamp: Timestamp(t), relative_offset: i as u32 * 3 })
                .collect();
            let encoded: Vec<u8> = entries.iter().flat_map(|e| e.encode()).collect();
            let oracle = entries.iter().rev().find(|e| e.timestamp.0 < target).copied();
            prop_assert_eq!(last_before(&encoded, Timestamp(target)), oracle);
            prop_assert_eq!(valid_prefix(&encoded, u64::MAX), entries.len());
        }
    }

    #[test]
    fn valid_prefix_rejects_offsets_past_the_segment() {
        let encoded: Vec<u8> = [(10, 0), (20, 5), (30, 9)]
            .iter()
            .flat_map(|&(t, o)| {
                TimeIndexEntry {
                    timestamp: Timestamp(t),
                    relative_offset: o,
                }
                .encode()
            })
            .collect();
        assert_eq!(valid_prefix(&encoded, 9), 2);
        assert_eq!(last(&encoded).unwrap().timestamp, Timestamp(30));
    }
}
