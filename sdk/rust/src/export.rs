//! The glue between the component's free-function exports and a
//! [`Transform`] value.
//!
//! Component exports are free functions, so the value `init` builds lives in
//! a `static` until the next `init`. The static is type-erased because a
//! static cannot depend on a generic parameter; there is exactly one
//! exported transform per component, so the downcast cannot fail unless the
//! glue itself is wrong.

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Mutex;

use crate::bindings::Guest;
use crate::{Error, Output, Record, Transform};

/// The transform `init` built. A component instance runs one call at a
/// time, so the lock is never contended; it exists to make the static sound.
static INSTANCE: Mutex<Option<Box<dyn Any + Send>>> = Mutex::new(None);

/// Implements the generated `Guest` trait for any [`Transform`]; named by
/// `export_transform!`.
pub struct Exports<T>(PhantomData<T>);

impl<T: Transform> Guest for Exports<T> {
    fn init(config: String) -> Result<(), Error> {
        let transform = T::init(&config)?;
        *lock() = Some(Box::new(transform));
        Ok(())
    }

    fn process(batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        let mut instance = lock();
        let Some(instance) = instance.as_mut() else {
            return Err(Error::internal(
                "process was called before init succeeded; the host must call init first",
            ));
        };
        let transform = instance
            .downcast_mut::<T>()
            .expect("the stored instance is the exported transform type");
        transform.process(batch)
    }
}

/// A panic inside `process` traps the whole instance, so a poisoned lock is
/// never seen again by a live instance; take the value regardless.
fn lock() -> std::sync::MutexGuard<'static, Option<Box<dyn Any + Send>>> {
    INSTANCE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
