//! The raw limit the log benchmark compares with: sequential write
//! bandwidth of the same disk, with large writes and fdatasync.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

/// Size of each write: large enough that syscall cost vanishes.
const WRITE_BYTES: usize = 8 << 20;

/// Probes run; the best counts. Virtual disks vary from run to run, and
/// the limit is what the disk *can* do, so the fastest probe is the fair
/// yardstick (it makes the reported ratio conservative).
pub const PROBE_RUNS: usize = 3;

/// Best of [`PROBE_RUNS`] probes, and every probe's figure (bytes/s).
pub fn best_sequential_write_bandwidth(
    dir: &Path,
    total_bytes: u64,
) -> anyhow::Result<(f64, Vec<f64>)> {
    let runs = (0..PROBE_RUNS)
        .map(|_| sequential_write_bandwidth(dir, total_bytes))
        .collect::<anyhow::Result<Vec<f64>>>()?;
    let best = runs.iter().copied().fold(0.0, f64::max);
    Ok((best, runs))
}

/// Writes `total_bytes` to a new file in `dir` in 8 MiB writes, then
/// fdatasyncs; returns bytes per second including the fdatasync.
pub fn sequential_write_bandwidth(dir: &Path, total_bytes: u64) -> anyhow::Result<f64> {
    let path = dir.join("raw-disk-probe.bin");
    let mut file = File::create(&path).with_context(|| format!("create {}", path.display()))?;
    // Incompressible-looking data, in case the filesystem compresses.
    let mut block = vec![0u8; WRITE_BYTES];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for chunk in block.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
    }
    let started = Instant::now();
    let mut written = 0u64;
    while written < total_bytes {
        file.write_all(&block)
            .with_context(|| format!("write {}", path.display()))?;
        written += WRITE_BYTES as u64;
    }
    file.sync_data()
        .with_context(|| format!("fdatasync {}", path.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
    Ok(written as f64 / seconds)
}

/// A fresh directory for one benchmark run: inside `dir` when given (the
/// disk to measure), else inside a new temp dir. Both are removed when the
/// returned guards drop.
pub fn run_dir(
    dir: Option<&Path>,
    prefix: &str,
) -> anyhow::Result<(Option<tempfile::TempDir>, tempfile::TempDir)> {
    let temp;
    let parent = match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
            temp = None;
            dir.to_path_buf()
        }
        None => {
            let created = tempfile::Builder::new()
                .prefix(prefix)
                .tempdir()
                .context("create a temp dir")?;
            let path = created.path().to_path_buf();
            temp = Some(created);
            path
        }
    };
    let run = tempfile::Builder::new()
        .prefix("run")
        .tempdir_in(&parent)
        .with_context(|| format!("create a run dir in {}", parent.display()))?;
    Ok((temp, run))
}
