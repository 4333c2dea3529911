//! A heap shared between cores: a `spin` lock around [`Heap`].
//!
//! Unikernels run without an OS scheduler, so a blocking mutex is not available; a spin lock is
//! the usual tool. [`SharedHeap`] is `Sync` when the host data type is `Send`, so it can live in
//! a `static` (built at start-up, e.g. with `spin::Once`) and be used from several cores. Each
//! operation locks the whole heap: collections and releases are short, bounded by the work they
//! find, and never call back into the embedder except to drop host data.

use crate::heap::Heap;
use spin::{Mutex, MutexGuard};

/// A spin-locked heap.
pub struct SharedHeap<H> {
    heap: Mutex<Heap<H>>,
}

/// Shows the heap's sizes and counters (see `Heap`'s `Debug`) if it is not locked.
impl<H> core::fmt::Debug for SharedHeap<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedHeap").field("heap", &self.heap).finish()
    }
}

impl<H> SharedHeap<H> {
    /// Wraps a heap.
    pub const fn new(heap: Heap<H>) -> SharedHeap<H> {
        SharedHeap { heap: Mutex::new(heap) }
    }

    /// Locks the heap, spinning until it is free.
    pub fn lock(&self) -> MutexGuard<'_, Heap<H>> {
        self.heap.lock()
    }

    /// Locks the heap if it is free right now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, Heap<H>>> {
        self.heap.try_lock()
    }

    /// Runs `f` with the heap locked.
    pub fn with<R>(&self, f: impl FnOnce(&mut Heap<H>) -> R) -> R {
        f(&mut self.heap.lock())
    }

    /// Unwraps the heap.
    pub fn into_inner(self) -> Heap<H> {
        self.heap.into_inner()
    }
}
