//! The sparse offset index: which byte of a segment a batch starts at.
//!
//! One entry every `index.interval.bytes` of log, each a fixed 8 bytes:
//! the batch's base offset relative to the segment (`u32`, big-endian) and
//! its byte position in the segment's log file (`u32`). Entries strictly
//! increase in both fields, so a lookup is a binary search.
//!
//! The index is a cache of the log: it is written after the log, never
//! fsync'd on the append path, and rebuilt from the log whenever it is
//! missing or fails [`valid_prefix`]. Worked example, with entries
//! `(0,0) (40,4100) (85,8230)` and a read of relative offset 60:
//! [`lookup`] returns `(40,4100)`, and the reader scans batch headers from
//! byte 4100 until it reaches the batch that holds offset 60. A target below
//! the first entry returns `None`: scan from byte 0 of the segment.

/// Bytes per index entry.
pub const ENTRY_LEN: usize = 8;

/// One index entry: a batch's relative base offset and byte position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub relative_offset: u32,
    pub position: u32,
}

impl IndexEntry {
    pub fn encode(self) -> [u8; ENTRY_LEN] {
        let mut out = [0u8; ENTRY_LEN];
        out[..4].copy_from_slice(&self.relative_offset.to_be_bytes());
        out[4..].copy_from_slice(&self.position.to_be_bytes());
        out
    }
}

/// Number of whole entries in `entries`.
pub fn entry_count(entries: &[u8]) -> usize {
    entries.len() / ENTRY_LEN
}

/// The `i`-th entry. Panics when `i` is out of range (a caller bug).
pub fn entry_at(entries: &[u8], i: usize) -> IndexEntry {
    let at = i * ENTRY_LEN;
    IndexEntry {
        relative_offset: u32::from_be_bytes(entries[at..at + 4].try_into().expect("4 bytes")),
        position: u32::from_be_bytes(entries[at + 4..at + 8].try_into().expect("4 bytes")),
    }
}

/// The last entry whose relative offset is at or below `relative_offset`,
/// or `None` when the target precedes every entry (scan from byte 0).
pub fn lookup(entries: &[u8], relative_offset: u32) -> Option<IndexEntry> {
    let count = entry_count(entries);
    // Lower bound: first entry with offset > target; the answer precedes it.
    let (mut low, mut high) = (0, count);
    while low < high {
        let mid = (low + high) / 2;
        if entry_at(entries, mid).relative_offset <= relative_offset {
            low = mid + 1;
        } else {
            high = mid;
        }
    }
    (low > 0).then(|| entry_at(entries, low - 1))
}

/// How many leading entries are trustworthy for a log of `log_len` bytes:
/// both fields strictly increase and every position lies inside the log.
/// A torn or zero-filled tail (after a crash) stops the prefix.
pub fn valid_prefix(entries: &[u8], log_len: u64) -> usize {
    let mut previous: Option<IndexEntry> = None;
    for i in 0..entry_count(entries) {
        let entry = entry_at(entries, i);
        if u64::from(entry.position) >= log_len {
            return i;
        }
        if let Some(previous) = previous {
            if entry.relative_offset <= previous.relative_offset
                || entry.position <= previous.position
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

    fn encode_all(entries: &[IndexEntry]) -> Vec<u8> {
        entries.iter().flat_map(|e| e.encode()).collect()
    }

    #[test]
    fn worked_example_from_the_module_doc() {
        let entries = encode_all(&[
            IndexEntry {
                relative_offset: 0,
                position: 0,
            },
            IndexEntry {
                relative_offset: 40,
                position: 4100,
            },
            IndexEntry {
                relative_offset: 85,
                position: 8230,
            },
        ]);
        assert_eq!(lookup(&entries, 60).unwrap().position, 4100);
        assert_eq!(lookup(&entries, 85).unwrap().position, 8230);
        assert_eq!(lookup(&entries, 1000).unwrap().position, 8230);
        assert_eq!(lookup(&entries, 39).unwrap().position, 0);
    }

    #[test]
    fn target_below_first_entry_means_segment_start() {
        let entries = encode_all(&[IndexEntry {
            relative_offset: 10,
            position: 512,
        }]);
        assert_eq!(lookup(&entries, 9), None);
        assert_eq!(lookup(&[], 9), None);
    }

    #[test]
    fn valid_prefix_stops_at_zero_fill_and_out_of_log_positions() {
        let mut entries = encode_all(&[
            IndexEntry {
                relative_offset: 5,
                position: 100,
            },
            IndexEntry {
                relative_offset: 9,
                position: 200,
            },
        ]);
        entries.extend_from_slice(&[0u8; 16]);
        assert_eq!(valid_prefix(&entries, 1000), 2);
        assert_eq!(valid_prefix(&entries, 150), 1);
        entries.truncate(12); // a torn entry
        assert_eq!(valid_prefix(&entries, 1000), 1);
    }

    proptest! {
        #[test]
        fn lookup_matches_a_linear_scan(
            mut offsets in proptest::collection::btree_set(0u32..100_000, 0..200),
            target in 0u32..110_000,
        ) {
            let offsets: Vec<u32> = std::mem::take(&mut offsets).into_iter().collect();
            let entries: Vec<IndexEntry> = offsets
                .iter()
                .enumerate()
                .map(|(i, &o)| IndexEntry { relative_offset: o, position: i as u32 * 10 })
                .collect();
            let encoded = encode_all(&entries);
            let oracle = entries.iter().rev().find(|e| e.relative_offset <= target).copied();
            prop_assert_eq!(lookup(&encoded, target), oracle);
            prop_assert_eq!(valid_prefix(&encoded, u64::MAX), entries.len());
        }
    }
}
