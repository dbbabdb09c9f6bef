//! The glue between the `source` and `sink` worlds' free-function exports
//! and a [`Source`] or [`Sink`] value, like [`crate::export`] for
//! transforms: the value `open` builds lives in a type-erased `static`.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard};

use crate::{Batch, Error, Record, Rejected, Sink, Source};

/// The connector `open` built; one per component instance.
static CONNECTOR: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);

/// A panic traps the whole instance, so a poisoned lock is never seen
/// again by a live instance; take the value regardless.
fn lock() -> MutexGuard<'static, Option<Box<dyn Any + Send>>> {
    CONNECTOR
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn with<T: 'static, R>(call: &str, f: impl FnOnce(&mut T) -> Result<R, Error>) -> Result<R, Error> {
    let mut connector = lock();
    let Some(connector) = connector.as_mut() else {
        return Err(Error::internal(format!(
            "{call} was called before open succeeded; the host must call open first"
        )));
    };
    f(connector
        .downcast_mut::<T>()
        .expect("the stored connector is the exported type"))
}

/// Implements the `source` world's `Guest` for any [`Source`].
pub struct SourceExports<T>(PhantomData<T>);

impl<T: Source> crate::source_bindings::Guest for SourceExports<T> {
    fn open(config: String, checkpoint: Option<Vec<u8>>) -> Result<(), Error> {
        let source = T::open(&config, checkpoint)?;
        *lock() = Some(Box::new(source));
        Ok(())
    }

    fn poll(max_records: u32) -> Result<Batch, Error> {
        with::<T, _>("poll", |source| source.poll(max_records))
    }

    fn commit(checkpoint: Vec<u8>) -> Result<(), Error> {
        with::<T, _>("commit", |source| source.commit(checkpoint))
    }
}

/// Implements the `sink` world's `Guest` for any [`Sink`].
pub struct SinkExports<T>(PhantomData<T>);

impl<T: Sink> crate::sink_bindings::Guest for SinkExports<T> {
    fn open(config: String) -> Result<(), Error> {
        let sink = T::open(&config)?;
        *lock() = Some(Box::new(sink));
        Ok(())
    }

    fn write(batch: Vec<Record>) -> Result<Vec<Rejected>, Error> {
        with::<T, _>("write", |sink| sink.write(batch))
    }

    fn flush() -> Result<(), Error> {
        with::<T, _>("flush", |sink| sink.flush())
    }
}
