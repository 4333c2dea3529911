//! The embedder's allocation duties in one call: collect when the heap recommends it, and
//! collect, collect cycles and retry once when an allocation runs out of memory.

use super::HeapIn;
use crate::error::Result;
use crate::root::RootSource;
use alloc::vec::Vec;

impl<'a, H> HeapIn<'a, H> {
    /// Runs `allocate` with the embedder's allocation duties done on its behalf, asking `roots`
    /// for the roots only when a collection runs (which is rare).
    ///
    /// In order:
    /// 1. When [`Heap::collection_recommended`](crate::Heap::collection_recommended) says so, a full collection
    ///    ([`Heap::collect_all`](crate::Heap::collect_all)) with the roots.
    /// 2. `allocate` runs. Its success, and any error but the retryable
    ///    [`Error::OutOfMemory`](crate::Error::OutOfMemory) (so
    ///    [`Error::AllocationTooLarge`](crate::Error::AllocationTooLarge) too, which no
    ///    collection can help), is returned at once, with no collection.
    /// 3. On [`Error::OutOfMemory`](crate::Error::OutOfMemory): a full collection with the
    ///    roots (computed again: step 1 may not have run), then [`Heap::collect_cycles`](crate::Heap::collect_cycles), then
    ///    `allocate` once more, whose result is returned as is (a second failure is the
    ///    allocation's own error, [`Error::OutOfMemory`](crate::Error::OutOfMemory) for one
    ///    that still does not fit).
    ///
    /// Inside a no-GC scope no collection runs and `roots` is not called: `allocate` runs once
    /// and its result is returned as is. Errors besides the allocation's: those of `roots`
    /// and of the collections (the first one stops the call, before the retry).
    pub fn allocate_with_roots<T>(
        &mut self,
        roots: &mut impl RootSource,
        mut allocate: impl FnMut(&mut HeapIn<'a, H>) -> Result<T>,
    ) -> Result<T> {
        if self.in_no_gc_scope() {
            return allocate(self);
        }
        if self.collection_recommended() {
            self.collect_with_roots(roots)?;
        }
        match allocate(self) {
            Err(error) if error.is_retryable() => {}
            result => return result,
        }
        self.collect_with_roots(roots)?;
        self.collect_cycles()?;
        allocate(self)
    }

    /// A full collection with the roots `roots` gives.
    fn collect_with_roots(&mut self, roots: &mut impl RootSource) -> Result<()> {
        let mut words = Vec::new();
        roots.roots(&mut words)?;
        self.collect_all(words)
    }
}
