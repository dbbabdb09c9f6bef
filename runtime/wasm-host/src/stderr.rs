//! A guest's stderr, kept as its last few KiB in memory.
//!
//! A Rust guest's panic message goes to stderr just before it traps; the
//! host shows that tail in the [`crate::StageError::Trap`] it reports.
//! Writes always succeed and only the newest bytes are kept, so a chatty
//! guest costs a bounded amount of memory and never sees a closed stream
//! (Rust's `eprintln!` panics when stderr fails, which would trap).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The last `capacity_bytes` a guest wrote to stderr.
#[derive(Clone)]
pub(crate) struct StderrTail {
    capacity_bytes: usize,
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl StderrTail {
    pub(crate) fn new(capacity_bytes: usize) -> Self {
        Self {
            capacity_bytes,
            buffer: Arc::new(Mutex::new(Vec::with_capacity(capacity_bytes))),
        }
    }

    /// What is kept, lossily decoded.
    pub(crate) fn contents(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn append(&self, bytes: &[u8]) {
        let mut buffer = self.lock();
        buffer.extend_from_slice(bytes);
        let excess = buffer.len().saturating_sub(self.capacity_bytes);
        buffer.drain(..excess);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A poisoned lock only means a writer panicked mid-append; the
        // bytes are diagnostics, so keep using them.
        self.buffer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest_bytes() {
        let tail = StderrTail::new(8);
        tail.append(b"hello ");
        tail.append(b"world!");
        assert_eq!(tail.contents(), "o world!");
        tail.append(b"0123456789");
        assert_eq!(tail.contents(), "23456789");
    }
}
