//! Crash safety: a child process appends with `fsync = "batch"` from
//! several threads and prints each acknowledged append; the parent kills it
//! with SIGKILL at a random moment, reopens the log and checks that every
//! acknowledged record is there, intact, at the offset it was given.
//!
//! The child is this same test binary, re-run with `SLUICE_CRASH_CHILD` set
//! to the log directory. 20 rounds run by default;
//! `SLUICE_CRASH_SOAK_ROUNDS=500` runs a longer soak.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use rand::Rng;
use sluice_batch::Compression;
use sluice_storage::{FsyncPolicy, LogConfig, Partition};
use sluice_types::Offset;

const CHILD_ENV: &str = "SLUICE_CRASH_CHILD";
const RECORDS_PER_BATCH: u64 = 5;

fn config() -> LogConfig {
    LogConfig {
        fsync: FsyncPolicy::Batch,
        ..small_segments(64 * 1024)
    }
}

/// The child: 4 threads append forever; each ack is printed as
/// `ack <base offset> <writer> <sequence>`.
fn run_child(dir: &Path) -> ! {
    let log = Arc::new(Partition::open(dir, "crash-0", config()).unwrap());
    let stdout = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4u64)
        .map(|writer| {
            let (log, stdout) = (log.clone(), stdout.clone());
            std::thread::spawn(move || {
                for sequence in 0.. {
                    // Record numbers encode (writer, sequence) so content is checkable.
                    let first = (writer << 40) | (sequence * RECORDS_PER_BATCH);
                    let info = log
                        .append(batch(
                            first,
                            RECORDS_PER_BATCH,
                            64,
                            sequence as i64,
                            Compression::None,
                        ))
                        .unwrap();
                    let mut out = stdout.lock().unwrap();
                    writeln!(out, "ack {} {writer} {sequence}", info.base_offset).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    unreachable!("appenders never stop");
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run_child(Path::new(&dir));
    }
    let rounds: usize = std::env::var("SLUICE_CRASH_SOAK_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut acked: Vec<(i64, u64, u64)> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "acknowledged_appends_survive_sigkill",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let kill_after = Duration::from_millis(rng.random_range(20..400));
        // Read acks on a thread so the kill lands at a random moment, not
        // between two reads.
        let reader = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                lines.push(line);
            }
            lines
        });
        let started = Instant::now();
        std::thread::sleep(kill_after);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();
        for line in lines.iter().filter(|l| l.starts_with("ack ")) {
            let fields: Vec<&str> = line.split(' ').collect();
            acked.push((
                fields[1].parse().unwrap(),
                fields[2].parse().unwrap(),
                fields[3].parse().unwrap(),
            ));
        }
        // Reopen and check every acknowledged append so far.
        let log = Partition::open(dir.path(), "crash-0", config()).unwrap();
        let records = read_all(&log, Offset::ZERO);
        for &(base, writer, sequence) in &acked {
            for i in 0..RECORDS_PER_BATCH {
                let offset = base + i as i64;
                let record = records.get(offset as usize).unwrap_or_else(|| {
                    panic!(
                        "round {round}: acked offset {offset} missing (log ends at {})",
                        records.len()
                    )
                });
                let n = (writer << 40) | (sequence * RECORDS_PER_BATCH + i);
                assert_eq!(record.offset, Offset(offset));
                assert_eq!(
                    record.key.as_deref(),
                    Some(format!("key-{n}").as_bytes()),
                    "round {round} offset {offset}"
                );
            }
        }
        assert!(records
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset == Offset(i as i64)));
        eprintln!(
            "round {round}: killed after {:?}, {} acked appends so far, log holds {} records",
            started.elapsed(),
            acked.len(),
            records.len()
        );
    }
    assert!(!acked.is_empty(), "the child never acknowledged anything");
}
