//! Locking shared state.

use std::sync::{Mutex, MutexGuard};

/// Locks a mutex; a poisoned one (a panic while it was held) is used as it is.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
